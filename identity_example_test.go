package mls_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
)

func ExampleNewBasicIdentity() {
	alice, err := mls.NewBasicIdentity(ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, "alice")
	if err != nil {
		panic(err)
	}
	fmt.Println(alice)
	// Output:
	// mls.Identity(basic "alice", MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, signing key redacted)
}

// A client publishes a KeyPackage; whoever adds it to a group checks it
// first, with the group's cipher suite and its Authentication Service.
func ExampleNewKeyPackage() {
	const suite = ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	alice, _ := mls.NewBasicIdentity(suite, "alice")
	bundle, err := mls.NewKeyPackage(alice, nil) // keep bundle: it holds the private keys
	if err != nil {
		panic(err)
	}
	published, _ := bundle.KeyPackage.MarshalBinary()

	// On the adder's side.
	var kp mls.KeyPackage
	if err := kp.UnmarshalBinary(published); err != nil {
		panic(err)
	}
	policy := &mls.ValidationPolicy{CredentialValidator: mls.BasicAllowList("alice", "bob")}
	fmt.Println("valid:", kp.Validate(suite, policy) == nil)
	fmt.Printf("%s, %s\n", kp.LeafNode.Credential.Identity, kp.CipherSuite)
	ref, _ := kp.Ref()
	fmt.Println("same ref:", bytes.Equal(ref, bundle.Ref()))
	// Output:
	// valid: true
	// alice, MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	// same ref: true
}

func ExampleKeyPackage_Validate() {
	const suite = ciphersuite.MLS_128_DHKEMP256_AES128GCM_SHA256_P256
	mallory, _ := mls.NewBasicIdentity(suite, "mallory")
	bundle, _ := mls.NewKeyPackage(mallory, nil)

	policy := &mls.ValidationPolicy{CredentialValidator: mls.BasicAllowList("alice", "bob")}
	err := bundle.KeyPackage.Validate(suite, policy)
	var ve *mls.ValidationError
	if errors.As(err, &ve) {
		fmt.Println("rule:", ve.Rule)
	}
	fmt.Println(err)

	// A year from now the KeyPackage has expired.
	policy.Lifetimes.Now = func() time.Time { return time.Now().AddDate(1, 0, 0) }
	errors.As(bundle.KeyPackage.Validate(suite, policy), &ve)
	fmt.Println("rule:", ve.Rule)
	// Output:
	// rule: credential
	// mls: credential: mls: credential rejected: basic "mallory" not allowed (RFC 9420 section 5.3.1)
	// rule: lifetime
}

// A client keeps its KeyPackageBundles until a Welcome names one; a
// last-resort KeyPackage may be used more than once.
func ExampleKeyPackageBundle_MarshalBinary() {
	bob, _ := mls.NewBasicIdentity(ciphersuite.MLS_256_DHKEMP384_AES256GCM_SHA384_P384, "bob")
	bundle, _ := mls.NewKeyPackage(bob, &mls.KeyPackageOptions{LastResort: true})
	stored, _ := bundle.MarshalBinary() // secret: holds the private keys

	var loaded mls.KeyPackageBundle
	if err := loaded.UnmarshalBinary(stored); err != nil {
		panic(err)
	}
	fmt.Println("same ref:", bytes.Equal(loaded.Ref(), bundle.Ref()))
	fmt.Println("last resort:", loaded.KeyPackage.IsLastResort())
	// Output:
	// same ref: true
	// last resort: true
}

// X.509 credentials are checked against the application's roots. The CA
// here is made on the spot; a real one issues the certificate for the key
// the client generated.
func ExampleX509Validator() {
	const suite = ciphersuite.MLS_128_DHKEMP256_AES128GCM_SHA256_P256
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Example CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, _ := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	ca, _ = x509.ParseCertificate(caDER)

	clientKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "carol"},
		EmailAddresses: []string{"carol@example.com"},
		NotBefore:      time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	leafDER, _ := x509.CreateCertificate(rand.Reader, leaf, ca, &clientKey.PublicKey, caKey)

	carol, err := mls.NewX509Identity(suite, [][]byte{leafDER}, clientKey)
	if err != nil {
		panic(err)
	}
	bundle, _ := mls.NewKeyPackage(carol, nil)

	roots := x509.NewCertPool()
	roots.AddCert(ca)
	v := &mls.X509Validator{Roots: roots}
	fmt.Println("valid:", bundle.KeyPackage.Validate(suite, &mls.ValidationPolicy{CredentialValidator: v}) == nil)
	chain, _ := v.Verify(bundle.KeyPackage.LeafNode.Credential, bundle.KeyPackage.LeafNode.SignatureKey)
	fmt.Println(chain[0].Subject.CommonName, chain[0].EmailAddresses)
	// Output:
	// valid: true
	// carol [carol@example.com]
}

// A signing key kept in an HSM, a cloud KMS or a platform keystore is used
// through crypto.Signer: the private key never enters the process. Here an
// ECDSA key in memory stands in for the device.
func ExampleNewSignerIdentity() {
	const suite = ciphersuite.MLS_128_DHKEMP256_AES128GCM_SHA256_P256
	deviceKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var device crypto.Signer = deviceKey // in practice: the HSM or KMS library's signer

	alice, err := mls.NewSignerIdentity(suite, mls.NewBasicCredential([]byte("alice")), device)
	if err != nil {
		panic(err)
	}
	group, err := mls.CreateGroup(alice, nil, nil) // signs alice's leaf through device
	if err != nil {
		panic(err)
	}
	fmt.Println("members:", len(group.Members()))
	fmt.Println("private key exportable:", alice.SigningKey.Bytes() != nil)

	// The saved state names the key; loading asks for its signer again.
	state, _ := group.MarshalBinary()
	_, err = mls.LoadGroup(state, nil)
	fmt.Println(errors.Is(err, mls.ErrExternalSigningKey))
	restored, err := mls.LoadGroup(state, &mls.Config{
		Signers: func(suite ciphersuite.ID, publicKey []byte) (crypto.Signer, error) {
			return device, nil // look the key up by its public key
		},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("restored epoch:", restored.Epoch())
	// Output:
	// members: 1
	// private key exportable: false
	// true
	// restored epoch: 0
}

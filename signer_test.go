package mls

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"sync/atomic"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
)

// opaqueSigner is a key whose private half cannot be exported, like one
// in an HSM: it offers only Public and Sign, and counts the signatures.
type opaqueSigner struct {
	inner crypto.Signer // not reachable from outside the type
	signs atomic.Int64
}

func (o *opaqueSigner) Public() crypto.PublicKey { return o.inner.Public() }

func (o *opaqueSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	o.signs.Add(1)
	return o.inner.Sign(r, digest, opts)
}

// newOpaqueSigner makes a fresh key of the signature scheme of suite.
func newOpaqueSigner(t *testing.T, suite ciphersuite.ID) *opaqueSigner {
	t.Helper()
	var k crypto.Signer
	var err error
	switch suite {
	case ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519:
		_, k, err = ed25519.GenerateKey(rand.Reader)
	case ciphersuite.MLS_128_DHKEMP256_AES128GCM_SHA256_P256:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ciphersuite.MLS_256_DHKEMP384_AES256GCM_SHA384_P384:
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case ciphersuite.MLS_256_DHKEMP521_AES256GCM_SHA512_P521:
		k, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	default:
		t.Fatalf("no signer for suite %v", suite)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &opaqueSigner{inner: k}
}

// signerSuites are the suites of every signature scheme crypto.Signer
// covers in the standard library.
var signerSuites = []ciphersuite.ID{
	ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519,
	ciphersuite.MLS_128_DHKEMP256_AES128GCM_SHA256_P256,
	ciphersuite.MLS_256_DHKEMP384_AES256GCM_SHA384_P384,
	ciphersuite.MLS_256_DHKEMP521_AES256GCM_SHA512_P521,
}

// TestSignerIdentityGroup runs a group whose members all sign through
// crypto.Signers that cannot export their keys: creation, KeyPackages,
// adds and joins, messages, commits with a path from each side, removal,
// then saving and loading a member's state through Config.Signers.
func TestSignerIdentityGroup(t *testing.T) {
	for _, suite := range signerSuites {
		t.Run(suite.String(), func(t *testing.T) {
			signers := make(map[string]*opaqueSigner)
			identity := func(name string) *Identity {
				sg := newOpaqueSigner(t, suite)
				signers[name] = sg
				id, err := NewSignerIdentity(suite, NewBasicCredential([]byte(name)), sg)
				if err != nil {
					t.Fatal(err)
				}
				if id.SigningKey.Bytes() != nil {
					t.Fatal("a crypto.Signer key exports private bytes")
				}
				return id
			}
			alice, err := CreateGroup(identity("alice"), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			tg := &testGroup{t: t, suite: suite, members: map[string]*Group{"alice": alice}, order: []string{"alice"}}
			joiners := make(map[string]*joiner)
			var kps []*KeyPackage
			for _, name := range []string{"bob", "carol"} {
				id := identity(name)
				kp, err := NewKeyPackage(id, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := kp.KeyPackage.Validate(suite, nil); err != nil {
					t.Fatalf("%s's KeyPackage: %v", name, err)
				}
				joiners[name] = &joiner{id, kp}
				kps = append(kps, kp.KeyPackage)
			}
			tg.commit("alice", CommitOptions{Add: kps}, joiners)
			tg.chat()
			tg.commit("bob", CommitOptions{}, nil) // a path, a new leaf signed by bob's signer
			tg.chat()
			tg.commit("carol", CommitOptions{Remove: []LeafIndex{tg.leafOf("alice")}}, nil)
			tg.chat()
			for name, sg := range signers {
				if sg.signs.Load() == 0 {
					t.Fatalf("%s's signer was never called", name)
				}
			}

			// The state keeps a reference to bob's key, not the key.
			state, err := tg.members["bob"].MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := LoadGroup(state, nil); !errors.Is(err, ErrExternalSigningKey) {
				t.Fatalf("LoadGroup without Config.Signers: %v, want ErrExternalSigningKey", err)
			}
			wrongKey := func(ciphersuite.ID, []byte) (crypto.Signer, error) { return newOpaqueSigner(t, suite), nil }
			if _, err := LoadGroup(state, &Config{Signers: wrongKey}); err == nil {
				t.Fatal("LoadGroup accepted a signer of another key")
			}
			bobPub := tg.members["bob"].id.SigningKey.PublicKey()
			cfg := &Config{Signers: func(s ciphersuite.ID, pub []byte) (crypto.Signer, error) {
				if s != suite || !bytes.Equal(pub, bobPub) {
					t.Errorf("Signers asked for suite %v, key %x", s, pub)
				}
				return signers["bob"], nil
			}}
			loaded, err := LoadGroup(state, cfg)
			if err != nil {
				t.Fatal(err)
			}
			tg.members["bob"] = loaded
			tg.commit("bob", CommitOptions{}, nil)
			tg.chat()
		})
	}
}

// TestSignerIdentityStorage checks the storage forms of an identity whose
// key is a crypto.Signer: a reference that UnmarshalBinary refuses clearly.
func TestSignerIdentityStorage(t *testing.T) {
	const suite = ciphersuite.MLS_128_DHKEMP256_AES128GCM_SHA256_P256
	sg := newOpaqueSigner(t, suite)
	id, err := NewSignerIdentity(suite, NewBasicCredential([]byte("hsm")), sg)
	if err != nil {
		t.Fatal(err)
	}
	data, err := id.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, id.SigningKey.PublicKey()) {
		t.Fatal("the stored form does not name the public key")
	}
	var back Identity
	if err := back.UnmarshalBinary(data); !errors.Is(err, ErrExternalSigningKey) {
		t.Fatalf("UnmarshalBinary: %v, want ErrExternalSigningKey", err)
	}
	if err := back.unmarshal(data, func(ciphersuite.ID, []byte) (crypto.Signer, error) { return sg, nil }); err != nil {
		t.Fatal(err)
	}
	if back.SigningKey.Signer() != sg || !bytes.Equal(back.SigningKey.PublicKey(), id.SigningKey.PublicKey()) {
		t.Fatal("the identity read back has another key")
	}
}

// TestSignerIdentityRefused checks the signers SigningKeyFromSigner
// refuses: another scheme's key, another curve, a scheme with no
// crypto.Signer convention.
func TestSignerIdentityRefused(t *testing.T) {
	cred := NewBasicCredential([]byte("x"))
	for _, tc := range []struct {
		suite  ciphersuite.ID
		signer ciphersuite.ID
	}{
		{ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, ciphersuite.MLS_128_DHKEMP256_AES128GCM_SHA256_P256},
		{ciphersuite.MLS_128_DHKEMP256_AES128GCM_SHA256_P256, ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519},
		{ciphersuite.MLS_128_DHKEMP256_AES128GCM_SHA256_P256, ciphersuite.MLS_256_DHKEMP384_AES256GCM_SHA384_P384},
		{ciphersuite.MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448, ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519},
	} {
		if _, err := NewSignerIdentity(tc.suite, cred, newOpaqueSigner(t, tc.signer)); err == nil {
			t.Errorf("suite %v accepted a signer of suite %v's scheme", tc.suite, tc.signer)
		}
	}
	if _, err := NewSignerIdentity(ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, cred, nil); err == nil {
		t.Error("a nil signer was accepted")
	}
}

// TestSignerX509Identity checks an X.509 identity whose certified key is
// a crypto.Signer: its KeyPackage passes the X509Validator, and a key the
// certificate does not certify is refused.
func TestSignerX509Identity(t *testing.T) {
	root := newTestCA(t, "root", nil)
	inter := newTestCA(t, "intermediate", root)
	v := &X509Validator{Roots: root.pool}
	for _, suite := range signerSuites {
		t.Run(suite.String(), func(t *testing.T) {
			sg := newOpaqueSigner(t, suite)
			certs := [][]byte{inter.issue(t, "hsm", sg.Public(), "hsm.example"), inter.cert.Raw}
			id, err := NewX509Identity(suite, certs, sg)
			if err != nil {
				t.Fatal(err)
			}
			kp := newTestBundle(t, id, nil).KeyPackage
			if err := kp.Validate(suite, &ValidationPolicy{CredentialValidator: v}); err != nil {
				t.Fatal(err)
			}
			if sg.signs.Load() == 0 {
				t.Fatal("the KeyPackage was not signed by the signer")
			}
			if _, err := NewX509Identity(suite, certs, newOpaqueSigner(t, suite)); err == nil {
				t.Fatal("a signer of another key was accepted for the certificate")
			}
		})
	}
}

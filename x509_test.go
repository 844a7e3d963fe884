package mls

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/arbormls/mls/ciphersuite"
)

// testCA is a certificate authority made on the fly.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool // holding cert, for use as Roots
}

var testSerial int64

func certTemplate(cn string) *x509.Certificate {
	testSerial++
	return &x509.Certificate{
		SerialNumber: big.NewInt(testSerial),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Arbor test"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
}

// newTestCA returns a root CA (parent nil) or an intermediate under parent.
func newTestCA(t *testing.T, name string, parent *testCA) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := certTemplate(name)
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign
	issuer, issuerKey := tmpl, key
	if parent != nil {
		issuer, issuerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, issuerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue returns an end-entity certificate for pub, a client of cn.
func (ca *testCA) issue(t *testing.T, cn string, pub crypto.PublicKey, dns ...string) []byte {
	t.Helper()
	tmpl := certTemplate(cn)
	tmpl.DNSNames = dns
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// issueEd448 returns an end-entity certificate for a raw Ed448 key, which
// crypto/x509 cannot create: it issues one for a throwaway key, swaps the
// SubjectPublicKeyInfo and signs the TBSCertificate again.
func (ca *testCA) issueEd448(t *testing.T, cn string, pub []byte) []byte {
	t.Helper()
	throwaway, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der := ca.issue(t, cn, &throwaway.PublicKey)
	var cert struct {
		TBS       asn1.RawValue
		Algorithm pkix.AlgorithmIdentifier
		Signature asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &cert); err != nil {
		t.Fatal(err)
	}
	// TBSCertificate: [0] version, serial, signature, issuer, validity,
	// subject, subjectPublicKeyInfo, [3] extensions.
	var fields []asn1.RawValue
	for rest := cert.TBS.Bytes; len(rest) > 0; {
		var f asn1.RawValue
		if rest, err = asn1.Unmarshal(rest, &f); err != nil {
			t.Fatal(err)
		}
		fields = append(fields, f)
	}
	fields[6] = asn1.RawValue{FullBytes: mustMarshalSPKI(t, oidEd448, pub)}
	var body []byte
	for _, f := range fields {
		body = append(body, f.FullBytes...)
	}
	tbs, err := asn1.Marshal(asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true, Bytes: body})
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(tbs)
	sig, err := ecdsa.SignASN1(rand.Reader, ca.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	cert.TBS = asn1.RawValue{FullBytes: tbs}
	cert.Signature = asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}
	out, err := asn1.Marshal(cert)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// testKey returns a fresh private key of suite's signature scheme in the
// form an application would hold it, and its crypto.PublicKey for the
// certificate (nil for Ed448, whose raw key is the SigningKey's).
func testKey(t *testing.T, suite ciphersuite.ID) (priv crypto.PrivateKey, pub crypto.PublicKey) {
	t.Helper()
	var curve elliptic.Curve
	switch suite {
	case 1, 3:
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return priv, pub
	case 2:
		curve = elliptic.P256()
	case 5:
		curve = elliptic.P521()
	case 7:
		curve = elliptic.P384()
	default:
		s, _ := ciphersuite.Lookup(suite)
		k, err := s.GenerateSigningKey()
		if err != nil {
			t.Fatal(err)
		}
		return k, nil
	}
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k, &k.PublicKey
}

// x509Member makes an X.509 identity under inter, whose chain is sent
// without the root.
func x509Member(t *testing.T, suite ciphersuite.ID, inter *testCA, cn string) *Identity {
	t.Helper()
	priv, pub := testKey(t, suite)
	var leaf []byte
	if pub == nil {
		leaf = inter.issueEd448(t, cn, priv.(*ciphersuite.SigningKey).PublicKey())
	} else {
		leaf = inter.issue(t, cn, pub, cn+".example")
	}
	id, err := NewX509Identity(suite, [][]byte{leaf, inter.cert.Raw}, priv)
	if err != nil {
		t.Fatalf("%v: %v", suite, err)
	}
	return id
}

func TestX509ValidatorAccepts(t *testing.T) {
	root := newTestCA(t, "root", nil)
	inter := newTestCA(t, "intermediate", root)
	v := &X509Validator{Roots: root.pool}
	// The RFC 9420 suites: crypto/x509 has no ML-DSA certificates.
	for suite := ciphersuite.ID(1); suite <= 7; suite++ {
		t.Run(suite.String(), func(t *testing.T) {
			id := x509Member(t, suite, inter, "ivan")
			kp := newTestBundle(t, id, nil).KeyPackage
			if err := kp.Validate(suite, &ValidationPolicy{CredentialValidator: v}); err != nil {
				t.Fatal(err)
			}
			chain, err := v.Verify(kp.LeafNode.Credential, kp.LeafNode.SignatureKey)
			if err != nil {
				t.Fatal(err)
			}
			if len(chain) != 3 || chain[0].Subject.CommonName != "ivan" || !chain[2].Equal(root.cert) {
				t.Fatalf("chain %v", chain)
			}
			if id.Credential.CredentialType != CredentialTypeX509 || id.Suite() != suite {
				t.Fatal(id)
			}
		})
	}
}

func TestX509ValidatorRejects(t *testing.T) {
	root := newTestCA(t, "root", nil)
	inter := newTestCA(t, "intermediate", root)
	const suite = ciphersuite.MLS_128_DHKEMP256_AES128GCM_SHA256_P256
	id := x509Member(t, suite, inter, "judy")
	cred, key := id.Credential, id.SigningKey.PublicKey()
	v := &X509Validator{Roots: root.pool}
	if _, err := v.Verify(cred, key); err != nil {
		t.Fatal(err)
	}

	other := newTestCA(t, "other root", nil)
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherPub, _ := otherKey.PublicKey.Bytes()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	leafOnly := Credential{CredentialType: CredentialTypeX509, Certificates: cred.Certificates[:1]}
	rsaCred := Credential{CredentialType: CredentialTypeX509, Certificates: [][]byte{inter.issue(t, "judy", &rsaKey.PublicKey), inter.cert.Raw}}
	later := func() time.Time { return time.Now().Add(48 * time.Hour) }
	earlier := func() time.Time { return time.Now().Add(-48 * time.Hour) }
	for name, c := range map[string]struct {
		v    *X509Validator
		cred Credential
		key  []byte
	}{
		"wrong root":           {&X509Validator{Roots: other.pool}, cred, key},
		"key mismatch":         {v, cred, otherPub},
		"expired":              {&X509Validator{Roots: root.pool, CurrentTime: later}, cred, key},
		"not yet valid":        {&X509Validator{Roots: root.pool, CurrentTime: earlier}, cred, key},
		"missing intermediate": {v, leafOnly, key},
		"key usage":            {&X509Validator{Roots: root.pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, cred, key},
		"basic credential":     {v, NewBasicCredential([]byte("judy")), key},
		"no certificates":      {v, Credential{CredentialType: CredentialTypeX509}, key},
		"garbage certificate":  {v, Credential{CredentialType: CredentialTypeX509, Certificates: [][]byte{{0x30, 0x03, 1, 2, 3}}}, key},
		"RSA key":              {v, rsaCred, key},
	} {
		_, err := c.v.Verify(c.cred, c.key)
		if !errors.Is(err, ErrCredentialRejected) {
			t.Errorf("%s: %v", name, err)
		}
		if err := c.v.ValidateCredential(CredentialContext{Event: CredentialEventJoin, Suite: suite}, c.cred, c.key); err == nil {
			t.Errorf("%s: ValidateCredential accepted", name)
		}
	}
	// A chain may omit intermediates the validator already has.
	withInter := &X509Validator{Roots: root.pool, Intermediates: inter.pool}
	if _, err := withInter.Verify(leafOnly, key); err != nil {
		t.Fatal(err)
	}
	if _, err := (&X509Validator{}).Verify(cred, key); err == nil {
		t.Fatal("validator without roots accepted")
	}

	// Through KeyPackage validation the rule is named.
	kp := newTestBundle(t, id, nil).KeyPackage
	wantRule(t, kp.Validate(suite, &ValidationPolicy{CredentialValidator: &X509Validator{Roots: other.pool}}), ruleCredential)

	// NewX509Identity wants the certified key, of the suite's scheme.
	if _, err := NewX509Identity(suite, cred.Certificates, otherKey); !errors.Is(err, ErrCredentialRejected) {
		t.Fatalf("foreign key: %v", err)
	}
	if _, err := NewX509Identity(ciphersuite.MLS_256_DHKEMP384_AES256GCM_SHA384_P384, cred.Certificates, otherKey); err == nil {
		t.Fatal("P-256 key accepted for a P-384 suite")
	}
	if _, err := NewX509Identity(suite, cred.Certificates, rsaKey); err == nil {
		t.Fatal("RSA key accepted")
	}
	if _, err := NewX509Identity(suite, nil, id.SigningKey); err == nil {
		t.Fatal("empty chain accepted")
	}
}

func TestX509Successor(t *testing.T) {
	root := newTestCA(t, "root", nil)
	const suite = ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	v := &X509Validator{Roots: root.pool}
	member := func(cn string, dns ...string) (Credential, []byte) {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		id, err := NewX509Identity(suite, [][]byte{root.issue(t, cn, pub, dns...)}, priv)
		if err != nil {
			t.Fatal(err)
		}
		return id.Credential, id.SigningKey.PublicKey()
	}
	old, _ := member("kim", "kim.example")
	renewed, renewedKey := member("kim", "kim.example")
	renamed, renamedKey := member("kim", "kim.example", "evil.example")
	basic := NewBasicCredential([]byte("kim"))
	update := func(prev *Credential) CredentialContext {
		return CredentialContext{Event: CredentialEventUpdate, Suite: suite, Previous: prev}
	}
	if err := v.ValidateCredential(update(&old), renewed, renewedKey); err != nil {
		t.Fatalf("renewed certificate rejected: %v", err)
	}
	for name, prev := range map[string]*Credential{"other names": &old, "from basic": &basic} {
		cred, key := renamed, renamedKey
		if prev == &basic {
			cred, key = renewed, renewedKey
		}
		if err := v.ValidateCredential(update(prev), cred, key); !errors.Is(err, ErrCredentialRejected) {
			t.Errorf("%s: %v", name, err)
		}
	}

	// CheckIdentity replaces the default rule and sees the verified chain.
	errNo := errors.New("not kim")
	var calls int
	custom := &X509Validator{Roots: root.pool, CheckIdentity: func(ctx CredentialContext, chain []*x509.Certificate) error {
		calls++
		if ctx.Event != CredentialEventUpdate || len(chain) != 2 || chain[0].Subject.CommonName != "kim" {
			return errNo
		}
		return nil
	}}
	if err := custom.ValidateCredential(update(&old), renamed, renamedKey); err != nil {
		t.Fatal(err)
	}
	if err := custom.ValidateCredential(CredentialContext{Event: CredentialEventJoin}, renamed, renamedKey); !errors.Is(err, errNo) || calls != 2 {
		t.Fatalf("CheckIdentity result not returned: %v", err)
	}
}

func TestEd448CertificateKey(t *testing.T) {
	root := newTestCA(t, "root", nil)
	s, _ := ciphersuite.Lookup(ciphersuite.MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448)
	k, err := s.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(root.issueEd448(t, "leo", k.PublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	got, err := certPublicKey(cert)
	if err != nil || string(got) != string(k.PublicKey()) {
		t.Fatalf("Ed448 key %x, %v", got, err)
	}
	for name, spki := range map[string][]byte{
		"garbage":       {1, 2, 3},
		"unknown OID":   mustMarshalSPKI(t, asn1.ObjectIdentifier{1, 2, 3}, k.PublicKey()),
		"short Ed448":   mustMarshalSPKI(t, oidEd448, k.PublicKey()[:56]),
		"trailing data": append(mustMarshalSPKI(t, oidEd448, k.PublicKey()), 0),
	} {
		if _, err := ed448PublicKey(spki); !errors.Is(err, ErrCredentialRejected) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func mustMarshalSPKI(t *testing.T, oid asn1.ObjectIdentifier, key []byte) []byte {
	t.Helper()
	der, err := asn1.Marshal(struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}{pkix.AlgorithmIdentifier{Algorithm: oid}, asn1.BitString{Bytes: key, BitLength: 8 * len(key)}})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

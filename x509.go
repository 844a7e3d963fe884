package mls

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/arbormls/mls/ciphersuite"
)

// X509Validator is a CredentialValidator for x509 credentials (RFC 9420
// section 5.3): it verifies the certificate chain up to one of Roots and
// checks that the end-entity certificate certifies the member's signature
// key. Credentials of other types are rejected.
//
// Which identities are acceptable is the application's decision, made in
// CheckIdentity. Without it, any identity a trusted CA certified is
// accepted, and in an update the new end-entity certificate must present
// the same subject and subject alternative names as the previous one.
type X509Validator struct {
	// Roots are the trusted certificate authorities. Required: the
	// system's web PKI roots are not a sensible default for MLS.
	Roots *x509.CertPool
	// Intermediates are extra intermediate certificates, for chains that
	// omit ones peers are known to possess. May be nil.
	Intermediates *x509.CertPool
	// CurrentTime returns the time at which certificates must be valid;
	// nil means time.Now.
	CurrentTime func() time.Time
	// KeyUsages are the acceptable extended key usages of the end-entity
	// certificate. Nil accepts any (crypto/x509 would otherwise demand
	// server authentication, which MLS clients do not have).
	KeyUsages []x509.ExtKeyUsage
	// CheckIdentity, if set, decides whether the verified chain (end-entity
	// first, ending at a root) presents acceptable identifiers for ctx, and,
	// when ctx.Previous is set, whether they may succeed the previous
	// credential's. It replaces the default successor rule.
	CheckIdentity func(ctx CredentialContext, chain []*x509.Certificate) error
}

// ValidateCredential implements CredentialValidator.
func (v *X509Validator) ValidateCredential(ctx CredentialContext, cred Credential, signatureKey []byte) error {
	chain, err := v.Verify(cred, signatureKey)
	if err != nil {
		return err
	}
	if v.CheckIdentity != nil {
		return v.CheckIdentity(ctx, chain)
	}
	if ctx.Previous != nil {
		return sameX509Identity(ctx.Previous, chain[0])
	}
	return nil
}

// Verify checks an x509 credential bound to signatureKey and returns the
// verified chain: the end-entity certificate first, a root of v.Roots last.
// The end-entity certificate's subject and subject alternative names are
// the identifiers the credential presents.
func (v *X509Validator) Verify(cred Credential, signatureKey []byte) ([]*x509.Certificate, error) {
	if cred.CredentialType != CredentialTypeX509 {
		return nil, fmt.Errorf("%w: %v credential, want x509", ErrCredentialRejected, cred.CredentialType)
	}
	if v.Roots == nil {
		return nil, errors.New("mls: X509Validator without Roots")
	}
	certs, err := parseCertificates(cred.Certificates)
	if err != nil {
		return nil, err
	}
	if err := checkCertifiedKey(certs[0], signatureKey); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if v.Intermediates != nil {
		pool = v.Intermediates.Clone()
	}
	for _, c := range certs[1:] {
		pool.AddCert(c)
	}
	opts := x509.VerifyOptions{
		Roots:         v.Roots,
		Intermediates: pool,
		KeyUsages:     v.KeyUsages,
	}
	if len(opts.KeyUsages) == 0 {
		opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
	}
	if v.CurrentTime != nil {
		opts.CurrentTime = v.CurrentTime()
	}
	chains, err := certs[0].Verify(opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCredentialRejected, err)
	}
	return chains[0], nil
}

// parseCertificates parses the DER certificates of an x509 credential.
func parseCertificates(ders [][]byte) ([]*x509.Certificate, error) {
	if len(ders) == 0 {
		return nil, fmt.Errorf("%w: x509 credential without certificates", ErrCredentialRejected)
	}
	certs := make([]*x509.Certificate, len(ders))
	for i, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate %d: %w", ErrCredentialRejected, i, err)
		}
		certs[i] = c
	}
	return certs, nil
}

// checkCertifiedKey checks that cert's public key is signatureKey in its
// MLS encoding (RFC 9420 section 5.3).
func checkCertifiedKey(cert *x509.Certificate, signatureKey []byte) error {
	key, err := certPublicKey(cert)
	if err != nil {
		return err
	}
	if !bytes.Equal(key, signatureKey) {
		return fmt.Errorf("%w: the end-entity certificate does not certify the signature key", ErrCredentialRejected)
	}
	return nil
}

// oidEd448 is id-Ed448 (RFC 8410).
var oidEd448 = asn1.ObjectIdentifier{1, 3, 101, 113}

// certPublicKey returns the public key of cert in the MLS encoding of
// RFC 9420 section 5.1.1: raw Ed25519 or Ed448 keys, uncompressed ECDSA
// points.
func certPublicKey(cert *x509.Certificate) ([]byte, error) {
	switch k := cert.PublicKey.(type) {
	case ed25519.PublicKey:
		return k, nil
	case *ecdsa.PublicKey:
		return k.Bytes()
	case nil:
		// crypto/x509 does not know Ed448 and leaves the key unparsed.
		return ed448PublicKey(cert.RawSubjectPublicKeyInfo)
	default:
		return nil, fmt.Errorf("%w: %v certificate key, not usable with any MLS cipher suite", ErrCredentialRejected, cert.PublicKeyAlgorithm)
	}
}

// ed448PublicKey extracts the raw key from an Ed448 SubjectPublicKeyInfo.
func ed448PublicKey(spkiDER []byte) ([]byte, error) {
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	rest, err := asn1.Unmarshal(spkiDER, &spki)
	if err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("%w: malformed certificate public key", ErrCredentialRejected)
	}
	const ed448KeySize = 57
	if !spki.Algorithm.Algorithm.Equal(oidEd448) {
		return nil, fmt.Errorf("%w: certificate key algorithm %v is not supported", ErrCredentialRejected, spki.Algorithm.Algorithm)
	}
	// RFC 8410 section 3: the parameters are absent.
	if len(spki.Algorithm.Parameters.FullBytes) != 0 || spki.PublicKey.BitLength != 8*ed448KeySize {
		return nil, fmt.Errorf("%w: malformed Ed448 certificate key", ErrCredentialRejected)
	}
	return spki.PublicKey.Bytes, nil
}

// presentedIdentifiers lists the identifiers cert presents: its subject and
// subject alternative names, sorted.
func presentedIdentifiers(cert *x509.Certificate) []string {
	ids := []string{"subject:" + cert.Subject.String()}
	for _, n := range cert.DNSNames {
		ids = append(ids, "dns:"+n)
	}
	for _, n := range cert.EmailAddresses {
		ids = append(ids, "email:"+n)
	}
	for _, u := range cert.URIs {
		ids = append(ids, "uri:"+u.String())
	}
	for _, ip := range cert.IPAddresses {
		ids = append(ids, "ip:"+ip.String())
	}
	slices.Sort(ids)
	return ids
}

// sameX509Identity is the default successor rule: the new end-entity
// certificate presents exactly the identifiers of the previous credential's.
// The previous chain is not verified again: it may have expired since.
func sameX509Identity(prev *Credential, next *x509.Certificate) error {
	if prev.CredentialType != CredentialTypeX509 || len(prev.Certificates) == 0 {
		return fmt.Errorf("%w: an x509 credential cannot succeed a %v credential", ErrCredentialRejected, prev.CredentialType)
	}
	old, err := x509.ParseCertificate(prev.Certificates[0])
	if err != nil {
		return fmt.Errorf("%w: previous certificate: %w", ErrCredentialRejected, err)
	}
	if !slices.Equal(presentedIdentifiers(old), presentedIdentifiers(next)) {
		return fmt.Errorf("%w: the new certificate presents other identifiers than the previous one", ErrCredentialRejected)
	}
	return nil
}

// NewX509Identity returns an Identity whose credential is the DER chain
// certs (end-entity first) and whose signing key is priv, the end-entity
// certificate's private key in suite: an *ecdsa.PrivateKey, an
// ed25519.PrivateKey, a *ciphersuite.SigningKey (the only form for
// Ed448), or any other crypto.Signer of an Ed25519 or ECDSA key, whose
// private key then stays where it is (Suite.SigningKeyFromSigner). It fails unless the end-entity certificate certifies that key;
// the chain itself is checked by the validators of those who receive it.
func NewX509Identity(suite ciphersuite.ID, certs [][]byte, priv crypto.PrivateKey) (*Identity, error) {
	s, err := ciphersuite.Lookup(suite)
	if err != nil {
		return nil, err
	}
	var raw []byte
	var key *ciphersuite.SigningKey
	switch k := priv.(type) {
	case *ciphersuite.SigningKey:
		if sg := k.Signer(); sg != nil {
			key, err = s.SigningKeyFromSigner(sg)
			if err != nil {
				return nil, err
			}
		}
		raw = k.Bytes()
	case *ecdsa.PrivateKey:
		if raw, err = k.Bytes(); err != nil {
			return nil, err
		}
	case ed25519.PrivateKey:
		raw = k.Seed()
	case crypto.Signer: // an HSM, a KMS, a keystore: the key stays there
		if key, err = s.SigningKeyFromSigner(k); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("mls: unsupported private key type %T", priv)
	}
	if key == nil {
		if key, err = s.ParseSigningKey(raw); err != nil {
			return nil, err
		}
	}
	parsed, err := parseCertificates(certs)
	if err != nil {
		return nil, err
	}
	if err := checkCertifiedKey(parsed[0], key.PublicKey()); err != nil {
		return nil, err
	}
	cred := Credential{CredentialType: CredentialTypeX509, Certificates: make([][]byte, len(certs))}
	for i, c := range certs {
		cred.Certificates[i] = bytes.Clone(c)
	}
	return &Identity{Credential: cred, SigningKey: key}, nil
}

package mls

import (
	"bytes"
	"errors"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
)

func TestIdentityMarshal(t *testing.T) {
	for _, suite := range ciphersuite.IDs() {
		id := newTestIdentity(t, suite, "grace")
		if id.Suite() != suite || string(id.Credential.Identity) != "grace" || id.Credential.CredentialType != CredentialTypeBasic {
			t.Fatalf("%v: %v", suite, id)
		}
		data, err := id.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got Identity
		if err := got.UnmarshalBinary(data); err != nil {
			t.Fatalf("%v: %v", suite, err)
		}
		if got.Suite() != suite || !bytes.Equal(got.SigningKey.Bytes(), id.SigningKey.Bytes()) ||
			!bytes.Equal(got.SigningKey.PublicKey(), id.SigningKey.PublicKey()) || string(got.Credential.Identity) != "grace" {
			t.Fatalf("%v: identity changed in the round trip", suite)
		}
		// The loaded identity signs KeyPackages the original's key verifies.
		b := newTestBundle(t, &got, nil)
		if err := b.KeyPackage.Validate(suite, nil); err != nil || !bytes.Equal(b.KeyPackage.LeafNode.SignatureKey, id.SigningKey.PublicKey()) {
			t.Fatalf("%v: %v", suite, err)
		}
	}

	id := newTestIdentity(t, 1, "grace")
	data, _ := id.MarshalBinary()
	bad := map[string][]byte{
		"empty":         nil,
		"truncated":     data[:len(data)-1],
		"trailing":      append(bytes.Clone(data), 0),
		"format":        append([]byte{0x01, 0x03}, data[2:]...),
		"unknown suite": append([]byte{0x01, 0x01, 0x77, 0x77}, data[4:]...),
		"short key":     append(bytes.Clone(data[:len(data)-33]), append([]byte{31}, data[len(data)-31:]...)...),
	}
	for name, d := range bad {
		var got Identity
		expectMalformed(t, name, got.UnmarshalBinary(d), nil)
	}
	if _, err := (&Identity{}).MarshalBinary(); err == nil {
		t.Fatal("identity without key encoded")
	}
	if (*Identity)(nil).Suite() != 0 || (&Identity{}).String() != "mls.Identity(CredentialType(0), no signing key)" {
		t.Fatal("empty identity")
	}
}

// TestIdentityShortECDSAKey: a stored identity whose ECDSA scalar lacks
// its leading zeros names the same key as the fixed-width form, so
// accepting it would give one Identity two storage encodings. It is
// refused (found by FuzzIdentityUnmarshal: a 12-byte P-256 key was
// accepted and re-encoded as 32 bytes).
func TestIdentityShortECDSAKey(t *testing.T) {
	for _, suite := range []ciphersuite.ID{2, 5, 7} {
		id := newTestIdentity(t, suite, "grace")
		data, err := id.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		keyLen := len(id.SigningKey.Bytes())
		prefix := 1 // the varint length of the key
		if keyLen >= 64 {
			prefix = 2
		}
		head := data[:len(data)-prefix-keyLen]
		short := []byte{12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12} // a valid scalar
		var got Identity
		expectMalformed(t, suite.String(), got.UnmarshalBinary(append(bytes.Clone(head), short...)), nil)
		// The same scalar at full width is accepted and re-encodes as is.
		full := make([]byte, keyLen)
		copy(full[keyLen-12:], short[1:])
		stored := append(bytes.Clone(head), append(codecOpaque(full), full...)...)
		if err := got.UnmarshalBinary(stored); err != nil {
			t.Fatalf("%v: full-width key refused: %v", suite, err)
		}
		if again, _ := got.MarshalBinary(); !bytes.Equal(again, stored) {
			t.Fatalf("%v: full-width key re-encoded differently", suite)
		}
	}
}

// codecOpaque returns the varint length prefix of an opaque<V> of len(b).
func codecOpaque(b []byte) []byte {
	if len(b) < 64 {
		return []byte{byte(len(b))}
	}
	return []byte{0x40 | byte(len(b)>>8), byte(len(b))}
}

func TestNewIdentity(t *testing.T) {
	if _, err := NewIdentity(1, Credential{CredentialType: CredentialTypeX509, Certificates: [][]byte{{1}}}); err == nil {
		t.Fatal("x509 credential with a fresh key accepted")
	}
	if _, err := NewBasicIdentity(0x7777, "x"); !errors.Is(err, ciphersuite.ErrUnsupportedSuite) {
		t.Fatalf("unknown suite: %v", err)
	}
	// An identity built as a literal from an existing key works the same.
	s, _ := ciphersuite.Lookup(3)
	key, err := s.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	id := &Identity{Credential: NewBasicCredential([]byte("heidi")), SigningKey: key}
	if err := newTestBundle(t, id, nil).KeyPackage.Validate(3, nil); err != nil {
		t.Fatal(err)
	}
	long := newTestIdentity(t, 1, string(bytes.Repeat([]byte("a"), 100)))
	if got := long.String(); len(got) > 160 {
		t.Fatalf("String() of a long identity not shortened: %s", got)
	}
}

func TestCredentialValidators(t *testing.T) {
	alice, bob := NewBasicCredential([]byte("alice")), NewBasicCredential([]byte("bob"))
	x := Credential{CredentialType: CredentialTypeX509, Certificates: [][]byte{{1}}}
	ctx := CredentialContext{Event: CredentialEventKeyPackage, Suite: 1}
	if err := AcceptAllCredentials.ValidateCredential(ctx, x, nil); err != nil {
		t.Fatal(err)
	}
	v := BasicAllowList("alice", "bob")
	if err := v.ValidateCredential(ctx, alice, nil); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		ctx  CredentialContext
		cred Credential
	}{
		"unknown identity":   {ctx, NewBasicCredential([]byte("mallory"))},
		"x509":               {ctx, x},
		"identity changed":   {CredentialContext{Event: CredentialEventUpdate, Previous: &alice}, bob},
		"type changed":       {CredentialContext{Event: CredentialEventUpdate, Previous: &x}, alice},
		"prefix of allowed":  {ctx, NewBasicCredential([]byte("ali"))},
		"empty identity":     {ctx, NewBasicCredential(nil)},
		"other type as data": {ctx, Credential{CredentialType: 0xF000, Data: []byte("alice")}},
	} {
		if err := v.ValidateCredential(c.ctx, c.cred, nil); !errors.Is(err, ErrCredentialRejected) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := v.ValidateCredential(CredentialContext{Event: CredentialEventUpdate, Previous: &alice}, alice, nil); err != nil {
		t.Fatal(err)
	}
	if CredentialEventUpdate.String() != "update" || CredentialEvent(9).String() != "CredentialEvent(9)" {
		t.Fatal("CredentialEvent names")
	}

	// KeyPackage.Validate calls the validator with the leaf's credential,
	// its signature key and a KeyPackage context, and names the rule.
	id := newTestIdentity(t, 2, "alice")
	kp := newTestBundle(t, id, nil).KeyPackage
	var seen []CredentialContext
	record := CredentialValidatorFunc(func(ctx CredentialContext, cred Credential, key []byte) error {
		seen = append(seen, ctx)
		if string(cred.Identity) != "alice" || !bytes.Equal(key, id.SigningKey.PublicKey()) {
			t.Fatalf("validator got %v, %x", cred, key)
		}
		return nil
	})
	if err := kp.Validate(2, &ValidationPolicy{CredentialValidator: record}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0].Event != CredentialEventKeyPackage || seen[0].Suite != 2 || seen[0].GroupID != nil || seen[0].Previous != nil {
		t.Fatalf("contexts %+v", seen)
	}
	err := kp.Validate(2, &ValidationPolicy{CredentialValidator: BasicAllowList("bob")})
	wantRule(t, err, ruleCredential)
	if !errors.Is(err, ErrCredentialRejected) {
		t.Fatalf("%v does not wrap ErrCredentialRejected", err)
	}
}

func FuzzIdentityUnmarshal(f *testing.F) {
	for _, suite := range []ciphersuite.ID{1, 2, 4} {
		data, err := newTestIdentity(f, suite, "fuzz").MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if id := fuzzStored[Identity](t, data); id != nil {
			_ = id.String()
		}
	})
}

// fuzzStored decodes data as a stored T and returns it, or nil when data
// is rejected, which must be with an ErrMalformed error (or, for a stored
// identity whose key is a crypto.Signer's, ErrExternalSigningKey: such a
// form is well made but needs the signer to load). What is accepted
// must encode back to data: the storage forms are canonical.
func fuzzStored[T any, P interface {
	*T
	MarshalBinary() ([]byte, error)
	UnmarshalBinary([]byte) error
}](t *testing.T, data []byte) P {
	v := P(new(T))
	if err := v.UnmarshalBinary(data); err != nil {
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrExternalSigningKey) {
			t.Fatalf("error %v does not wrap ErrMalformed", err)
		}
		return nil
	}
	again, err := v.MarshalBinary()
	if err != nil || !bytes.Equal(again, data) {
		t.Fatalf("accepted input does not re-encode to itself: %v", err)
	}
	return v
}

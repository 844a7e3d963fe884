package mls

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arbormls/mls/ciphersuite"
)

func newTestIdentity(t testing.TB, suite ciphersuite.ID, name string) *Identity {
	t.Helper()
	id, err := NewBasicIdentity(suite, name)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func newTestBundle(t testing.TB, id *Identity, opts *KeyPackageOptions) *KeyPackageBundle {
	t.Helper()
	b, err := NewKeyPackage(id, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantRule checks that err is a *ValidationError for rule.
func wantRule(t *testing.T, err error, rule string) {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want a ValidationError for %q", err, rule)
	}
	if ve.Rule != rule {
		t.Fatalf("rule %q (%v), want %q", ve.Rule, err, rule)
	}
	if !strings.HasPrefix(err.Error(), "mls: "+rule+": ") {
		t.Fatalf("error text %q does not name the rule", err)
	}
}

// resign signs kp's LeafNode and kp again with id's key after a test
// changed them, and drops the stale raw encoding.
func resign(t *testing.T, kp *KeyPackage, id *Identity) {
	t.Helper()
	s, err := id.suite()
	if err != nil {
		t.Fatal(err)
	}
	ltbs, err := kp.LeafNode.TBS(nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if kp.LeafNode.Signature, err = s.SignWithLabel(id.SigningKey, "LeafNodeTBS", ltbs); err != nil {
		t.Fatal(err)
	}
	tbs, err := kp.TBS()
	if err != nil {
		t.Fatal(err)
	}
	if kp.Signature, err = s.SignWithLabel(id.SigningKey, "KeyPackageTBS", tbs); err != nil {
		t.Fatal(err)
	}
	kp.raw, kp.LeafNode.raw = nil, nil
}

// TestNewKeyPackageAllSuites makes a KeyPackage in every suite, sends it
// through its encoding and validates it, and checks what the receiver sees
// against what was asked for, independently of the code under test where
// possible: signatures with the standard library, keys by using them.
func TestNewKeyPackageAllSuites(t *testing.T) {
	for _, suite := range ciphersuite.IDs() {
		t.Run(suite.String(), func(t *testing.T) {
			s, err := ciphersuite.Lookup(suite)
			if err != nil {
				t.Fatal(err)
			}
			id := newTestIdentity(t, suite, "alice")
			before := time.Now()
			b := newTestBundle(t, id, nil)
			after := time.Now()

			data, err := b.KeyPackage.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var kp KeyPackage
			roundTrip(t, "KeyPackage", data, &kp)
			if err := kp.Validate(suite, nil); err != nil {
				t.Fatalf("Validate: %v", err)
			}

			if kp.Version != ProtocolVersionMLS10 || kp.CipherSuite != suite {
				t.Fatalf("version %v suite %v", kp.Version, kp.CipherSuite)
			}
			ln := &kp.LeafNode
			if ln.LeafNodeSource != LeafNodeSourceKeyPackage || string(ln.Credential.Identity) != "alice" {
				t.Fatalf("leaf source %v credential %+v", ln.LeafNodeSource, ln.Credential)
			}
			if !bytes.Equal(ln.SignatureKey, id.SigningKey.PublicKey()) {
				t.Fatal("signature key is not the identity's")
			}
			if bytes.Equal(kp.InitKey, ln.EncryptionKey) {
				t.Fatal("init key equals encryption key")
			}
			// The defaults, and GREASE values (RFC 9420 section 13.5):
			// one in each list, three extension types (one only
			// advertised, one in the leaf, one in the KeyPackage).
			want := DefaultCapabilities(suite)
			caps := &ln.Capabilities
			suites, gSuites := splitGREASE(caps.CipherSuites)
			exts, gExts := splitGREASE(caps.Extensions)
			props, gProps := splitGREASE(caps.Proposals)
			creds, gCreds := splitGREASE(caps.Credentials)
			if !slices.Equal(caps.Versions, want.Versions) || !slices.Equal(suites, []ciphersuite.ID{suite}) ||
				len(exts) != 0 || !slices.Equal(props, []ProposalType{ProposalTypeSelfRemove}) ||
				!slices.Equal(creds, []CredentialType{CredentialTypeBasic, CredentialTypeX509}) ||
				len(gSuites) != 1 || len(gExts) != 3 || len(gProps) != 1 || len(gCreds) != 1 {
				t.Fatalf("capabilities %+v", ln.Capabilities)
			}
			if len(ln.Extensions) != 1 || !isGREASE(ln.Extensions[0].ExtensionType) || len(ln.Extensions[0].ExtensionData) != 0 ||
				len(kp.Extensions) != 1 || !isGREASE(kp.Extensions[0].ExtensionType) ||
				!slices.Contains(gExts, ln.Extensions[0].ExtensionType) || !slices.Contains(gExts, kp.Extensions[0].ExtensionType) {
				t.Fatalf("GREASE extensions: leaf %v, KeyPackage %v", ln.Extensions, kp.Extensions)
			}
			lt := ln.Lifetime
			if lt.NotBefore < uint64(before.Add(-time.Hour).Unix()) || lt.NotBefore > uint64(after.Add(-time.Hour).Unix()) ||
				lt.NotAfter < uint64(before.Add(DefaultKeyPackageLifetime).Unix()) || lt.NotAfter > uint64(after.Add(DefaultKeyPackageLifetime).Unix()) {
				t.Fatalf("lifetime %+v, made between %v and %v", lt, before, after)
			}
			if kp.IsLastResort() {
				t.Fatal("unexpected last_resort")
			}

			// Signatures, checked with the standard library where it can.
			ltbs, _ := ln.TBS(nil, 0)
			verifyWithLabel(t, suite, ln.SignatureKey, "LeafNodeTBS", ltbs, ln.Signature)
			tbs, _ := kp.TBS()
			verifyWithLabel(t, suite, ln.SignatureKey, "KeyPackageTBS", tbs, kp.Signature)

			// The KeyPackageRef is RefHash over the encoding.
			ref, err := kp.Ref()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ref, s.RefHash("MLS 1.0 KeyPackage Reference", data)) || !bytes.Equal(b.Ref(), ref) {
				t.Fatal("KeyPackageRef mismatch")
			}

			// The private keys open what is sealed to the public ones.
			for _, k := range []struct{ priv, pub []byte }{
				{b.InitPrivateKey(), kp.InitKey},
				{b.EncryptionPrivateKey(), ln.EncryptionKey},
			} {
				kem, ct, err := s.EncryptWithLabel(k.pub, "Welcome", []byte("ctx"), []byte("hello"))
				if err != nil {
					t.Fatal(err)
				}
				pt, err := s.DecryptWithLabel(k.priv, "Welcome", []byte("ctx"), kem, ct)
				if err != nil || string(pt) != "hello" {
					t.Fatalf("private key does not open: %v", err)
				}
			}
		})
	}
}

func TestKeyPackageOptions(t *testing.T) {
	const suite = ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	id := newTestIdentity(t, suite, "bob")
	appID, _ := ApplicationID("device-7").MarshalBinary()
	b := newTestBundle(t, id, &KeyPackageOptions{
		Lifetime:       time.Hour,
		Extensions:     Extensions{{ExtensionType: 0xF0A1, ExtensionData: []byte{1}}},
		LeafExtensions: Extensions{{ExtensionType: ExtensionTypeApplicationID, ExtensionData: appID}, {ExtensionType: 0xF0A2}},
		LastResort:     true,
	})
	kp := b.KeyPackage
	if err := kp.Validate(suite, nil); err != nil {
		t.Fatal(err)
	}
	if !kp.IsLastResort() {
		t.Fatal("last_resort extension missing")
	}
	e, _ := kp.Extensions.Find(ExtensionTypeLastResort)
	if len(e.ExtensionData) != 0 {
		t.Fatal("last_resort extension data not empty")
	}
	// Non-default types used are advertised; application_id is a default
	// type and must not be.
	if got, _ := splitGREASE(kp.LeafNode.Capabilities.Extensions); !slices.Equal(got, []ExtensionType{0xF0A1, ExtensionTypeLastResort, 0xF0A2}) {
		t.Fatalf("capability extensions %v", got)
	}
	lt := kp.LeafNode.Lifetime
	if span := lt.NotAfter - lt.NotBefore; span < 2*3600-2 || span > 2*3600+2 {
		t.Fatalf("lifetime spans %ds, want about 2h (1h skew + 1h)", span)
	}

	// A custom credential type is advertised too.
	custom, err := NewIdentity(suite, Credential{CredentialType: 0xF000, Data: []byte("token")})
	if err != nil {
		t.Fatal(err)
	}
	cb := newTestBundle(t, custom, nil)
	if err := cb.KeyPackage.Validate(suite, nil); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(cb.KeyPackage.LeafNode.Capabilities.Credentials, 0xF000) {
		t.Fatal("custom credential type not advertised")
	}

	// Explicit capabilities are used as given, and checked before signing.
	caps := DefaultCapabilities(suite)
	caps.Credentials = []CredentialType{CredentialTypeX509}
	_, err = NewKeyPackage(id, &KeyPackageOptions{Capabilities: &caps})
	wantRule(t, err, ruleCredentialType)
	_, err = NewKeyPackage(id, &KeyPackageOptions{LastResort: true, Capabilities: ptr(DefaultCapabilities(suite))})
	wantRule(t, err, ruleKPExtensions)
	caps = DefaultCapabilities(suite)
	caps.Proposals = []ProposalType{0xF001}
	cb = newTestBundle(t, id, &KeyPackageOptions{Capabilities: &caps})
	if got, grease := splitGREASE(cb.KeyPackage.LeafNode.Capabilities.Proposals); !slices.Equal(got, caps.Proposals) || len(grease) != 1 {
		t.Fatal("explicit capabilities not used, with GREASE")
	}
	cb = newTestBundle(t, id, &KeyPackageOptions{Capabilities: &caps, NoGREASE: true})
	if !slices.Equal(cb.KeyPackage.LeafNode.Capabilities.Proposals, caps.Proposals) {
		t.Fatal("explicit capabilities not used as given")
	}

	if _, err := NewKeyPackage(id, &KeyPackageOptions{Lifetime: -time.Second}); err == nil {
		t.Fatal("negative lifetime accepted")
	}
	if _, err := NewKeyPackage(&Identity{Credential: NewBasicCredential(nil)}, nil); err == nil {
		t.Fatal("identity without key accepted")
	}
	if _, err := NewKeyPackage(nil, nil); err == nil {
		t.Fatal("nil identity accepted")
	}
}

func ptr[T any](v T) *T { return &v }

// TestKeyPackageValidateRejects breaks one rule at a time. Changes are
// re-signed, so that the rule under test is the one that fails.
func TestKeyPackageValidateRejects(t *testing.T) {
	const suite = ciphersuite.MLS_128_DHKEMP256_AES128GCM_SHA256_P256
	id := newTestIdentity(t, suite, "carol")
	s, _ := ciphersuite.Lookup(suite)
	_, otherPub, err := s.GenerateHPKEKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	fresh := func() *KeyPackage {
		kp := newTestBundle(t, id, nil).KeyPackage
		if err := kp.Validate(suite, nil); err != nil {
			t.Fatal(err)
		}
		return kp
	}
	cases := []struct {
		name   string
		rule   string
		change func(kp *KeyPackage) // re-signed afterwards
		raw    func(kp *KeyPackage) // not re-signed
	}{
		{name: "version", rule: ruleVersion, change: func(kp *KeyPackage) { kp.Version = 2 }},
		{name: "source update", rule: ruleLeafSource, change: func(kp *KeyPackage) {
			kp.LeafNode.LeafNodeSource, kp.LeafNode.Lifetime = LeafNodeSourceUpdate, nil
		}},
		{name: "short init key", rule: rulePublicKey, change: func(kp *KeyPackage) { kp.InitKey = kp.InitKey[:20] }},
		{name: "encryption key off curve", rule: rulePublicKey, change: func(kp *KeyPackage) {
			kp.LeafNode.EncryptionKey = bytes.Clone(kp.LeafNode.EncryptionKey)
			kp.LeafNode.EncryptionKey[40] ^= 1
		}},
		{name: "init key equals encryption key", rule: ruleDistinctKeys, change: func(kp *KeyPackage) {
			kp.InitKey = bytes.Clone(kp.LeafNode.EncryptionKey)
		}},
		{name: "version not in capabilities", rule: ruleCapabilities, change: func(kp *KeyPackage) {
			kp.LeafNode.Capabilities.Versions = []ProtocolVersion{7}
		}},
		{name: "credential type not in capabilities", rule: ruleCredentialType, change: func(kp *KeyPackage) {
			kp.LeafNode.Capabilities.Credentials = []CredentialType{CredentialTypeX509}
		}},
		{name: "unlisted leaf extension", rule: ruleExtensions, change: func(kp *KeyPackage) {
			kp.LeafNode.Extensions = Extensions{{ExtensionType: 0xF0A3}}
		}},
		{name: "duplicate key package extension", rule: ruleDuplicateExtension, change: func(kp *KeyPackage) {
			kp.Extensions = Extensions{{ExtensionType: 0x0A0A}, {ExtensionType: 0x0A0A}}
		}},
		{name: "duplicate extension", rule: ruleExtensions, change: func(kp *KeyPackage) {
			kp.LeafNode.Extensions = Extensions{{ExtensionType: ExtensionTypeApplicationID}, {ExtensionType: ExtensionTypeApplicationID}}
		}},
		{name: "lifetime reversed", rule: ruleLifetime, change: func(kp *KeyPackage) {
			kp.LeafNode.Lifetime = &Lifetime{NotBefore: kp.LeafNode.Lifetime.NotAfter, NotAfter: kp.LeafNode.Lifetime.NotBefore}
		}},
		{name: "tampered key package signature", rule: ruleKPSignature, raw: func(kp *KeyPackage) { kp.Signature[10] ^= 1 }},
		{name: "tampered leaf signature", rule: ruleLeafSignature, raw: func(kp *KeyPackage) { kp.LeafNode.Signature[10] ^= 1 }},
		{name: "init key swapped after signing", rule: ruleKPSignature, raw: func(kp *KeyPackage) { kp.InitKey = otherPub }},
		{name: "leaf changed after signing", rule: ruleLeafSignature, raw: func(kp *KeyPackage) {
			kp.LeafNode.Capabilities.Proposals = []ProposalType{0xF001}
		}},
		{name: "signed by another key", rule: ruleLeafSignature, raw: func(kp *KeyPackage) {
			other := newTestIdentity(t, suite, "carol")
			resign(t, kp, other)
		}},
		{name: "malformed signature key", rule: ruleLeafSignature, raw: func(kp *KeyPackage) {
			kp.LeafNode.SignatureKey = kp.LeafNode.SignatureKey[:10]
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kp := fresh()
			if c.change != nil {
				c.change(kp)
				resign(t, kp, id)
			} else {
				c.raw(kp)
				kp.raw = nil
			}
			// Send it over the wire: the receiver's view is what counts.
			wantRule(t, wireCopy(t, kp).Validate(kp.CipherSuite, nil), c.rule)
		})
	}

	t.Run("group uses another suite", func(t *testing.T) {
		wantRule(t, fresh().Validate(ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, nil), ruleCipherSuite)
	})
	t.Run("unsupported suite", func(t *testing.T) {
		kp := fresh()
		kp.CipherSuite = 0x7777
		wantRule(t, kp.Validate(0x7777, nil), ruleCipherSuite)
	})
	t.Run("ParentHash in memory", func(t *testing.T) {
		kp := fresh()
		kp.LeafNode.ParentHash = []byte{1}
		wantRule(t, kp.Validate(suite, nil), ruleLeafSource)
	})
}

func TestKeyPackageLifetimePolicy(t *testing.T) {
	const suite = ciphersuite.MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519
	id := newTestIdentity(t, suite, "dave")
	kp := newTestBundle(t, id, &KeyPackageOptions{Lifetime: 24 * time.Hour}).KeyPackage
	lt := *kp.LeafNode.Lifetime
	at := func(sec uint64) *ValidationPolicy {
		return &ValidationPolicy{Lifetimes: LifetimePolicy{Now: func() time.Time { return time.Unix(int64(sec), 0) }}}
	}
	for _, ok := range []uint64{lt.NotBefore, lt.NotBefore + 1, lt.NotAfter} {
		if err := kp.Validate(suite, at(ok)); err != nil {
			t.Fatalf("at %d (lifetime %+v): %v", ok, lt, err)
		}
	}
	for _, bad := range []uint64{lt.NotBefore - 1, lt.NotAfter + 1, 0} {
		wantRule(t, kp.Validate(suite, at(bad)), ruleLifetime)
		// Received in an Add, the clock is checked only when asked for
		// (RFC 9420 section 7.3 recommends it, no more).
		p := at(bad)
		p.Received = true
		if err := kp.Validate(suite, p); err != nil {
			t.Fatalf("lifetime of a received KeyPackage checked by default: %v", err)
		}
		p.Lifetimes.CheckReceived = true
		wantRule(t, kp.Validate(suite, p), ruleLifetime)
	}

	// Maximum lifetime: none by default (RFC 9420 section 7.2 leaves it to
	// the application), so that two years, and the lifetimes MLS++ and
	// ts-mls make, pass; the policy can set one, for sent and received
	// KeyPackages alike.
	long := newTestBundle(t, id, &KeyPackageOptions{Lifetime: 2 * 365 * 24 * time.Hour}).KeyPackage
	if err := long.Validate(suite, nil); err != nil {
		t.Fatal(err)
	}
	for _, received := range []bool{false, true} {
		p := &ValidationPolicy{Lifetimes: LifetimePolicy{Max: 365 * 24 * time.Hour}, Received: received}
		wantRule(t, long.Validate(suite, p), ruleMaxLifetime)
		if err := kp.Validate(suite, p); err != nil {
			t.Fatal(err)
		}
	}
	var ve *ValidationError
	if err := long.Validate(suite, &ValidationPolicy{Lifetimes: LifetimePolicy{Max: time.Hour}}); !errors.As(err, &ve) ||
		!errors.Is(err, ErrLeafLifetime) || !strings.Contains(err.Error(), "section 7.2") {
		t.Fatalf("maximum lifetime error %v, want one citing RFC 9420 section 7.2", err)
	}
	if err := kp.Validate(suite, at(0)); !strings.Contains(err.Error(), "section 7.3") {
		t.Fatalf("lifetime error %v, want one citing RFC 9420 section 7.3", err)
	}
}

// TestKeyPackageVectors validates the KeyPackages of the official vectors
// (all seven suites) and pairs them with their private keys. Their
// lifetimes are in the past, so lifetimes are checked at a time inside them.
func TestKeyPackageVectors(t *testing.T) {
	var cases []struct {
		CipherSuite    ciphersuite.ID `json:"cipher_suite"`
		KeyPackage     hexBytes       `json:"key_package"`
		InitPriv       hexBytes       `json:"init_priv"`
		EncryptionPriv hexBytes       `json:"encryption_priv"`
	}
	loadVectors(t, "passive-client-welcome.json", &cases)
	var welcome []struct {
		CipherSuite ciphersuite.ID `json:"cipher_suite"`
		KeyPackage  hexBytes       `json:"key_package"`
		InitPriv    hexBytes       `json:"init_priv"`
	}
	loadVectors(t, "welcome.json", &welcome)
	for _, w := range welcome {
		cases = append(cases, struct {
			CipherSuite    ciphersuite.ID `json:"cipher_suite"`
			KeyPackage     hexBytes       `json:"key_package"`
			InitPriv       hexBytes       `json:"init_priv"`
			EncryptionPriv hexBytes       `json:"encryption_priv"`
		}{w.CipherSuite, w.KeyPackage, w.InitPriv, nil})
	}
	suites := map[ciphersuite.ID]int{}
	var bundles, unlisted, expired int
	for i, c := range cases {
		var kp KeyPackage
		if err := kp.UnmarshalBinary(c.KeyPackage[4:]); err != nil { // skip the MLSMessage header
			t.Fatalf("case %d: %v", i, err)
		}
		lt := kp.LeafNode.Lifetime
		mid := lt.NotBefore + (lt.NotAfter-lt.NotBefore)/2
		policy := &ValidationPolicy{Lifetimes: LifetimePolicy{Now: func() time.Time { return time.Unix(int64(mid), 0) }}}
		suites[c.CipherSuite]++
		switch {
		case !slices.Contains(kp.LeafNode.Capabilities.CipherSuites, c.CipherSuite):
			// The suite 7 KeyPackage of welcome.json advertises suites 1 to
			// 6 only; RFC 9420 does not forbid that, so it is accepted.
			if err := kp.Validate(c.CipherSuite, policy); err != nil {
				t.Fatalf("case %d: %v", i, err)
			}
			unlisted++
		case lt.NotAfter < unixSeconds(time.Now()):
			wantRule(t, kp.Validate(c.CipherSuite, nil), ruleLifetime)
			expired++
			fallthrough
		default:
			if err := kp.Validate(c.CipherSuite, policy); err != nil {
				t.Fatalf("case %d (suite %v): %v", i, c.CipherSuite, err)
			}
		}
		if c.EncryptionPriv == nil {
			s, _ := ciphersuite.Lookup(c.CipherSuite)
			if err := checkKeyPair(s, "init", c.InitPriv, kp.InitKey); err != nil {
				t.Fatalf("case %d: %v", i, err)
			}
			continue
		}
		// Some P-521 private keys in the vectors lost their leading zero
		// byte; SerializePrivateKey (RFC 9180 section 7.1.2) is 66 bytes.
		if c.CipherSuite == ciphersuite.MLS_256_DHKEMP521_AES256GCM_SHA512_P521 {
			c.InitPriv, c.EncryptionPriv = leftPad(c.InitPriv, 66), leftPad(c.EncryptionPriv, 66)
		}
		b, err := NewKeyPackageBundle(&kp, c.InitPriv, c.EncryptionPriv)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if _, err := NewKeyPackageBundle(&kp, c.EncryptionPriv, c.InitPriv); err == nil {
			t.Fatalf("case %d: swapped private keys accepted", i)
		}
		data, err := b.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back KeyPackageBundle
		if err := back.UnmarshalBinary(data); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back.KeyPackage.Raw(), c.KeyPackage[4:]) || !bytes.Equal(back.Ref(), b.Ref()) {
			t.Fatalf("case %d: bundle round trip changed the KeyPackage", i)
		}
		bundles++
	}
	if len(suites) != 7 || unlisted != 1 {
		t.Fatalf("vectors cover suites %v, want all 7; %d without their suite in capabilities, want 1", suites, unlisted)
	}
	if expired == 0 {
		t.Fatal("no expired KeyPackage checked")
	}
	t.Logf("%d vector KeyPackages validated (%d expired by now), %d bundles built", len(cases), expired, bundles)
}

func leftPad(b []byte, n int) []byte {
	if len(b) >= n {
		return b
	}
	return append(make([]byte, n-len(b)), b...)
}

func TestKeyPackageBundleMarshal(t *testing.T) {
	for _, suite := range ciphersuite.IDs() {
		id := newTestIdentity(t, suite, "erin")
		b := newTestBundle(t, id, &KeyPackageOptions{LastResort: true})
		data, err := b.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got KeyPackageBundle
		if err := got.UnmarshalBinary(data); err != nil {
			t.Fatalf("%v: %v", suite, err)
		}
		if !bytes.Equal(got.InitPrivateKey(), b.InitPrivateKey()) || !bytes.Equal(got.EncryptionPrivateKey(), b.EncryptionPrivateKey()) ||
			!bytes.Equal(got.Ref(), b.Ref()) || !bytes.Equal(got.KeyPackage.Raw(), b.KeyPackage.Raw()) || !got.KeyPackage.IsLastResort() {
			t.Fatalf("%v: bundle changed in the round trip", suite)
		}
		if err := got.KeyPackage.Validate(suite, nil); err != nil {
			t.Fatal(err)
		}
		again, _ := got.MarshalBinary()
		if !bytes.Equal(again, data) {
			t.Fatal("re-encoding differs")
		}
		// A bundle built in memory (no raw bytes) encodes the same.
		mem := *b.KeyPackage
		mem.raw = nil
		alt := KeyPackageBundle{KeyPackage: &mem, initPriv: b.initPriv, encPriv: b.encPriv}
		if again, _ := alt.MarshalBinary(); !bytes.Equal(again, data) {
			t.Fatal("in-memory bundle encodes differently")
		}
	}

	b := newTestBundle(t, newTestIdentity(t, 1, "erin"), nil)
	data, _ := b.MarshalBinary()
	other := newTestBundle(t, newTestIdentity(t, 1, "erin"), nil)
	swapped := KeyPackageBundle{KeyPackage: b.KeyPackage, initPriv: other.initPriv, encPriv: b.encPriv}
	swappedData, _ := swapped.MarshalBinary()
	bad := map[string][]byte{
		"empty":          nil,
		"truncated":      data[:len(data)-1],
		"trailing":       append(bytes.Clone(data), 0),
		"unknown format": append([]byte{0x02, 0x02}, data[2:]...),
		"identity blob":  append([]byte{0x01, 0x01}, data[2:]...),
		"wrong key":      swappedData,
	}
	for name, d := range bad {
		var got KeyPackageBundle
		expectMalformed(t, name, got.UnmarshalBinary(d), nil)
	}
	if _, err := (&KeyPackageBundle{}).MarshalBinary(); err == nil {
		t.Fatal("empty bundle encoded")
	}
}

// TestSecretsNeverPrinted formats identities and bundles every way fmt
// can and looks for the private keys, raw or in hex.
func TestSecretsNeverPrinted(t *testing.T) {
	id := newTestIdentity(t, ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, "frank")
	b := newTestBundle(t, id, nil)
	secrets := [][]byte{id.SigningKey.Bytes(), b.InitPrivateKey(), b.EncryptionPrivateKey()}
	for _, v := range []any{id, *id, b, *b} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			out := fmt.Sprintf(verb, v)
			for _, s := range secrets {
				if strings.Contains(out, string(s)) || strings.Contains(out, hex.EncodeToString(s)) ||
					strings.Contains(out, fmt.Sprint(s)) {
					t.Fatalf("%s of %T prints a private key: %s", verb, v, out)
				}
			}
			if !strings.Contains(out, "redacted") {
				t.Fatalf("%s of %T: %s", verb, v, out)
			}
		}
	}
	if got := id.String(); got != `mls.Identity(basic "frank", MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, signing key redacted)` {
		t.Fatalf("Identity.String() = %s", got)
	}
	if !strings.HasPrefix(b.String(), `mls.KeyPackageBundle(MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, basic "frank", ref `) {
		t.Fatalf("KeyPackageBundle.String() = %s", b)
	}
}

func FuzzKeyPackageBundleUnmarshal(f *testing.F) {
	for _, suite := range []ciphersuite.ID{1, 2} {
		id := newTestIdentity(f, suite, "fuzz")
		b := newTestBundle(f, id, &KeyPackageOptions{LastResort: true})
		data, err := b.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if b := fuzzStored[KeyPackageBundle](t, data); b != nil {
			_ = b.KeyPackage.Validate(b.KeyPackage.CipherSuite, nil) // must not panic
			_ = b.String()
		}
	})
}

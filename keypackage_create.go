package mls

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/codec"
)

// ExtensionTypeLastResort marks a KeyPackage that may be used more than
// once, when a client's other KeyPackages are used up (RFC 9420 section
// 16.8). Its extension_data is empty.
//
// The code point 0x000A is the one draft-ietf-mls-extensions-03 and -04
// suggested for the last_resort KeyPackage extension and that OpenMLS and
// mls-rs use. Later drafts turn it into component 0x0004 inside the
// app_data_dictionary extension; 0x000A is not assigned to another
// extension there.
const ExtensionTypeLastResort ExtensionType = 0x000A

// DefaultKeyPackageLifetime is how long a KeyPackage made by NewKeyPackage
// stays valid when KeyPackageOptions.Lifetime is zero.
const DefaultKeyPackageLifetime = 90 * 24 * time.Hour

// keyPackageClockSkew is how far in the past NewKeyPackage puts not_before,
// so that clients whose clocks run a little behind accept the KeyPackage.
const keyPackageClockSkew = time.Hour

// DefaultCapabilities returns the capabilities a client built on this
// package advertises for a KeyPackage of suite: version mls10, the suite,
// the basic and x509 credential types, and the SelfRemove proposal type
// (draft-ietf-mls-extensions), which a group may only use when every
// member lists it. The types RFC 9420 defines are "default" and MUST NOT
// be listed (section 7.2); NewKeyPackage adds the non-default extension
// types it uses.
func DefaultCapabilities(suite ciphersuite.ID) Capabilities {
	return Capabilities{
		Versions:     []ProtocolVersion{ProtocolVersionMLS10},
		CipherSuites: []ciphersuite.ID{suite},
		Extensions:   []ExtensionType{},
		Proposals:    []ProposalType{ProposalTypeSelfRemove},
		Credentials:  []CredentialType{CredentialTypeBasic, CredentialTypeX509},
	}
}

// KeyPackageOptions are the choices NewKeyPackage leaves to the caller. The
// zero value (or nil) gives a KeyPackage that is valid for
// DefaultKeyPackageLifetime with DefaultCapabilities.
type KeyPackageOptions struct {
	// Lifetime is how long from now the KeyPackage stays valid; zero means
	// DefaultKeyPackageLifetime. not_before is set an hour in the past to
	// absorb clock skew, so the lifetime field spans Lifetime plus an hour.
	Lifetime time.Duration
	// Capabilities replaces the advertised capabilities. It is used as
	// given and must list the suite, mls10, the credential's type and every
	// non-default extension type used. Nil means DefaultCapabilities plus
	// the identity's credential type and the extension types used.
	Capabilities *Capabilities
	// Extensions are the KeyPackage's extensions.
	Extensions Extensions
	// LeafExtensions are the extensions of the KeyPackage's LeafNode.
	LeafExtensions Extensions
	// LastResort adds the last_resort extension (ExtensionTypeLastResort).
	LastResort bool
	// LastResortComponent also marks the KeyPackage as last resort the way
	// draft-ietf-mls-extensions-10 does (section 6.4): the component
	// ComponentLastResortKeyPackage in an app_data_dictionary extension,
	// which the capabilities then list. It implies LastResort, so that
	// clients that know only the 0x000A extension read it too.
	LastResortComponent bool
	// NoGREASE leaves out the GREASE values (RFC 9420 section 13.5) that
	// NewKeyPackage otherwise adds, drawn afresh for each KeyPackage: one
	// in each of the capabilities' cipher suites, extensions, proposals
	// and credentials, an empty extension in the leaf and one of random
	// bytes in the KeyPackage, both listed in the capabilities. They are
	// added to explicit Capabilities too. Receivers must ignore them
	// (section 13.4); see the README for the peers checked to.
	NoGREASE bool
}

// KeyPackageBundle is a KeyPackage together with the private keys its
// owner needs when the KeyPackage is used: the init key, to decrypt the
// Welcome, and the leaf's encryption key. Keep it secret; String never
// shows the private keys.
type KeyPackageBundle struct {
	// KeyPackage is the signed, public part. Do not modify it: it is
	// signed, and Ref is computed once from its encoding.
	KeyPackage *KeyPackage

	initPriv, encPriv []byte
	ref               []byte
}

// NewKeyPackage makes a fresh KeyPackage for id (RFC 9420 section 10): new
// init and encryption key pairs, a LeafNode of source key_package signed
// with the label "LeafNodeTBS", and the KeyPackage signed with the label
// "KeyPackageTBS", both with id's signing key. opts may be nil.
//
// The result passes every check of KeyPackage.Validate but the credential
// check, which is the Authentication Service's business.
func NewKeyPackage(id *Identity, opts *KeyPackageOptions) (*KeyPackageBundle, error) {
	s, err := id.suite()
	if err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &KeyPackageOptions{}
	}
	lifetime, err := newLifetime(opts.Lifetime)
	if err != nil {
		return nil, err
	}
	kpExts := slices.Clone(opts.Extensions)
	if opts.LastResort || opts.LastResortComponent {
		if _, ok := kpExts.Find(ExtensionTypeLastResort); !ok {
			kpExts = append(kpExts, Extension{ExtensionType: ExtensionTypeLastResort, ExtensionData: []byte{}})
		}
	}
	if opts.LastResortComponent {
		if kpExts, err = withComponent(kpExts, ComponentLastResortKeyPackage, []byte{}); err != nil {
			return nil, err
		}
	}
	leafExts := slices.Clone(opts.LeafExtensions)
	var caps Capabilities
	if opts.Capabilities != nil {
		caps = cloneCapabilities(opts.Capabilities)
	} else {
		caps = DefaultCapabilities(s.ID())
		addMissing(&caps.Credentials, id.Credential.CredentialType)
		for _, e := range slices.Concat(kpExts, leafExts) {
			if !isDefaultExtension(e.ExtensionType) {
				addMissing(&caps.Extensions, e.ExtensionType)
			}
		}
	}

	if !opts.NoGREASE {
		addGREASE(&caps, &leafExts, &kpExts)
	}

	initPriv, initPub, err := s.GenerateHPKEKeyPair()
	if err != nil {
		return nil, err
	}
	encPriv, encPub, err := s.GenerateHPKEKeyPair()
	if err != nil {
		return nil, err
	}
	kp := &KeyPackage{
		Version:     ProtocolVersionMLS10,
		CipherSuite: s.ID(),
		InitKey:     initPub,
		LeafNode: LeafNode{
			EncryptionKey:  encPub,
			SignatureKey:   bytes.Clone(id.SigningKey.PublicKey()),
			Credential:     id.Credential,
			Capabilities:   caps,
			LeafNodeSource: LeafNodeSourceKeyPackage,
			Lifetime:       lifetime,
			Extensions:     leafExts,
		},
		Extensions: kpExts,
	}
	// Check what the caller chose before signing it: explicit capabilities
	// may miss an extension type, an extension may be duplicated, and so on.
	if err := kp.checkContents(s); err != nil {
		return nil, err
	}
	// The creator lists the KeyPackage's extensions in the capabilities
	// too (RFC 9420 section 10), a rule receivers do not check (13.4).
	if !allListed(nonDefault(extensionTypes(kp.Extensions), isDefaultExtension), caps.Extensions) {
		return nil, invalid(ruleKPExtensions, "extension not listed in capabilities")
	}
	// What this client writes follows the draft's MUSTs for its
	// dictionaries (sorted, one entry per component); received ones are
	// read as they come.
	for _, exts := range []Extensions{kpExts, leafExts} {
		if e, ok := exts.Find(ExtensionTypeAppDataDictionary); ok {
			if err := new(AppDataDictionary).UnmarshalBinary(e.ExtensionData); err != nil {
				return nil, err
			}
		}
	}
	ltbs, err := kp.LeafNode.TBS(nil, 0)
	if err != nil {
		return nil, err
	}
	if kp.LeafNode.Signature, err = s.SignWithLabel(id.SigningKey, "LeafNodeTBS", ltbs); err != nil {
		return nil, err
	}
	tbs, err := kp.TBS()
	if err != nil {
		return nil, err
	}
	if kp.Signature, err = s.SignWithLabel(id.SigningKey, "KeyPackageTBS", tbs); err != nil {
		return nil, err
	}
	// Decode our own encoding so that the KeyPackage (its Raw bytes, the
	// KeyPackageRef) is exactly what a receiver will see.
	data, err := kp.MarshalBinary()
	if err != nil {
		return nil, err
	}
	out := new(KeyPackage)
	if err := out.UnmarshalBinary(data); err != nil {
		return nil, err
	}
	return &KeyPackageBundle{KeyPackage: out, initPriv: initPriv, encPriv: encPriv, ref: s.MakeKeyPackageRef(data)}, nil
}

// newLifetime returns the lifetime of a KeyPackage made now that stays
// valid for d (zero: the default).
func newLifetime(d time.Duration) (*Lifetime, error) {
	if d == 0 {
		d = DefaultKeyPackageLifetime
	}
	if d < 0 {
		return nil, fmt.Errorf("mls: negative KeyPackage lifetime %v", d)
	}
	now := time.Now()
	return &Lifetime{
		NotBefore: unixSeconds(now.Add(-keyPackageClockSkew)),
		NotAfter:  unixSeconds(now.Add(d)),
	}, nil
}

// unixSeconds returns t in seconds since the Unix epoch, 0 before it.
func unixSeconds(t time.Time) uint64 {
	return uint64(max(t.Unix(), 0))
}

// isDefaultExtension reports whether t is one of the extension types of
// RFC 9420 that every client supports and none lists in its capabilities
// (section 7.2).
func isDefaultExtension(t ExtensionType) bool {
	return t >= ExtensionTypeApplicationID && t <= ExtensionTypeExternalSenders
}

// addMissing appends v to *list unless it is there already.
func addMissing[T comparable](list *[]T, v T) {
	if !slices.Contains(*list, v) {
		*list = append(*list, v)
	}
}

func cloneCapabilities(c *Capabilities) Capabilities {
	return Capabilities{
		Versions:     slices.Clone(c.Versions),
		CipherSuites: slices.Clone(c.CipherSuites),
		Extensions:   slices.Clone(c.Extensions),
		Proposals:    slices.Clone(c.Proposals),
		Credentials:  slices.Clone(c.Credentials),
	}
}

// Ref returns the KeyPackageRef of kp (RFC 9420 section 5.2): the suite's
// RefHash over the KeyPackage's encoding, the received bytes if kp was
// decoded.
func (kp *KeyPackage) Ref() ([]byte, error) {
	s, err := ciphersuite.Lookup(kp.CipherSuite)
	if err != nil {
		return nil, err
	}
	data := kp.raw
	if data == nil {
		if data, err = kp.MarshalBinary(); err != nil {
			return nil, err
		}
	}
	return s.MakeKeyPackageRef(data), nil
}

// withComponent returns exts with component id set to data in its
// app_data_dictionary extension, which it adds if missing.
func withComponent(exts Extensions, id ciphersuite.ComponentID, data []byte) (Extensions, error) {
	var d AppDataDictionary
	i := slices.IndexFunc(exts, func(e Extension) bool { return e.ExtensionType == ExtensionTypeAppDataDictionary })
	if i >= 0 {
		if err := d.UnmarshalBinary(exts[i].ExtensionData); err != nil {
			return nil, err
		}
	}
	enc, err := d.With(id, data).MarshalBinary()
	if err != nil {
		return nil, err
	}
	if i < 0 {
		return append(exts, Extension{ExtensionType: ExtensionTypeAppDataDictionary, ExtensionData: enc}), nil
	}
	exts[i].ExtensionData = enc
	return exts, nil
}

// IsLastResort reports whether kp carries the last_resort extension, which
// allows it to be used more than once.
func (kp *KeyPackage) IsLastResort() bool {
	if _, ok := kp.Extensions.Find(ExtensionTypeLastResort); ok {
		return true
	}
	// Or the component of draft-ietf-mls-extensions-10 section 6.4.
	if d, ok := appData(kp.Extensions); ok {
		_, ok = d.Get(ComponentLastResortKeyPackage)
		return ok
	}
	return false
}

// NewKeyPackageBundle pairs kp with its private keys, for example to load a
// KeyPackage made elsewhere. It fails unless initPriv and encryptionPriv
// are the private keys of kp's init_key and leaf encryption_key.
func NewKeyPackageBundle(kp *KeyPackage, initPriv, encryptionPriv []byte) (*KeyPackageBundle, error) {
	s, err := ciphersuite.Lookup(kp.CipherSuite)
	if err != nil {
		return nil, err
	}
	if err := checkKeyPair(s, "init", initPriv, kp.InitKey); err != nil {
		return nil, err
	}
	if err := checkKeyPair(s, "encryption", encryptionPriv, kp.LeafNode.EncryptionKey); err != nil {
		return nil, err
	}
	ref, err := kp.Ref()
	if err != nil {
		return nil, err
	}
	return &KeyPackageBundle{KeyPackage: kp, initPriv: bytes.Clone(initPriv), encPriv: bytes.Clone(encryptionPriv), ref: ref}, nil
}

// checkKeyPair checks that priv is the HPKE private key of pub.
func checkKeyPair(s *ciphersuite.Suite, what string, priv, pub []byte) error {
	got, err := s.HPKEPublicKey(priv)
	if err != nil {
		return fmt.Errorf("mls: %s private key: %w", what, err)
	}
	if subtle.ConstantTimeCompare(got, pub) != 1 {
		return fmt.Errorf("mls: %s private key does not match the KeyPackage", what)
	}
	return nil
}

// InitPrivateKey returns the HPKE private key of the KeyPackage's init_key,
// with which the owner decrypts a Welcome.
func (b *KeyPackageBundle) InitPrivateKey() []byte { return b.initPriv }

// EncryptionPrivateKey returns the HPKE private key of the leaf's
// encryption_key, which the owner keeps as a member of the group.
func (b *KeyPackageBundle) EncryptionPrivateKey() []byte { return b.encPriv }

// Ref returns the KeyPackageRef of the bundle's KeyPackage, by which a
// Welcome names its recipient.
func (b *KeyPackageBundle) Ref() []byte { return b.ref }

// String names the suite and the KeyPackageRef; the private keys never
// appear. It and GoString have value receivers so that formatting a bundle
// value is redacted too.
func (b KeyPackageBundle) String() string {
	if b.KeyPackage == nil {
		return "mls.KeyPackageBundle(empty)"
	}
	return fmt.Sprintf("mls.KeyPackageBundle(%v, %s, ref %x, private keys redacted)",
		b.KeyPackage.CipherSuite, describeCredential(&b.KeyPackage.LeafNode.Credential), b.ref)
}

// GoString keeps %#v from printing the private keys.
func (b KeyPackageBundle) GoString() string { return b.String() }

// bundleFormat starts the storage encoding of a KeyPackageBundle: kind 0x02,
// version 0x01.
const bundleFormat = 0x0201

// MarshalBinary returns a storage encoding of b, private keys included:
//
//	struct {
//	    uint16 format = 0x0201;     // KeyPackageBundle, version 1
//	    KeyPackage key_package;     // as in RFC 9420 section 10
//	    opaque init_private_key<V>; // HPKE SerializePrivateKey
//	    opaque encryption_private_key<V>;
//	}
//
// Keep it secret. It is an Arbor format, not an MLS message.
func (b *KeyPackageBundle) MarshalBinary() ([]byte, error) {
	if b.KeyPackage == nil {
		return nil, errors.New("mls: empty KeyPackageBundle")
	}
	w := codec.NewBuilder(1024)
	w.AddUint16(bundleFormat)
	if raw := b.KeyPackage.raw; raw != nil {
		w.AddRaw(raw) // the signed bytes as received
	} else {
		b.KeyPackage.marshal(w)
	}
	w.AddOpaque(b.initPriv)
	w.AddOpaque(b.encPriv)
	return w.Bytes()
}

// UnmarshalBinary decodes a bundle stored by MarshalBinary. It checks that
// the private keys belong to the KeyPackage, not the KeyPackage's
// signatures: the bundle is the owner's own data.
func (b *KeyPackageBundle) UnmarshalBinary(data []byte) error {
	r := codec.NewReader(data)
	format := r.ReadUint16()
	kp := new(KeyPackage)
	kp.unmarshal(r)
	initPriv := r.ReadOpaque()
	encPriv := r.ReadOpaque()
	if err := r.Finish(); err != nil {
		return &decodeError{typ: "KeyPackageBundle", err: err}
	}
	if format != bundleFormat {
		return &decodeError{typ: "KeyPackageBundle", err: fmt.Errorf("unknown format 0x%04x", format)}
	}
	nb, err := NewKeyPackageBundle(kp, initPriv, encPriv)
	clear(initPriv)
	clear(encPriv)
	if err != nil {
		return &decodeError{typ: "KeyPackageBundle", err: err}
	}
	*b = *nb
	return nil
}

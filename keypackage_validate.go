package mls

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/arbormls/mls/ciphersuite"
)

// LifetimePolicy is how a client checks the lifetime of the key_package
// LeafNodes it sees: in KeyPackages it adds or receives in Add proposals,
// and in the ratchet trees it joins (the update and commit sources carry
// no lifetime). The zero value applies RFC 9420 and nothing stricter.
//
// Two rules apply. The current time must lie within [not_before,
// not_after]: section 7.3 makes this a MUST for a LeafNode in a message
// the client sends (a KeyPackage it adds), which is always checked, and
// only RECOMMENDS it for one it receives, which may have expired in
// transit (CheckReceived). And section 7.2 makes the application choose
// a maximum total lifetime (Max).
type LifetimePolicy struct {
	// Max is the application's maximum total lifetime, not_after -
	// not_before (RFC 9420 section 7.2), applied to every key_package
	// leaf, sent or received. Zero (or negative) means no maximum: other
	// implementations make KeyPackages valid for ever by default (MLS++
	// for [0, 2^64-1], ts-mls 1.6.4 for [0, 2^63-1]), and a bound here
	// would turn their users away.
	Max time.Duration
	// CheckReceived also checks the current time against the lifetime of
	// leaves received from others: in Add proposals, in ratchet trees
	// joined. Section 7.3 only recommends it, since a leaf may expire in
	// transit and real trees carry leaves long expired; it is off by
	// default.
	CheckReceived bool
	// Now returns the current time; nil means time.Now. Tests set it.
	Now func() time.Time
}

// check applies p to l and returns the rule broken, "" if none. sent is
// true for a leaf in a message this client sends, whose current-time
// check is mandatory.
func (p *LifetimePolicy) check(l *Lifetime, sent bool) (rule, reason string) {
	if p.Max > 0 && l.NotAfter >= l.NotBefore && l.NotAfter-l.NotBefore > uint64(p.Max/time.Second) {
		return ruleMaxLifetime, fmt.Sprintf("spans %ds, longer than the %v allowed", l.NotAfter-l.NotBefore, p.Max)
	}
	if !sent && !p.CheckReceived {
		return "", ""
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	t := now()
	// An empty range (not_before after not_after) contains no time.
	if u := t.Unix(); u < 0 || uint64(u) < l.NotBefore || uint64(u) > l.NotAfter {
		return ruleLifetime, fmt.Sprintf("not valid at %s (valid from %s to %s)", t.UTC().Format(time.RFC3339),
			formatUnix(l.NotBefore), formatUnix(l.NotAfter))
	}
	return "", ""
}

// ValidationPolicy is the application's policy for checking KeyPackages
// made by others. The zero value checks lifetimes against the system clock
// as for a KeyPackage this client is about to add, with no maximum
// lifetime, and validates no credentials.
type ValidationPolicy struct {
	// CredentialValidator is the Authentication Service. When nil,
	// credentials are not checked here and the caller must check them.
	CredentialValidator CredentialValidator
	// Lifetimes is the lifetime policy.
	Lifetimes LifetimePolicy
	// Received says that the KeyPackage came in a message from another
	// member (an Add proposal) rather than being about to be added by this
	// client: its current time is then checked only when
	// Lifetimes.CheckReceived is set (RFC 9420 section 7.3).
	Received bool
}

// The rules KeyPackage.Validate names in a ValidationError.
const (
	ruleVersion        = "version"
	ruleCipherSuite    = "cipher suite"
	ruleLeafSource     = "leaf node source"
	rulePublicKey      = "public key"
	ruleDistinctKeys   = "init key equals encryption key"
	ruleCapabilities   = "capabilities"
	ruleCredentialType = "credential type"
	ruleExtensions     = "extensions"
	ruleKPExtensions   = "key_package_extensions"
	ruleLifetime       = "lifetime"
	ruleMaxLifetime    = "max_lifetime"
	ruleLeafSignature  = "leaf node signature"
	ruleKPSignature    = "key package signature"
	ruleCredential     = "credential"
)

func invalid(rule string, format string, args ...any) *ValidationError {
	return &ValidationError{Rule: rule, Err: fmt.Errorf(format, args...)}
}

// Validate checks kp for use in a group of cipher suite suite (RFC 9420
// section 10.1, with the checks of section 7.3 that need no ratchet tree).
// policy may be nil. It returns a *ValidationError whose Rule is one of:
//
//   - "version": the version is not mls10.
//   - "cipher suite": the suite is not the group's, or not supported.
//   - "leaf node source": the LeafNode's source is not key_package.
//   - "public key": init_key or encryption_key is not a valid HPKE public
//     key of the suite.
//   - "init key equals encryption key".
//   - "capabilities": the capabilities do not list mls10 and the suite.
//   - "credential type": the credential's type is not in the capabilities.
//   - "duplicate_extension": an extension type appears twice in
//     KeyPackage.extensions.
//   - "extensions": an extension type appears twice in the LeafNode's
//     extensions, or a non-default one is not in its capabilities.
//     Unknown types in KeyPackage.extensions (GREASE among them) are
//     accepted whether listed or not (RFC 9420 section 13.4).
//   - "lifetime": the current time is outside the lifetime (unless
//     policy.Received is set without Lifetimes.CheckReceived).
//   - "max_lifetime": the lifetime is longer than Lifetimes.Max.
//   - "leaf node signature", "key package signature": a signature does not
//     verify with the leaf's signature_key (or the key is malformed).
//   - "credential": the policy's CredentialValidator rejected the
//     credential; Err wraps its error.
//
// Checks that need the group (required_capabilities, support of the
// members' credential types, uniqueness of keys) belong to the group.
func (kp *KeyPackage) Validate(suite ciphersuite.ID, policy *ValidationPolicy) error {
	return kp.validate(suite, policy, CredentialContext{Event: CredentialEventKeyPackage, Suite: suite})
}

// validate is Validate with the context given to the CredentialValidator,
// so that the group can pass its ID.
func (kp *KeyPackage) validate(suite ciphersuite.ID, policy *ValidationPolicy, ctx CredentialContext) error {
	if policy == nil {
		policy = &ValidationPolicy{}
	}
	if kp.CipherSuite != suite {
		return invalid(ruleCipherSuite, "KeyPackage for %v, group uses %v", kp.CipherSuite, suite)
	}
	s, err := ciphersuite.Lookup(suite)
	if err != nil {
		return &ValidationError{Rule: ruleCipherSuite, Err: err}
	}
	if err := kp.checkContents(s); err != nil {
		return err
	}
	if rule, reason := policy.Lifetimes.check(kp.LeafNode.Lifetime, !policy.Received); rule != "" {
		return &ValidationError{Rule: rule, Reason: reason, Err: ErrLeafLifetime}
	}
	ln := &kp.LeafNode
	ltbs, err := ln.TBS(nil, 0)
	if err == nil {
		err = s.VerifyWithLabel(ln.SignatureKey, "LeafNodeTBS", ltbs, ln.Signature)
	}
	if err != nil {
		return &ValidationError{Rule: ruleLeafSignature, Err: err}
	}
	tbs, err := kp.TBS()
	if err == nil {
		err = s.VerifyWithLabel(ln.SignatureKey, "KeyPackageTBS", tbs, kp.Signature)
	}
	if err != nil {
		return &ValidationError{Rule: ruleKPSignature, Err: err}
	}
	if v := policy.CredentialValidator; v != nil {
		if err := v.ValidateCredential(ctx, ln.Credential, ln.SignatureKey); err != nil {
			return &ValidationError{Rule: ruleCredential, Err: err}
		}
	}
	return nil
}

// checkContents runs the checks of Validate that need neither signatures,
// the clock nor the Authentication Service; NewKeyPackage runs them on what
// it is about to sign. kp.CipherSuite must be s.
func (kp *KeyPackage) checkContents(s *ciphersuite.Suite) error {
	if kp.Version != ProtocolVersionMLS10 {
		return invalid(ruleVersion, "%v, want mls10", kp.Version)
	}
	ln := &kp.LeafNode
	if ln.LeafNodeSource != LeafNodeSourceKeyPackage || ln.Lifetime == nil || ln.ParentHash != nil {
		return invalid(ruleLeafSource, "%v, want key_package with a lifetime", ln.LeafNodeSource)
	}
	if err := s.ValidateHPKEPublicKey(kp.InitKey); err != nil {
		return invalid(rulePublicKey, "init_key: %w", err)
	}
	if err := s.ValidateHPKEPublicKey(ln.EncryptionKey); err != nil {
		return invalid(rulePublicKey, "encryption_key: %w", err)
	}
	// Public keys: no constant-time compare needed.
	if bytes.Equal(kp.InitKey, ln.EncryptionKey) {
		return &ValidationError{Rule: ruleDistinctKeys, Err: errors.New("the leaf's encryption_key must differ from init_key")}
	}
	caps := &ln.Capabilities
	if !slices.Contains(caps.Versions, kp.Version) {
		return invalid(ruleCapabilities, "versions do not list %v", kp.Version)
	}
	// RFC 9420 does not require capabilities.cipher_suites to list the
	// KeyPackage's own suite, and official vectors carry KeyPackages that
	// omit it: accept them (Arbor's own KeyPackages always list it).
	if t := ln.Credential.CredentialType; !slices.Contains(caps.Credentials, t) {
		return invalid(ruleCredentialType, "%v credential, not listed in capabilities", t)
	}
	// KeyPackage.extensions need not be listed in the capabilities: a
	// receiver MUST ignore unknown ones (RFC 9420 section 13.4), GREASE
	// values among them (13.5), and KeyPackage validation (10.1) has no
	// such rule. Only the 13.4 rule of every extension list applies. The
	// creator's duty to list them (section 10) is NewKeyPackage's.
	if hasDuplicateExtension(kp.Extensions) {
		return invalid(ruleDuplicateExtension, "KeyPackage: extension type listed twice")
	}
	if reason := extensionsProblem(ln.Extensions, caps); reason != "" {
		return invalid(ruleExtensions, "LeafNode: %s", reason)
	}
	return nil
}

// formatUnix formats seconds since the Unix epoch for error messages; values
// beyond what time.Time holds are printed as numbers.
func formatUnix(s uint64) string {
	if s > 1<<62 {
		return fmt.Sprint(s)
	}
	return time.Unix(int64(s), 0).UTC().Format(time.RFC3339)
}

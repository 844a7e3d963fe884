package mls

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/arbormls/mls/ciphersuite"
)

// DefaultMaxLifetime is the longest lifetime (not_after - not_before) a
// LeafNode may claim when ValidationPolicy.MaxLifetime is zero. RFC 9420
// section 7.2 makes every application set such a bound. A year and a day
// accepts the KeyPackages of common implementations (ours last 90 days and
// an hour) while keeping a stolen KeyPackage from staying usable for ever.
const DefaultMaxLifetime = 366 * 24 * time.Hour

// ValidationPolicy is the application's policy for checking KeyPackages and
// LeafNodes made by others. The zero value checks lifetimes against the
// system clock with DefaultMaxLifetime and validates no credentials.
type ValidationPolicy struct {
	// CredentialValidator is the Authentication Service. When nil,
	// credentials are not checked here and the caller must check them.
	CredentialValidator CredentialValidator
	// Now returns the current time for lifetime checks; nil means time.Now.
	Now func() time.Time
	// SkipLifetimeCheck turns off both lifetime rules: that the current
	// time lies within the lifetime and that the lifetime is not longer
	// than MaxLifetime. RFC 9420 section 7.3 requires the check for a
	// LeafNode the client sends (a KeyPackage it adds) and only recommends
	// it for one it receives, which may have expired in transit.
	SkipLifetimeCheck bool
	// MaxLifetime bounds not_after - not_before. Zero means
	// DefaultMaxLifetime; a negative value means no bound.
	MaxLifetime time.Duration
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
	ruleLifetime       = "lifetime"
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
//   - "extensions": an extension type appears twice in one list, or a
//     non-default type used in the KeyPackage or its LeafNode is not in the
//     capabilities.
//   - "lifetime": the current time is outside the lifetime, or the
//     lifetime is longer than the policy allows.
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
	if err := policy.checkLifetime(kp.LeafNode.Lifetime); err != nil {
		return err
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
	if err := checkExtensions("KeyPackage", kp.Extensions, caps); err != nil {
		return err
	}
	return checkExtensions("LeafNode", ln.Extensions, caps)
}

// checkExtensions is extensionsProblem as a ValidationError of
// KeyPackage.Validate; where names the list checked.
func checkExtensions(where string, exts Extensions, caps *Capabilities) error {
	if reason := extensionsProblem(exts, caps); reason != "" {
		return invalid(ruleExtensions, "%s: %s", where, reason)
	}
	return nil
}

// checkLifetime applies the lifetime rules of p to l (RFC 9420 section
// 7.3): now within [not_before, not_after], both ends included, and the
// span within MaxLifetime.
func (p *ValidationPolicy) checkLifetime(l *Lifetime) error {
	if p.SkipLifetimeCheck {
		return nil
	}
	if l.NotBefore > l.NotAfter {
		return invalid(ruleLifetime, "not_before %d is after not_after %d", l.NotBefore, l.NotAfter)
	}
	maxLife := p.MaxLifetime
	if maxLife == 0 {
		maxLife = DefaultMaxLifetime
	}
	if maxLife > 0 && l.NotAfter-l.NotBefore > uint64(maxLife/time.Second) {
		return invalid(ruleLifetime, "spans %ds, longer than the %v allowed", l.NotAfter-l.NotBefore, maxLife)
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	t := now()
	if u := unixSeconds(t); u < l.NotBefore || u > l.NotAfter {
		return invalid(ruleLifetime, "not valid at %s (valid from %s to %s)", t.UTC().Format(time.RFC3339),
			formatUnix(l.NotBefore), formatUnix(l.NotAfter))
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

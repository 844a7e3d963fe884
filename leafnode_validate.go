package mls

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/codec"
)

// Sentinel errors wrapped by a *ValidationError, one per kind of rule, for
// callers that branch on what was wrong.
var (
	// ErrLeafSignature: a leaf node's signature does not verify.
	ErrLeafSignature = errors.New("mls: leaf node signature does not verify")
	// ErrLeafNodeSource: the leaf_node_source does not fit the context.
	ErrLeafNodeSource = errors.New("mls: wrong leaf_node_source")
	// ErrLeafLifetime: the current time is outside the leaf's lifetime, or
	// the lifetime is longer than the application allows.
	ErrLeafLifetime = errors.New("mls: leaf node lifetime expired or not yet valid")
	// ErrCapabilities: a credential type, extension or proposal type is
	// used or required without being supported.
	ErrCapabilities = errors.New("mls: unsupported capability")
	// ErrDuplicateEncryptionKey: an HPKE public key appears twice in the
	// tree, or an update keeps the key it replaces.
	ErrDuplicateEncryptionKey = errors.New("mls: encryption key not unique")
	// ErrDuplicateSignatureKey: two members share a signature key.
	ErrDuplicateSignatureKey = errors.New("mls: signature key not unique")
	// ErrUnmergedLeaves: an unmerged_leaves list breaks RFC 9420 section
	// 7.1 or 12.4.3.1.
	ErrUnmergedLeaves = errors.New("mls: invalid unmerged leaves")
	// ErrParentHash: a parent node is not parent-hash valid, or a new leaf
	// carries the wrong parent hash.
	ErrParentHash = errors.New("mls: invalid parent hash")
	// ErrTreeShape: the tree has no member, or a node list puts a leaf
	// where a parent belongs or the other way round (RFC 9420 section
	// 12.4.3.3: leaves at even positions, parents at odd ones).
	ErrTreeShape = errors.New("mls: invalid ratchet tree shape")
	// ErrCredential: the application's credential validator rejected a
	// leaf's credential.
	ErrCredential = errors.New("mls: credential rejected")
)

// ruleSections maps each rule name to the RFC 9420 section that states it.
var ruleSections = map[string]string{
	"signature":             "7.3",
	"leaf_node_source":      "7.3",
	"lifetime":              "7.3",
	"max_lifetime":          "7.2",
	"credential_type":       "7.3",
	"extensions":            "7.2",
	"required_capabilities": "7.3",
	"group_extensions":      "13.4",
	"unique_encryption_key": "7.3",
	"unique_signature_key":  "7.3",
	"unmerged_leaves":       "12.4.3.1",
	"parent_hash":           "7.9.2",
	"members":               "12.4.3.3",
	"credential":            "5.3.1",

	// The rules of KeyPackage.Validate and NewKeyPackage.
	ruleVersion:        "10.1",
	ruleCipherSuite:    "10.1",
	ruleLeafSource:     "10",
	rulePublicKey:      "10",
	ruleDistinctKeys:   "10.1",
	ruleCapabilities:   "7.2",
	ruleCredentialType: "7.2",
	ruleLeafSignature:  "7.3",
	ruleKPSignature:    "10",
	ruleKPExtensions:   "10",
}

func validationErr(sentinel error, rule string, x NodeIndex, reason string) error {
	return &ValidationError{Rule: rule, Node: x, HasNode: true, Reason: reason, Err: sentinel}
}

// LeafValidationOptions sets the policy of leaf node validation.
type LeafValidationOptions struct {
	// Lifetimes is the lifetime policy applied to key_package leaves, as
	// to leaves received from others (LifetimePolicy.CheckReceived decides
	// whether the current time is checked). Nil checks no lifetime.
	Lifetimes *LifetimePolicy
	// ValidateCredential, when set, is the application's validation of a
	// leaf's credential and its binding to the signature key (RFC 9420
	// section 5.3.1). Validate calls it for each leaf concurrently.
	ValidateCredential func(c *Credential, signatureKey []byte) error
	// GroupContextExtensions, when not nil, are the extensions of the
	// group: the leaf must meet their required_capabilities and support
	// every extension type in them (RFC 9420 sections 7.3 and 13.4, and
	// erratum 8745, which applies these checks to the leaves of Update
	// proposals and commit paths as well as to KeyPackages).
	GroupContextExtensions Extensions
	// BatchVerify lets RatchetTree.Validate check Ed25519 leaf signatures
	// in batches, about three times faster. It is off by default because
	// batch verification also accepts signatures with a small-order
	// component, which single verification (and most other MLS
	// implementations) reject; see ciphersuite.Suite.BatchVerifyWithLabel.
	// Suites without Ed25519 ignore it.
	BatchVerify bool
}

// census counts, over the whole tree, what leaf validation needs to know
// in O(1): how often each HPKE and signature key appears, and which
// credential types members use and support. It is built in O(n) once and
// then maintained as the tree changes.
type census struct {
	encKeys counts[string] // HPKE keys of all non-blank nodes
	sigKeys counts[string] // signature keys of all leaves
	credUse counts[CredentialType]
	credSup counts[CredentialType]
	used    int // credential types with credUse > 0
}

// counts is a multiset. Clones share base, which is never written once
// shared; changes go to delta, folded into a new base when it grows.
type counts[K comparable] struct {
	base  map[K]int32
	delta map[K]int32
}

func (c *counts[K]) get(k K) int32 { return c.base[k] + c.delta[k] }

func (c *counts[K]) add(k K, d int32) {
	if c.delta == nil {
		c.delta = make(map[K]int32)
	}
	if v := c.delta[k] + d; v == 0 {
		delete(c.delta, k)
	} else {
		c.delta[k] = v
	}
	// Clones copy delta, so it is kept small: folding costs O(n) once
	// every n/32 changes.
	if len(c.delta) > 64+len(c.base)/32 {
		nb := maps.Clone(c.base)
		if nb == nil {
			nb = make(map[K]int32, len(c.delta))
		}
		for k, d := range c.delta {
			if v := nb[k] + d; v == 0 {
				delete(nb, k)
			} else {
				nb[k] = v
			}
		}
		c.base, c.delta = nb, nil
	}
}

func (c *counts[K]) clone() counts[K] { return counts[K]{base: c.base, delta: maps.Clone(c.delta)} }

// getBytes is get for a byte-string key, without allocating.
func getBytes(c *counts[string], k []byte) int32 { return c.base[string(k)] + c.delta[string(k)] }

func (c *census) clone() *census {
	return &census{
		encKeys: c.encKeys.clone(), sigKeys: c.sigKeys.clone(),
		credUse: c.credUse.clone(), credSup: c.credSup.clone(), used: c.used,
	}
}

func (c *census) addLeaf(ln *LeafNode)    { c.leaf(ln, 1) }
func (c *census) removeLeaf(ln *LeafNode) { c.leaf(ln, -1) }

func (c *census) leaf(ln *LeafNode, d int32) {
	c.encKeys.add(string(ln.EncryptionKey), d)
	c.sigKeys.add(string(ln.SignatureKey), d)
	t := ln.Credential.CredentialType
	before := c.credUse.get(t)
	c.credUse.add(t, d)
	switch after := before + d; {
	case before == 0 && after > 0:
		c.used++
	case before > 0 && after == 0:
		c.used--
	}
	for _, s := range distinct(ln.Capabilities.Credentials) {
		c.credSup.add(s, d)
	}
}

// buildCensus counts the whole tree. It returns the census and the first
// duplicate key met, as a *ValidationError, or nil.
func (t *RatchetTree) buildCensus() (*census, error) {
	c := &census{
		encKeys: counts[string]{base: make(map[string]int32, 2*t.members)},
		sigKeys: counts[string]{base: make(map[string]int32, t.members)},
		credUse: counts[CredentialType]{base: make(map[CredentialType]int32)},
		credSup: counts[CredentialType]{base: make(map[CredentialType]int32)},
	}
	var dup error
	for x := NodeIndex(0); uint32(x) < t.width(); x++ {
		if t.isBlank(x) {
			continue
		}
		key := t.encryptionKey(x)
		if c.encKeys.base[string(key)]++; c.encKeys.base[string(key)] > 1 && dup == nil {
			dup = validationErr(ErrDuplicateEncryptionKey, "unique_encryption_key", x, "HPKE key already used by another node")
		}
		if !x.IsLeaf() {
			continue
		}
		ln := t.slot(x.LeafIndex()).node
		if c.sigKeys.base[string(ln.SignatureKey)]++; c.sigKeys.base[string(ln.SignatureKey)] > 1 && dup == nil {
			dup = validationErr(ErrDuplicateSignatureKey, "unique_signature_key", x, "signature key already used by another member")
		}
		if c.credUse.base[ln.Credential.CredentialType]++; c.credUse.base[ln.Credential.CredentialType] == 1 {
			c.used++
		}
		for _, s := range distinct(ln.Capabilities.Credentials) {
			c.credSup.base[s]++
		}
	}
	return c, dup
}

// getCensus returns the census, building it if needed.
func (t *RatchetTree) getCensus() *census {
	if t.census == nil {
		t.census, _ = t.buildCensus()
	}
	return t.census
}

// groupCaps is what the group's extensions require of a leaf.
type groupCaps struct {
	required   *RequiredCapabilities
	extensions []ExtensionType
}

func parseGroupCaps(opts *LeafValidationOptions) (*groupCaps, error) {
	if opts == nil || opts.GroupContextExtensions == nil {
		return nil, nil
	}
	gc := &groupCaps{}
	for _, e := range opts.GroupContextExtensions {
		gc.extensions = append(gc.extensions, e.ExtensionType)
		if e.ExtensionType == ExtensionTypeRequiredCapabilities {
			gc.required = new(RequiredCapabilities)
			if err := gc.required.UnmarshalBinary(e.ExtensionData); err != nil {
				return nil, err
			}
		}
	}
	return gc, nil
}

func isDefaultProposal(t ProposalType) bool { return t >= 1 && t <= 7 }

// unsupported returns the rule that caps break among the group's
// requirements and why, or "" when caps meet them (or gc is nil).
func (gc *groupCaps) unsupported(caps *Capabilities) (rule, reason string) {
	if gc == nil {
		return "", ""
	}
	if rc := gc.required; rc != nil {
		if !allListed(nonDefault(rc.ExtensionTypes, isDefaultExtension), caps.Extensions) ||
			!allListed(nonDefault(rc.ProposalTypes, isDefaultProposal), caps.Proposals) ||
			!allListed(rc.CredentialTypes, caps.Credentials) {
			return "required_capabilities", "required capability not supported"
		}
	}
	if !allListed(nonDefault(gc.extensions, isDefaultExtension), caps.Extensions) {
		return "group_extensions", "group context extension not supported"
	}
	return "", ""
}

// ValidateLeafNode checks ln as RFC 9420 section 7.3 requires of every
// leaf node a client sees, for the position index of this tree: the
// leaf of a KeyPackage to be added (source key_package), of an Update
// proposal (source update) or of a commit's UpdatePath (source commit).
// The leaf currently at index, if any, is the one ln replaces: it does
// not count for uniqueness and capabilities, and for the update and
// commit sources ln must bring a new encryption key. groupID and index
// enter the signature for the update and commit sources.
//
// The checks: leaf_node_source; the credential type is supported by ln
// and by every other member, and ln supports every credential type in
// use; ln's extensions are listed in its capabilities; the group's
// required capabilities and extensions, when opts gives them; the
// lifetime, when opts asks for it; encryption and signature keys unique
// in the tree; the signature; and the credential, with the application's
// validator if opts has one (RFC 9420 section 5.3.1).
func (t *RatchetTree) ValidateLeafNode(ln *LeafNode, source LeafNodeSource, groupID []byte, index LeafIndex, opts *LeafValidationOptions) error {
	if source < LeafNodeSourceKeyPackage || source > LeafNodeSourceCommit {
		return fmt.Errorf("mls: invalid leaf_node_source %d", source)
	}
	s, gc, err := prepareLeaf(ln, opts)
	if err != nil {
		return err
	}
	return t.validateLeaf(s, source, false, groupID, index, opts, gc, t.getCensus())
}

// prepareLeaf encodes a leaf to validate and parses the group's
// requirements.
func prepareLeaf(ln *LeafNode, opts *LeafValidationOptions) (*leafSlot, *groupCaps, error) {
	enc, err := ln.MarshalBinary()
	if err != nil {
		return nil, nil, err
	}
	gc, err := parseGroupCaps(opts)
	if err != nil {
		return nil, nil, err
	}
	return &leafSlot{node: ln, enc: enc}, gc, nil
}

// validateLeaf is the one leaf validation behind ValidateLeafNode,
// MergeUpdatePath and Validate (which runs its two halves separately, to
// verify signatures while the census is built). want is the required
// source, or 0 for any; stored is true when s is the leaf stored at index
// (tree validation).
func (t *RatchetTree) validateLeaf(s *leafSlot, want LeafNodeSource, stored bool, groupID []byte, index LeafIndex, opts *LeafValidationOptions, gc *groupCaps, c *census) error {
	if err := t.checkLeafFields(s, want, stored, index, opts, gc, c); err != nil {
		return err
	}
	return t.verifyLeafSignature(s, groupID, index)
}

// checkLeafFields is validateLeaf without the signature.
func (t *RatchetTree) checkLeafFields(s *leafSlot, want LeafNodeSource, stored bool, index LeafIndex, opts *LeafValidationOptions, gc *groupCaps, c *census) error {
	ln := s.node
	x := index.NodeIndex()
	fail := func(sentinel error, rule, reason string) error {
		return validationErr(sentinel, rule, x, reason)
	}
	if want != 0 && ln.LeafNodeSource != want {
		return fail(ErrLeafNodeSource, "leaf_node_source", fmt.Sprintf("%v, want %v", ln.LeafNodeSource, want))
	}

	// The leaf's own consistency (section 7.2).
	caps := &ln.Capabilities
	ct := ln.Credential.CredentialType
	if !slices.Contains(caps.Credentials, ct) {
		return fail(ErrCapabilities, "credential_type", "credential type not in the leaf's own capabilities")
	}
	if reason := extensionsProblem(ln.Extensions, caps); reason != "" {
		return fail(ErrCapabilities, "extensions", reason)
	}

	// Compatibility with the group's parameters.
	if rule, reason := gc.unsupported(caps); rule != "" {
		return fail(ErrCapabilities, rule, reason)
	}

	if opts != nil && opts.ValidateCredential != nil {
		if err := opts.ValidateCredential(&ln.Credential, ln.SignatureKey); err != nil {
			return &ValidationError{Rule: "credential", Node: x, HasNode: true, Reason: err.Error(), Err: ErrCredential, Cause: err}
		}
	}

	// Credential types against the other members, in O(1) from the
	// census: old, the leaf being replaced, does not count.
	old := t.slot(index)
	members := int32(t.members)
	used := int32(c.used)
	oldUses := func(ct CredentialType) int32 { return 0 }
	oldSupports := func(ct CredentialType) int32 { return 0 }
	if old != nil {
		members--
		oc := old.node.Credential.CredentialType
		if c.credUse.get(oc) == 1 {
			used--
		}
		oldUses = func(ct CredentialType) int32 { return b2i(ct == oc) }
		oldSupports = func(ct CredentialType) int32 {
			return b2i(slices.Contains(old.node.Capabilities.Credentials, ct))
		}
	}
	if c.credSup.get(ct)-oldSupports(ct) != members {
		return fail(ErrCapabilities, "credential_type", "credential type not supported by every member")
	}
	supported := int32(0)
	for _, st := range distinct(caps.Credentials) {
		if c.credUse.get(st)-oldUses(st) > 0 {
			supported++
		}
	}
	if supported != used {
		return fail(ErrCapabilities, "credential_type", "a credential type in use is not supported")
	}

	if lt := ln.Lifetime; opts != nil && opts.Lifetimes != nil && lt != nil {
		if rule, reason := opts.Lifetimes.check(lt, false); rule != "" {
			return fail(ErrLeafLifetime, rule, reason)
		}
	}

	// Uniqueness of keys, in O(1) from the census.
	encCount, sigCount := getBytes(&c.encKeys, ln.EncryptionKey), getBytes(&c.sigKeys, ln.SignatureKey)
	if old != nil {
		sameEnc := bytes.Equal(old.node.EncryptionKey, ln.EncryptionKey)
		if sameEnc && !stored && want != LeafNodeSourceKeyPackage {
			return fail(ErrDuplicateEncryptionKey, "unique_encryption_key", "encryption key of the leaf it replaces")
		}
		encCount -= b2i(sameEnc)
		sigCount -= b2i(bytes.Equal(old.node.SignatureKey, ln.SignatureKey))
	}
	if encCount != 0 {
		return fail(ErrDuplicateEncryptionKey, "unique_encryption_key", "encryption key used by another node")
	}
	if sigCount != 0 {
		return fail(ErrDuplicateSignatureKey, "unique_signature_key", "signature key used by another member")
	}

	return nil
}

// verifyLeafSignature checks the signature of a leaf at index.
func (t *RatchetTree) verifyLeafSignature(s *leafSlot, groupID []byte, index LeafIndex) error {
	tbs := leafTBS(s, groupID, index)
	if err := t.suite.VerifyWithLabel(s.node.SignatureKey, "LeafNodeTBS", tbs, s.node.Signature); err != nil {
		return validationErr(ErrLeafSignature, "signature", index.NodeIndex(), "LeafNodeTBS signature does not verify")
	}
	return nil
}

// batchGrain is the fewest leaves verified in one batch: below a few
// hundred signatures the batch's fixed costs eat its gain.
const batchGrain = 512

// batchVerifyLeaves checks the signatures of leaves lo to hi-1 as one
// batch (see LeafValidationOptions.BatchVerify).
func (t *RatchetTree) batchVerifyLeaves(groupID []byte, lo, hi int) error {
	items := make([]ciphersuite.BatchItem, 0, hi-lo)
	for i := lo; i < hi; i++ {
		if s := t.slot(LeafIndex(i)); s != nil {
			items = append(items, ciphersuite.BatchItem{PublicKey: s.node.SignatureKey, Content: leafTBS(s, groupID, LeafIndex(i)), Signature: s.node.Signature})
		}
	}
	return t.suite.BatchVerifyWithLabel("LeafNodeTBS", items)
}

// leafTBS returns the LeafNodeTBS of a stored leaf: its encoding without
// the signature, then group_id and leaf_index for the update and commit
// sources (RFC 9420 section 7.2).
func leafTBS(s *leafSlot, groupID []byte, index LeafIndex) []byte {
	prefix := s.enc[:len(s.enc)-varintLen(len(s.node.Signature))-len(s.node.Signature)]
	b := codec.NewBuilder(len(prefix) + len(groupID) + 8)
	b.AddRaw(prefix)
	if src := s.node.LeafNodeSource; src == LeafNodeSourceUpdate || src == LeafNodeSourceCommit {
		b.AddOpaque(groupID)
		b.AddUint32(uint32(index))
	}
	tbs, _ := b.Bytes()
	return tbs
}

// varintLen is the size of the MLS varint header of a length n.
func varintLen(n int) int {
	switch {
	case n < 1<<6:
		return 1
	case n < 1<<14:
		return 2
	}
	return 4
}

func b2i(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

// extensionsProblem checks the extensions of a LeafNode against its
// capabilities: no type twice (RFC 9420 section 13.4) and every
// non-default type listed (sections 7.2 and 7.3). It returns what is
// wrong, or "" when nothing is. Both lists come from the wire, so the
// checks stay O(n log n).
func extensionsProblem(exts Extensions, caps *Capabilities) string {
	if len(exts) == 0 {
		return ""
	}
	types := extensionTypes(exts)
	if len(distinct(types)) != len(types) {
		return "extension type listed twice"
	}
	if !allListed(nonDefault(types, isDefaultExtension), caps.Extensions) {
		return "extension not listed in capabilities"
	}
	return ""
}

// hasDuplicateExtension reports whether an extension type appears twice in
// exts, which RFC 9420 section 13.4 forbids in every extension list.
func hasDuplicateExtension(exts Extensions) bool {
	types := extensionTypes(exts)
	return len(distinct(types)) != len(types)
}

func extensionTypes(exts Extensions) []ExtensionType {
	types := make([]ExtensionType, len(exts))
	for k, e := range exts {
		types[k] = e.ExtensionType
	}
	return types
}

// distinct returns the distinct values of s in increasing order; s itself
// when it already is so.
func distinct[T cmp.Ordered](s []T) []T {
	ok := true
	for k := 1; k < len(s) && ok; k++ {
		ok = s[k-1] < s[k]
	}
	if ok {
		return s
	}
	return slices.Compact(slices.Sorted(slices.Values(s)))
}

// nonDefault returns the values of s for which isDefault is false.
func nonDefault[T any](s []T, isDefault func(T) bool) []T {
	var out []T
	for _, v := range s {
		if !isDefault(v) {
			out = append(out, v)
		}
	}
	return out
}

// allListed reports whether every item is in list, in O((m+n) log n) for
// long lists, so that a crafted leaf cannot make validation quadratic.
func allListed[T cmp.Ordered](items, list []T) bool {
	if len(items)*len(list) <= 256 {
		for _, v := range items {
			if !slices.Contains(list, v) {
				return false
			}
		}
		return true
	}
	sorted := distinct(list)
	for _, v := range items {
		if _, found := slices.BinarySearch(sorted, v); !found {
			return false
		}
	}
	return true
}

// Validate checks a whole tree as a client joining a group must (RFC 9420
// section 12.4.3.1): every leaf with ValidateLeafNode's checks (any
// source, signatures over groupID and the leaf's index), HPKE keys unique
// among all nodes, the unmerged leaves of every parent, and the parent-hash
// validity of every parent. It does not compare the tree hash with the
// GroupInfo's: see TreeHash.
//
// The cost is O(n): uniqueness and credential checks count into hash maps,
// and the leaf signatures, which dominate, are verified on all cores while
// the rest is computed. The error returned, a *ValidationError, is
// deterministic: a duplicate key first, then the lowest failing leaf, then
// unmerged leaves, then parent hashes.
func (t *RatchetTree) Validate(groupID []byte, opts *LeafValidationOptions) error {
	if t.members == 0 {
		return validationErr(ErrTreeShape, "members", t.Root(), "tree without any member")
	}
	gc, err := parseGroupCaps(opts)
	if err != nil {
		return err
	}
	// Hashing writes to the chunks while the signature workers read them:
	// own every chunk first, so that no chunk pointer changes meanwhile.
	for x := NodeIndex(0); uint32(x) < t.width(); x += chunkNodes {
		t.writable(x)
	}
	var c *census
	var dupErr, structErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		if c, dupErr = t.buildCensus(); dupErr != nil {
			return
		}
		t.hashOf(t.Root())
		if structErr = t.checkUnmergedLeaves(); structErr == nil {
			structErr = t.checkParentHashes()
		}
	})
	verify := func(lo, hi int) error {
		for i := lo; i < hi; i++ {
			if s := t.slot(LeafIndex(i)); s != nil {
				if err := t.verifyLeafSignature(s, groupID, LeafIndex(i)); err != nil {
					return err
				}
			}
		}
		return nil
	}
	grain := 64
	if opts != nil && opts.BatchVerify && t.suite.CanBatchVerify() {
		grain = batchGrain
		single := verify
		verify = func(lo, hi int) error {
			if t.batchVerifyLeaves(groupID, lo, hi) == nil {
				return nil
			}
			return single(lo, hi) // find the failing leaf
		}
	}
	sigErr := parallelFor(int(t.n), grain, verify)
	wg.Wait()
	t.census = c
	if dupErr != nil {
		return dupErr
	}
	fieldErr := parallelFor(int(t.n), 256, func(lo, hi int) error {
		for i := lo; i < hi; i++ {
			if s := t.slot(LeafIndex(i)); s != nil {
				if err := t.checkLeafFields(s, 0, true, LeafIndex(i), opts, gc, c); err != nil {
					return err
				}
			}
		}
		return nil
	})
	// The lowest failing leaf wins; for one leaf, its fields are checked
	// before its signature, as in validateLeaf.
	var fe, se *ValidationError
	errors.As(fieldErr, &fe)
	errors.As(sigErr, &se)
	switch {
	case fe != nil && (se == nil || fe.Node <= se.Node):
		return fieldErr
	case se != nil:
		return sigErr
	}
	return structErr
}

package main

import (
	"fmt"
	"math/bits"

	"github.com/arbormls/mls/internal/treemath"
)

// Primitive costs in microseconds, one core, suite 1. They start as the
// "Performance facts" of DESIGN.md; useMeasured replaces them with the
// primitives measured in the mls bench run being reported, so that a
// bound and the time it is compared with come from one machine on one day.
var (
	costX25519 = 31.0 // X25519 key generation (a key pair from a path secret) or DH
	costSign   = 15.5 // Ed25519 signature
	costVerify = 36.0 // Ed25519 verification
	costSeal   = 74.0 // HPKE seal (ephemeral key generation, DH, key schedule, AEAD)
	costOpen   = 38.5 // HPKE open
	costHash   = 0.12 // SHA-256 of about 100 bytes: one tree-hash node
	costExpand = 0.44 // HKDF-Expand
	costAEAD   = 0.2  // AES-128-GCM seal or open of 1 KiB
)

const (
	cores      = 2.0 // of this machine
	leafSigs   = 2   // signatures a commit makes, and a member checks: LeafNode and FramedContent
	kpSigs     = 2   // signatures on a KeyPackage: its own and its LeafNode's
	ratchetOps = 3   // HKDF-Expand calls to take one message key and nonce from the secret tree
)

// useMeasured takes the primitive costs from prims (microseconds, by the
// name after "prim-" in mls bench output) when all are there, and returns
// a sentence saying where the costs come from. An HPKE open is priced as
// half a seal: a seal makes an ephemeral key pair and one DH, an open only
// the DH. (Arbor's measured open also derives the recipient's public key
// from its private key, a second X25519 the bound leaves out; and the
// measured X25519 key pair is fixed-base, cheaper than a DH.)
func useMeasured(prims map[string]float64) string {
	for _, n := range []string{"x25519", "sign", "verify", "seal", "open", "hash", "expand", "aead"} {
		if prims[n] <= 0 {
			return "Lower bounds from the primitive costs of DESIGN.md (this run measured none)."
		}
	}
	costX25519, costSign, costVerify, costSeal = prims["x25519"], prims["sign"], prims["verify"], prims["seal"]
	costOpen, costHash, costExpand, costAEAD = prims["seal"]/2, prims["hash"], prims["expand"], prims["aead"]
	return fmt.Sprintf("Lower bounds from the primitive costs measured in this run (one core, fastest batch): X25519 %.3g µs, "+
		"Ed25519 sign %.3g µs and verify %.3g µs, HPKE seal %.3g µs, open half a seal (Arbor's open measured %.3g µs), "+
		"SHA-256 of 100 B %.3g µs, HKDF-Expand %.3g µs, AES-GCM of 1 KiB %.3g µs.",
		costX25519, costSign, costVerify, costSeal, prims["open"], costHash, costExpand, costAEAD)
}

// bound is the work an operation needs at the least: the public-key
// operations RFC 9420 requires for it (and, where they matter, tree
// hashing and the message AEAD), in microseconds. serial is that work on
// one core; parallel is the same spread perfectly over the machine's
// cores (an operation on one message, protect or unprotect, is one chain
// and stays serial). parallel is the lower bound the ratios use.
type bound struct {
	serial, parallel float64
}

// tree is a ratchet tree of n members in leaves 0..n-1: full (every parent
// whose subtree holds a member is set) or sparse (every parent blank).
type tree struct {
	n       int
	full    bool
	removed int // a leaf blanked by a Remove, with its direct path; -1 if none
}

// leaves returns the first leaf and the number of leaves under node x.
func leaves(x treemath.NodeIndex) (first, count int) {
	k := treemath.Level(x)
	return int(x>>(k+1)) << k, 1 << k
}

// resolution is the number of nodes in the resolution of x (RFC 9420
// section 4.1.1).
func (t tree) resolution(x treemath.NodeIndex) int {
	first, count := leaves(x)
	if first >= t.n {
		return 0
	}
	if x.IsLeaf() {
		if first == t.removed {
			return 0
		}
		return 1
	}
	onRemovedPath := t.removed >= first && t.removed < first+count
	if t.full && !onRemovedPath {
		return 1
	}
	l, _ := treemath.Left(x)
	r, _ := treemath.Right(x)
	return t.resolution(l) + t.resolution(r)
}

// width is the number of leaves of the tree: the least power of two that
// holds n.
func width(n int) uint32 {
	return 1 << bits.Len32(uint32(n-1))
}

// commitPath returns, for a commit with a path by leaf 0, the node key
// pairs it derives (its filtered direct path, RFC 9420 section 4.1.2) and
// the HPKE seals it makes (one per node of the copath resolutions).
func (t tree) commitPath() (keys, seals int) {
	for _, c := range treemath.Copath(treemath.LeafIndex(0).NodeIndex(), width(t.n)) {
		if r := t.resolution(c); r > 0 {
			keys++
			seals += r
		}
	}
	return keys, seals
}

// spread is a bound for work whose parts are independent.
func spread(us float64) bound { return bound{us, us / cores} }

// lowerBound models op on a group of n members of the given shape, as
// mls bench runs it: leaf 0 commits, leaf n-1 processes, leaf n/2 is
// removed. ok is false for an operation the model has no bound for.
func lowerBound(op string, n int, shape string) (b bound, ok bool) {
	t := tree{n: n, full: shape == "full", removed: -1}
	switch op {
	case "join", "join-batch":
		// (join-batch is held to the same bound, made of single
		// verifications: batch verification is how it goes below.)
		// Open the GroupSecrets, check the GroupInfo signature, then
		// validate the tree: every leaf's signature, the tree hash over
		// every node, and in a full tree the parent hash of every parent.
		members := n + 1
		hashes := 2*members - 1
		if t.full {
			hashes += members - 1
		}
		return spread(costOpen + costVerify + float64(members)*costVerify + float64(hashes)*costHash), true
	case "commit", "remove":
		if op == "remove" {
			t.removed = n / 2
		}
		keys, seals := t.commitPath()
		return spread(float64(keys)*costX25519 + float64(seals)*costSeal + leafSigs*costSign), true
	case "process":
		// Leaf n-1 opens one path secret, at the common ancestor with
		// leaf 0, derives the key pairs from there to the root to check
		// them (section 12.4.2), and checks both signatures.
		ca := treemath.CommonAncestor(treemath.LeafIndex(0).NodeIndex(), treemath.LeafIndex(n-1).NodeIndex())
		keys := len(treemath.DirectPath(ca, width(n))) + 1
		return spread(costOpen + float64(keys)*costX25519 + leafSigs*costVerify), true
	case "add", "add1000":
		// Check each KeyPackage's two signatures, seal the GroupSecrets
		// to each new member, sign the Commit and the GroupInfo; no path
		// (optional for a commit of Adds only).
		k := 1
		if op == "add1000" {
			k = 1000
		}
		return spread(float64(k)*(kpSigs*costVerify+costSeal) + 2*costSign), true
	case "protect":
		us := costSign + costAEAD + ratchetOps*costExpand
		return bound{us, us}, true
	case "unprotect":
		us := costVerify + costAEAD + ratchetOps*costExpand
		return bound{us, us}, true
	}
	return bound{}, false
}

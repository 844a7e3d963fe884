package mls

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/treemath"
)

// maxLeaves bounds the size of a ratchet tree, so that node indices and
// widths stay well inside uint32.
const maxLeaves = 1 << 30

// The tree is stored in chunks of consecutive node indices so that Clone
// is cheap: clones share chunks, and a chunk is copied the first time one
// of them writes to it (copy on write). A commit touches O(log n) nodes,
// hence O(log n) chunks, whatever the size of the group.
const (
	chunkShift = 6
	chunkNodes = 1 << chunkShift
)

// leafSlot is a leaf as stored in the tree: the LeafNode and its encoding,
// which tree hashes and signature checks use. It is never modified once
// stored.
type leafSlot struct {
	node *LeafNode
	enc  []byte
}

// chunk holds chunkNodes consecutive nodes: leaves at even node indices,
// parents at odd ones, with their cached tree hashes.
type chunk struct {
	owner   *treeOwner
	leaves  [chunkNodes / 2]*leafSlot
	parents [chunkNodes / 2]*ParentNode
	// valid has bit i set when hashes holds the current tree hash of node
	// i of the chunk. A node whose hash is invalid has only invalid
	// ancestors, so invalidation stops at the first invalid node.
	valid  uint64
	hashes []byte
}

// treeOwner identifies the tree allowed to write to a chunk in place.
type treeOwner struct{ _ byte }

// RatchetTree is the ratchet tree of a group (RFC 9420 sections 4 and 7):
// the public leaf and parent nodes in array form over internal/treemath,
// their cached tree hashes, and, for a tree that belongs to a member, the
// HPKE private keys that member holds.
//
// The number of leaves is always a power of two: the tree is extended by
// doubling when an Add finds no blank leaf, and truncated after a Remove
// (RFC 9420 section 7.7). Tree hashes are cached per node, and a change
// invalidates only the changed node's direct path.
//
// The tree keeps pointers to the LeafNode and ParentNode values given to
// it and returns them from its accessors: they must not be modified once
// in the tree. A RatchetTree is not safe for concurrent use, but clones
// may be used concurrently with each other.
type RatchetTree struct {
	suite  *ciphersuite.Suite
	nh     int
	n      uint32 // number of leaves, a power of two
	chunks []*chunk
	owner  *treeOwner

	// firstBlank is a lower bound on the leftmost blank leaf; last is the
	// rightmost non-blank leaf (-1 if none); members counts non-blank leaves.
	firstBlank uint32
	last       int64
	members    int

	census *census      // built on first use, then maintained
	priv   *treePrivate // nil for a tree that belongs to no member
}

// treePrivate is what a member knows of the tree: its own leaf and the
// private keys it holds (RFC 9420 section 4.2). Keys are only ever held
// for the member's leaf and the parents on its direct path, and are
// dropped as soon as their node is blanked or replaced.
type treePrivate struct {
	self  LeafIndex
	leaf  []byte
	nodes map[NodeIndex][]byte
}

// ErrBlankLeaf is returned when an operation needs a member's leaf and the
// leaf is blank or outside the tree.
var ErrBlankLeaf = errors.New("mls: blank leaf")

// NewRatchetTree returns the tree of a new group whose only member, at
// leaf 0, is leaf. SetLeafPrivateKey makes it the creator's.
func NewRatchetTree(suite *ciphersuite.Suite, leaf *LeafNode) (*RatchetTree, error) {
	t := newEmptyTree(suite, 1)
	if err := t.setLeaf(0, leaf); err != nil {
		return nil, err
	}
	return t, nil
}

func newEmptyTree(suite *ciphersuite.Suite, n uint32) *RatchetTree {
	t := &RatchetTree{suite: suite, nh: suite.DigestSize(), owner: new(treeOwner), last: -1}
	t.resize(n)
	return t
}

// RatchetTreeFromNodes builds a tree from its wire form, extending it with
// blank nodes to the smallest full tree (RFC 9420 section 12.4.3.3). It
// checks only the shape: leaves at even positions, parents at odd ones.
// Call Validate before trusting a tree received from others.
func RatchetTreeFromNodes(suite *ciphersuite.Suite, nodes TreeNodes) (*RatchetTree, error) {
	if len(nodes) == 0 {
		return nil, errors.New("mls: empty ratchet tree")
	}
	if uint64(len(nodes)) >= 2*maxLeaves { // uint64: 2*maxLeaves overflows a 32-bit int
		return nil, errors.New("mls: ratchet tree too large")
	}
	n := uint32(1)
	for treemath.NodeWidth(n) < uint32(len(nodes)) {
		n *= 2
	}
	t := newEmptyTree(suite, n)
	slots := make([]*leafSlot, (len(nodes)+1)/2)
	for i, node := range nodes {
		if node == nil {
			continue
		}
		x := NodeIndex(i)
		switch node.Type() {
		case NodeTypeLeaf:
			if !x.IsLeaf() {
				return nil, fmt.Errorf("%w: leaf node at parent position %d", ErrTreeShape, x)
			}
			slots[i/2] = &leafSlot{node: node.Leaf}
		case NodeTypeParent:
			if x.IsLeaf() {
				return nil, fmt.Errorf("%w: parent node at leaf position %d", ErrTreeShape, x)
			}
			c := t.chunks[x>>chunkShift]
			c.parents[(x&(chunkNodes-1))>>1] = node.Parent
		default:
			return nil, fmt.Errorf("%w: invalid node at position %d", ErrTreeShape, x)
		}
	}
	if err := encodeLeaves(slots); err != nil {
		return nil, err
	}
	for i, s := range slots {
		if s == nil {
			continue
		}
		x := LeafIndex(i).NodeIndex()
		t.chunks[x>>chunkShift].leaves[(x&(chunkNodes-1))>>1] = s
		t.members++
		t.last = int64(i)
	}
	t.firstBlank = 0
	return t, nil
}

// encodeLeaves fills in the encoding of each leaf slot, in parallel for
// large trees.
func encodeLeaves(slots []*leafSlot) error {
	return parallelFor(len(slots), 256, func(lo, hi int) error {
		for _, s := range slots[lo:hi] {
			if s == nil {
				continue
			}
			enc, err := s.node.MarshalBinary()
			if err != nil {
				return err
			}
			s.enc = enc
		}
		return nil
	})
}

// Nodes returns the wire form of the tree, without trailing blank nodes.
// The nodes point to the tree's LeafNode and ParentNode values. A nil tree
// has nil nodes, so PendingCommit.RatchetTree.Nodes() is nil when the tree
// went in the Welcome.
func (t *RatchetTree) Nodes() TreeNodes {
	if t == nil {
		return nil
	}
	w := t.width()
	for w > 0 && t.isBlank(NodeIndex(w-1)) {
		w--
	}
	nodes := make(TreeNodes, w)
	// One array holds every Node: a commit that keeps the tree out of band
	// calls this, and 100,000 small allocations made a one-member Add to a
	// 50,000-member group take 2.7 ms instead of 0.3 ms.
	backing := make([]Node, w)
	for i := range nodes {
		x := NodeIndex(i)
		if x.IsLeaf() {
			if ln := t.Leaf(x.LeafIndex()); ln != nil {
				backing[i].Leaf = ln
				nodes[i] = &backing[i]
			}
		} else if p := t.Parent(x); p != nil {
			backing[i].Parent = p
			nodes[i] = &backing[i]
		}
	}
	return nodes
}

// MarshalBinary returns the wire form of the tree (optional<Node>
// ratchet_tree<V>), without trailing blank nodes.
func (t *RatchetTree) MarshalBinary() ([]byte, error) { return t.Nodes().MarshalBinary() }

// Suite returns the cipher suite of the tree.
func (t *RatchetTree) Suite() *ciphersuite.Suite { return t.suite }

// NumLeaves returns the number of leaves of the tree, blank or not: a
// power of two.
func (t *RatchetTree) NumLeaves() uint32 { return t.n }

// NumMembers returns the number of non-blank leaves.
func (t *RatchetTree) NumMembers() int { return t.members }

// Root returns the root node of the tree.
func (t *RatchetTree) Root() NodeIndex { return treemath.Root(t.n) }

func (t *RatchetTree) width() uint32 { return treemath.NodeWidth(t.n) }

func (t *RatchetTree) inTree(x NodeIndex) bool { return uint32(x) < t.width() }

// Leaf returns the LeafNode at leaf i, or nil if it is blank or outside
// the tree.
func (t *RatchetTree) Leaf(i LeafIndex) *LeafNode {
	if s := t.slot(i); s != nil {
		return s.node
	}
	return nil
}

func (t *RatchetTree) slot(i LeafIndex) *leafSlot {
	if uint32(i) >= t.n {
		return nil
	}
	x := i.NodeIndex()
	return t.chunks[x>>chunkShift].leaves[(x&(chunkNodes-1))>>1]
}

// Parent returns the ParentNode at node x, or nil if it is blank, a leaf
// or outside the tree.
func (t *RatchetTree) Parent(x NodeIndex) *ParentNode {
	if x.IsLeaf() || !t.inTree(x) {
		return nil
	}
	return t.chunks[x>>chunkShift].parents[(x&(chunkNodes-1))>>1]
}

// IsBlank reports whether node x is blank (or outside the tree).
func (t *RatchetTree) IsBlank(x NodeIndex) bool { return !t.inTree(x) || t.isBlank(x) }

func (t *RatchetTree) isBlank(x NodeIndex) bool {
	c := t.chunks[x>>chunkShift]
	if x.IsLeaf() {
		return c.leaves[(x&(chunkNodes-1))>>1] == nil
	}
	return c.parents[(x&(chunkNodes-1))>>1] == nil
}

// encryptionKey returns the HPKE public key of the non-blank node x.
func (t *RatchetTree) encryptionKey(x NodeIndex) []byte {
	if x.IsLeaf() {
		return t.slot(x.LeafIndex()).node.EncryptionKey
	}
	return t.Parent(x).EncryptionKey
}

// writable returns the chunk holding node x, copying it first if another
// tree shares it.
func (t *RatchetTree) writable(x NodeIndex) *chunk {
	ci := x >> chunkShift
	c := t.chunks[ci]
	if c.owner != t.owner {
		cp := *c
		cp.owner = t.owner
		cp.hashes = slices.Clone(c.hashes)
		c = &cp
		t.chunks[ci] = c
	}
	return c
}

// resize sets the number of leaves to n, adding blank chunks or dropping
// the nodes beyond the new width. Dropped nodes must already be blank.
func (t *RatchetTree) resize(n uint32) {
	t.n = n
	w := treemath.NodeWidth(n)
	nc := int((w + chunkNodes - 1) >> chunkShift)
	for len(t.chunks) < nc {
		t.chunks = append(t.chunks, &chunk{owner: t.owner, hashes: make([]byte, chunkNodes*t.nh)})
	}
	clear(t.chunks[nc:])
	t.chunks = t.chunks[:nc]
	// Hashes cached beyond the width describe nodes that no longer exist.
	if off := w & (chunkNodes - 1); off != 0 {
		c := t.chunks[nc-1]
		if c.valid>>off != 0 {
			c = t.writable(NodeIndex(w - 1))
			c.valid &= 1<<off - 1
		}
	}
}

// Clone returns an independent copy of the tree, private keys included.
// It costs O(n/64): the copies share storage until either writes to it.
func (t *RatchetTree) Clone() *RatchetTree {
	c := t.publicClone()
	if t.priv != nil {
		c.priv = t.priv.clone()
	}
	return c
}

// publicClone is Clone without the private keys: for a past epoch, or
// a tree handed to the application.
func (t *RatchetTree) publicClone() *RatchetTree {
	c := *t
	c.chunks = slices.Clone(t.chunks)
	// Neither tree may now write to the shared chunks in place.
	t.owner = new(treeOwner)
	c.owner = new(treeOwner)
	if t.census != nil {
		c.census = t.census.clone()
	}
	c.priv = nil
	return &c
}

func (p *treePrivate) clone() *treePrivate {
	c := &treePrivate{self: p.self, leaf: p.leaf, nodes: make(map[NodeIndex][]byte, len(p.nodes))}
	for x, k := range p.nodes {
		c.nodes[x] = k
	}
	return c
}

// invalidate marks the tree hash of x and of its ancestors stale.
func (t *RatchetTree) invalidate(x NodeIndex) {
	for {
		c := t.chunks[x>>chunkShift]
		bit := uint64(1) << (x & (chunkNodes - 1))
		if c.valid&bit == 0 {
			return // ancestors are already invalid
		}
		c = t.writable(x)
		c.valid &^= bit
		p, ok := treemath.Parent(x, t.n)
		if !ok {
			return
		}
		x = p
	}
}

// setLeaf stores ln at leaf i, which must be inside the tree.
func (t *RatchetTree) setLeaf(i LeafIndex, ln *LeafNode) error {
	var s *leafSlot
	if ln != nil {
		enc, err := ln.MarshalBinary()
		if err != nil {
			return err
		}
		s = &leafSlot{node: ln, enc: enc}
	}
	t.setLeafSlot(i, s)
	return nil
}

func (t *RatchetTree) setLeafSlot(i LeafIndex, s *leafSlot) {
	x := i.NodeIndex()
	old := t.slot(i)
	if old == nil && s == nil {
		return
	}
	if t.census != nil {
		if old != nil {
			t.census.removeLeaf(old.node)
		}
		if s != nil {
			t.census.addLeaf(s.node)
		}
	}
	t.invalidate(x)
	t.writable(x).leaves[(x&(chunkNodes-1))>>1] = s
	switch {
	case old == nil:
		t.members++
		if int64(i) > t.last {
			t.last = int64(i)
		}
	case s == nil:
		t.members--
		if uint32(i) < t.firstBlank {
			t.firstBlank = uint32(i)
		}
		for t.last >= 0 && t.slot(LeafIndex(t.last)) == nil {
			t.last--
		}
	}
	if t.priv != nil && t.priv.self == i {
		t.priv.leaf = nil
	}
}

// setParent stores p (nil to blank) at parent node x.
func (t *RatchetTree) setParent(x NodeIndex, p *ParentNode) {
	old := t.Parent(x)
	if old == nil && p == nil {
		return
	}
	if t.census != nil {
		if old != nil {
			t.census.encKeys.add(string(old.EncryptionKey), -1)
		}
		if p != nil {
			t.census.encKeys.add(string(p.EncryptionKey), 1)
		}
	}
	if t.priv != nil {
		delete(t.priv.nodes, x)
	}
	t.invalidate(x)
	t.writable(x).parents[(x&(chunkNodes-1))>>1] = p
}

// blankDirectPath blanks every parent on the direct path of leaf i.
func (t *RatchetTree) blankDirectPath(i LeafIndex) {
	for _, p := range treemath.DirectPath(i.NodeIndex(), t.n) {
		t.setParent(p, nil)
	}
}

// leftmostBlankLeaf returns the leftmost blank leaf, or t.n if there is
// none.
func (t *RatchetTree) leftmostBlankLeaf() LeafIndex {
	i := t.firstBlank
	for i < t.n && t.slot(LeafIndex(i)) != nil {
		i++
	}
	t.firstBlank = i
	return LeafIndex(i)
}

// extend doubles the number of leaves: the tree becomes the left subtree
// of a new blank root (RFC 9420 section 7.7).
func (t *RatchetTree) extend() error {
	if t.n >= maxLeaves {
		return errors.New("mls: ratchet tree too large")
	}
	t.resize(2 * t.n)
	return nil
}

// truncate halves the tree while its right half holds no member (RFC 9420
// section 12.1.3). Any node left in the dropped half is blanked first.
func (t *RatchetTree) truncate() {
	for t.n > 1 && t.last < int64(t.n/2) {
		half := t.n / 2
		root := t.Root()
		t.setParent(root, nil)
		for x := NodeIndex(2 * half); uint32(x) < t.width(); x++ {
			if !t.isBlank(x) {
				if x.IsLeaf() {
					t.setLeafSlot(x.LeafIndex(), nil)
				} else {
					t.setParent(x, nil)
				}
			}
		}
		if t.priv != nil && uint32(t.priv.self) >= half {
			t.priv = nil
		}
		t.resize(half)
	}
	if t.firstBlank > t.n {
		t.firstBlank = t.n
	}
}

// AddLeaf adds ln as a new member, as an Add proposal does (RFC 9420
// section 12.1.1): at the leftmost blank leaf, extending the tree if there
// is none, and listed as unmerged at every non-blank parent above it. It
// returns the new member's leaf index. ln is not validated: see
// ValidateLeafNode.
func (t *RatchetTree) AddLeaf(ln *LeafNode) (LeafIndex, error) {
	if ln == nil {
		return 0, errors.New("mls: nil leaf node")
	}
	enc, err := ln.MarshalBinary()
	if err != nil {
		return 0, err
	}
	i := t.leftmostBlankLeaf()
	if uint32(i) == t.n {
		if err := t.extend(); err != nil {
			return 0, err
		}
	}
	for _, p := range treemath.DirectPath(i.NodeIndex(), t.n) {
		old := t.Parent(p)
		if old == nil {
			continue
		}
		np := *old
		pos, found := slices.BinarySearch(old.UnmergedLeaves, i)
		if found {
			continue
		}
		np.UnmergedLeaves = slices.Insert(slices.Clip(old.UnmergedLeaves), pos, i)
		t.replaceParentKeepKey(p, &np)
	}
	t.setLeafSlot(i, &leafSlot{node: ln, enc: enc})
	return i, nil
}

// replaceParentKeepKey replaces the parent at x with p, which has the same
// encryption key: the census and any private key for x stay as they are.
func (t *RatchetTree) replaceParentKeepKey(x NodeIndex, p *ParentNode) {
	t.invalidate(x)
	t.writable(x).parents[(x&(chunkNodes-1))>>1] = p
}

// UpdateLeaf replaces the LeafNode of member i and blanks its direct path,
// as an Update proposal does (RFC 9420 section 12.1.2). ln is not
// validated: see ValidateLeafNode.
func (t *RatchetTree) UpdateLeaf(i LeafIndex, ln *LeafNode) error {
	if t.slot(i) == nil {
		return fmt.Errorf("%w: update of leaf %d", ErrBlankLeaf, i)
	}
	if ln == nil {
		return errors.New("mls: nil leaf node")
	}
	enc, err := ln.MarshalBinary()
	if err != nil {
		return err
	}
	t.setLeafSlot(i, &leafSlot{node: ln, enc: enc})
	t.blankDirectPath(i)
	return nil
}

// RemoveLeaf removes member i, as a Remove proposal does (RFC 9420 section
// 12.1.3): its leaf and direct path are blanked and the tree truncated.
func (t *RatchetTree) RemoveLeaf(i LeafIndex) error {
	if t.slot(i) == nil {
		return fmt.Errorf("%w: removal of leaf %d", ErrBlankLeaf, i)
	}
	t.setLeafSlot(i, nil)
	t.blankDirectPath(i)
	if t.priv != nil && t.priv.self == i {
		t.priv = nil
	}
	t.truncate()
	return nil
}

// Resolution returns the resolution of node x (RFC 9420 section 4.1.1):
// the non-blank nodes that cover every non-blank descendant of x, in
// order, unmerged leaves following their parent.
func (t *RatchetTree) Resolution(x NodeIndex) []NodeIndex {
	if !t.inTree(x) {
		return nil
	}
	return t.appendResolution(nil, x)
}

func (t *RatchetTree) appendResolution(dst []NodeIndex, x NodeIndex) []NodeIndex {
	if x.IsLeaf() {
		if !t.isBlank(x) {
			dst = append(dst, x)
		}
		return dst
	}
	if p := t.Parent(x); p != nil {
		dst = append(dst, x)
		for _, l := range p.UnmergedLeaves {
			dst = append(dst, l.NodeIndex())
		}
		return dst
	}
	l, _ := treemath.Left(x)
	r, _ := treemath.Right(x)
	return t.appendResolution(t.appendResolution(dst, l), r)
}

// hasNonBlank reports whether the subtree under x holds a non-blank node,
// that is, whether the resolution of x is not empty.
func (t *RatchetTree) hasNonBlank(x NodeIndex) bool {
	if !t.isBlank(x) {
		return true
	}
	if x.IsLeaf() {
		return false
	}
	l, _ := treemath.Left(x)
	r, _ := treemath.Right(x)
	return t.hasNonBlank(l) || t.hasNonBlank(r)
}

// pathStep is one node of a filtered direct path with its child on the
// copath.
type pathStep struct {
	node, copathChild NodeIndex
}

// filteredDirectPath returns the filtered direct path of leaf i (RFC 9420
// section 4.1.2), from the leaf's side to the root: the direct path
// without the nodes whose copath child has an empty resolution.
func (t *RatchetTree) filteredDirectPath(i LeafIndex) []pathStep {
	x := i.NodeIndex()
	steps := make([]pathStep, 0, bits.Len32(t.n))
	for {
		p, ok := treemath.Parent(x, t.n)
		if !ok {
			return steps
		}
		s, _ := treemath.Sibling(x, t.n)
		if t.hasNonBlank(s) {
			steps = append(steps, pathStep{node: p, copathChild: s})
		}
		x = p
	}
}

// FilteredDirectPath returns the filtered direct path of leaf i (RFC 9420
// section 4.1.2).
func (t *RatchetTree) FilteredDirectPath(i LeafIndex) []NodeIndex {
	if uint32(i) >= t.n {
		return nil
	}
	steps := t.filteredDirectPath(i)
	out := make([]NodeIndex, len(steps))
	for k, s := range steps {
		out[k] = s.node
	}
	return out
}

// OwnLeaf returns the leaf of the member the tree belongs to; ok is false
// for a tree that belongs to no member.
func (t *RatchetTree) OwnLeaf() (i LeafIndex, ok bool) {
	if t.priv == nil {
		return 0, false
	}
	return t.priv.self, true
}

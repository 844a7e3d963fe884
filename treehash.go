package mls

import (
	"bytes"
	"hash"
	"iter"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/arbormls/mls/internal/codec"
	"github.com/arbormls/mls/internal/treemath"
)

// parallelLevel is the level of the subtrees whose tree hashes are
// computed concurrently when many nodes are stale. A subtree of level 6
// or more covers whole chunks, so workers never write to the same chunk.
const parallelLevel = 8

// TreeHash returns the tree hash of the root (RFC 9420 section 7.8).
// Only nodes changed since the last call are hashed again.
func (t *RatchetTree) TreeHash() []byte { return slices.Clone(t.hashOf(t.Root())) }

// NodeTreeHash returns the tree hash of node x, or nil if x is outside
// the tree.
func (t *RatchetTree) NodeTreeHash(x NodeIndex) []byte {
	if !t.inTree(x) {
		return nil
	}
	return slices.Clone(t.hashOf(x))
}

// hashOf returns the tree hash of x, computing the stale part of its
// subtree first. The result aliases the cache: copy it before changing
// the tree.
func (t *RatchetTree) hashOf(x NodeIndex) []byte {
	if !t.hashValid(x) {
		if treemath.Level(x) > parallelLevel+2 {
			t.hashParallel(x)
		}
		h := t.suite.NewHash()
		t.hashSubtree(h, x)
	}
	return t.cachedHash(x)
}

func (t *RatchetTree) hashValid(x NodeIndex) bool {
	return t.chunks[x>>chunkShift].valid&(1<<(x&(chunkNodes-1))) != 0
}

func (t *RatchetTree) cachedHash(x NodeIndex) []byte {
	off := int(x&(chunkNodes-1)) * t.nh
	return t.chunks[x>>chunkShift].hashes[off : off+t.nh : off+t.nh]
}

// hashSubtree computes the stale tree hashes of the subtree under x.
func (t *RatchetTree) hashSubtree(h hash.Hash, x NodeIndex) {
	if t.hashValid(x) {
		return
	}
	if !x.IsLeaf() {
		l, _ := treemath.Left(x)
		r, _ := treemath.Right(x)
		t.hashSubtree(h, l)
		t.hashSubtree(h, r)
	}
	c := t.writable(x)
	off := int(x&(chunkNodes-1)) * t.nh
	t.nodeHashInput(h, x)
	h.Sum(c.hashes[off:off])
	c.valid |= 1 << (x & (chunkNodes - 1))
}

// hashParallel computes the stale subtrees of level parallelLevel under x
// on all cores.
func (t *RatchetTree) hashParallel(x NodeIndex) {
	var roots []NodeIndex
	var collect func(y NodeIndex)
	collect = func(y NodeIndex) {
		if t.hashValid(y) {
			return
		}
		if treemath.Level(y) == parallelLevel {
			roots = append(roots, y)
			return
		}
		l, _ := treemath.Left(y)
		r, _ := treemath.Right(y)
		collect(l)
		collect(r)
	}
	collect(x)
	_ = parallelFor(len(roots), 1, func(lo, hi int) error {
		h := t.suite.NewHash()
		for _, y := range roots[lo:hi] {
			t.hashSubtree(h, y)
		}
		return nil
	})
}

// nodeHashInput writes the TreeHashInput of x into h (after resetting
// it): LeafNodeHashInput or ParentNodeHashInput. Children hashes must be
// current.
func (t *RatchetTree) nodeHashInput(h hash.Hash, x NodeIndex) {
	h.Reset()
	if x.IsLeaf() {
		var enc []byte
		if s := t.slot(x.LeafIndex()); s != nil {
			enc = s.enc
		}
		writeLeafHashInput(h, x.LeafIndex(), enc)
		return
	}
	l, _ := treemath.Left(x)
	r, _ := treemath.Right(x)
	writeParentHashInput(h, t.Parent(x), t.cachedHash(l), t.cachedHash(r))
}

// writeLeafHashInput writes the TreeHashInput of leaf i into h: enc is the
// encoding of its LeafNode, nil when the leaf is blank.
func writeLeafHashInput(h hash.Hash, i LeafIndex, enc []byte) {
	hdr := [6]byte{byte(NodeTypeLeaf), byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
	if enc != nil {
		hdr[5] = 1 // optional<LeafNode> present
	}
	h.Write(hdr[:])
	h.Write(enc)
}

// writeParentHashInput writes a parent's TreeHashInput into h.
func writeParentHashInput(h hash.Hash, p *ParentNode, left, right []byte) {
	b := codec.NewBuilder(128 + 8*len(left))
	b.AddUint8(uint8(NodeTypeParent))
	b.AddOptional(p != nil, p.marshal)
	b.AddOpaque(left)
	b.AddOpaque(right)
	enc, _ := b.Bytes() // a ParentNode always encodes
	h.Write(enc)
}

// blankLeafHash returns the tree hash of leaf i when it is blank.
func (t *RatchetTree) blankLeafHash(h hash.Hash, i LeafIndex) []byte {
	h.Reset()
	writeLeafHashInput(h, i, nil)
	return h.Sum(nil)
}

// parentHash computes the parent hash of a node with the given encryption
// key and parent_hash field, whose copath child has the given tree hash
// (ParentHashInput, RFC 9420 section 7.9).
func (t *RatchetTree) parentHash(h hash.Hash, encryptionKey, parentHash, siblingHash []byte) []byte {
	b := codec.NewBuilder(len(encryptionKey) + len(parentHash) + len(siblingHash) + 12)
	b.AddOpaque(encryptionKey)
	b.AddOpaque(parentHash)
	b.AddOpaque(siblingHash)
	enc, _ := b.Bytes()
	h.Reset()
	h.Write(enc)
	return h.Sum(nil)
}

// leafRange returns the first leaf under x and the number of leaves under it.
func leafRange(x NodeIndex) (first LeafIndex, count uint32) {
	k := treemath.Level(x)
	return LeafIndex(uint32(x) >> (k + 1) << k), 1 << k
}

// splitLeaves splits the sorted leaves under parent x between its left and
// right subtrees.
func splitLeaves(x NodeIndex, leaves []LeafIndex) (left, right []LeafIndex) {
	first, count := leafRange(x)
	mid := first + LeafIndex(count/2)
	k := sort.Search(len(leaves), func(i int) bool { return leaves[i] >= mid })
	return leaves[:k], leaves[k:]
}

// leavesUnder returns the part of the sorted list leaves that lies under x.
func leavesUnder(x NodeIndex, leaves []LeafIndex) []LeafIndex {
	first, count := leafRange(x)
	lo := sort.Search(len(leaves), func(i int) bool { return leaves[i] >= first })
	hi := sort.Search(len(leaves), func(i int) bool { return leaves[i] >= first+LeafIndex(count) })
	return leaves[lo:hi]
}

// originalTreeHash returns the tree hash that x would have if the leaves
// in removed (sorted, all under x) were blank and dropped from every
// unmerged_leaves list: the original_sibling_tree_hash of RFC 9420 section
// 7.9. Only the paths from the removed leaves up to x are hashed again, so
// the cost is O(len(removed) * log n).
func (t *RatchetTree) originalTreeHash(h hash.Hash, x NodeIndex, removed []LeafIndex) []byte {
	if len(removed) == 0 {
		return slices.Clone(t.cachedHash(x))
	}
	if x.IsLeaf() {
		return t.blankLeafHash(h, x.LeafIndex())
	}
	l, _ := treemath.Left(x)
	r, _ := treemath.Right(x)
	rl, rr := splitLeaves(x, removed)
	lh := t.originalTreeHash(h, l, rl)
	rh := t.originalTreeHash(h, r, rr)
	p := t.Parent(x)
	if p != nil {
		q := *p
		q.UnmergedLeaves = nil
		for _, u := range p.UnmergedLeaves {
			if _, found := slices.BinarySearch(removed, u); !found {
				q.UnmergedLeaves = append(q.UnmergedLeaves, u)
			}
		}
		p = &q
	}
	h.Reset()
	writeParentHashInput(h, p, lh, rh)
	return h.Sum(nil)
}

// pathParentHashes computes the parent_hash fields of a new path along the
// filtered direct path steps, whose nodes get the encryption keys keys
// (RFC 9420 section 7.9): top-down, the last node's field is empty and
// each other field is the parent hash of the next node with its copath
// child. It returns the fields of the path's nodes and of the leaf.
func (t *RatchetTree) pathParentHashes(steps []pathStep, keys [][]byte) (nodes [][]byte, leaf []byte) {
	h := t.suite.NewHash()
	nodes = make([][]byte, len(steps))
	ph := []byte{}
	for j := len(steps) - 1; j >= 0; j-- {
		nodes[j] = ph
		ph = t.parentHash(h, keys[j], ph, t.hashOf(steps[j].copathChild))
	}
	return nodes, ph
}

// resolutionSizes returns the size of the resolution of every node.
func (t *RatchetTree) resolutionSizes() []int32 {
	sizes := make([]int32, t.width())
	for level := uint(0); ; level++ {
		step := NodeIndex(1) << (level + 1)
		first := NodeIndex(1)<<level - 1
		for x := first; uint32(x) < t.width(); x += step {
			switch {
			case x.IsLeaf():
				if !t.isBlank(x) {
					sizes[x] = 1
				}
			case !t.isBlank(x):
				sizes[x] = 1 + int32(len(t.Parent(x).UnmergedLeaves))
			default:
				l, _ := treemath.Left(x)
				r, _ := treemath.Right(x)
				sizes[x] = sizes[l] + sizes[r]
			}
		}
		if first == t.Root() {
			return sizes
		}
	}
}

// appendResolutionSized is appendResolution skipping subtrees whose
// resolution is empty, so its cost follows the size of the result.
func (t *RatchetTree) appendResolutionSized(dst []NodeIndex, x NodeIndex, sizes []int32) []NodeIndex {
	if sizes[x] == 0 {
		return dst
	}
	if x.IsLeaf() || !t.isBlank(x) {
		return t.appendResolution(dst, x)
	}
	l, _ := treemath.Left(x)
	r, _ := treemath.Right(x)
	return t.appendResolutionSized(t.appendResolutionSized(dst, l, sizes), r, sizes)
}

// parentHashField returns the parent_hash field of the non-blank node x:
// nil for a leaf whose source is not commit.
func (t *RatchetTree) parentHashField(x NodeIndex) []byte {
	if x.IsLeaf() {
		ln := t.slot(x.LeafIndex()).node
		if ln.LeafNodeSource != LeafNodeSourceCommit {
			return nil
		}
		return ln.ParentHash
	}
	return t.Parent(x).ParentHash
}

// linkedChild returns the node D below child c of parent p whose
// parent_hash must equal the parent hash of p (RFC 9420 section 7.9.2): D
// is in the resolution of c, and the unmerged leaves of p under c are the
// rest of that resolution. ok is false if no node qualifies.
func (t *RatchetTree) linkedChild(c NodeIndex, unmerged []LeafIndex, sizes []int32) (d NodeIndex, ok bool) {
	if int(sizes[c]) != len(unmerged)+1 {
		return 0, false
	}
	res := t.appendResolutionSized(make([]NodeIndex, 0, sizes[c]), c, sizes)
	found := false
	for _, y := range res {
		if y.IsLeaf() {
			if _, in := slices.BinarySearch(unmerged, y.LeafIndex()); in {
				continue
			}
		}
		if found {
			return 0, false
		}
		d, found = y, true
	}
	return d, found
}

// checkParentHashes verifies that every non-blank parent node is
// parent-hash valid (RFC 9420 section 7.9.2): exactly one of its children
// leads to a node whose parent_hash is the parent hash of the node with
// the other child as copath child. Since a node can only link to its
// nearest non-blank ancestor, every parent is then covered by exactly one
// chain starting at a leaf. The unmerged leaves must have been validated
// and the tree hashes computed. The cost is O(n) plus O(log n) per
// unmerged leaf entry.
func (t *RatchetTree) checkParentHashes() error {
	sizes := t.resolutionSizes()
	return parallelFor(int(t.n)-1, 512, func(lo, hi int) error {
		h := t.suite.NewHash()
		for i := lo; i < hi; i++ {
			x := NodeIndex(2*i + 1)
			p := t.Parent(x)
			if p == nil {
				continue
			}
			l, _ := treemath.Left(x)
			r, _ := treemath.Right(x)
			links := 0
			for _, side := range [2][2]NodeIndex{{l, r}, {r, l}} {
				c, s := side[0], side[1]
				d, ok := t.linkedChild(c, leavesUnder(c, p.UnmergedLeaves), sizes)
				if !ok {
					continue
				}
				field := t.parentHashField(d)
				if len(field) == 0 {
					continue
				}
				orig := t.originalTreeHash(h, s, leavesUnder(s, p.UnmergedLeaves))
				if bytes.Equal(field, t.parentHash(h, p.EncryptionKey, p.ParentHash, orig)) {
					links++
				}
			}
			switch links {
			case 0:
				return validationErr(ErrParentHash, "parent_hash", x, "no child links to this parent")
			case 2:
				return validationErr(ErrParentHash, "parent_hash", x, "both children link to this parent")
			}
		}
		return nil
	})
}

// checkUnmergedLeaves verifies the unmerged_leaves of every parent (RFC
// 9420 sections 7.1 and 12.4.3.1): sorted without repetition, each a
// non-blank leaf below the parent, and listed as unmerged by every
// non-blank node between that leaf and the parent. It suffices to check
// the highest such node, since its own entries are checked in turn.
func (t *RatchetTree) checkUnmergedLeaves() error {
	for x, p := range t.parentNodes() {
		for k, u := range p.UnmergedLeaves {
			if k > 0 && u <= p.UnmergedLeaves[k-1] {
				return validationErr(ErrUnmergedLeaves, "unmerged_leaves", x, "not sorted in increasing order")
			}
		}
	}
	for x, p := range t.parentNodes() {
		for _, u := range p.UnmergedLeaves {
			if uint32(u) >= t.n || t.slot(u) == nil {
				return validationErr(ErrUnmergedLeaves, "unmerged_leaves", x, "lists a blank leaf")
			}
			leaf := u.NodeIndex()
			if !treemath.IsAncestor(x, leaf) {
				return validationErr(ErrUnmergedLeaves, "unmerged_leaves", x, "lists a leaf that is not its descendant")
			}
			// Walk down from x towards the leaf to the first non-blank
			// intermediate node.
			y := x
			for {
				l, _ := treemath.Left(y)
				r, _ := treemath.Right(y)
				if leaf < y {
					y = l
				} else {
					y = r
				}
				if y == leaf {
					break
				}
				if q := t.Parent(y); q != nil {
					if _, found := slices.BinarySearch(q.UnmergedLeaves, u); !found {
						return validationErr(ErrUnmergedLeaves, "unmerged_leaves", y, "misses an unmerged leaf of an ancestor")
					}
					break
				}
			}
		}
	}
	return nil
}

// parentNodes iterates over the non-blank parents, left to right.
func (t *RatchetTree) parentNodes() iter.Seq2[NodeIndex, *ParentNode] {
	return func(yield func(NodeIndex, *ParentNode) bool) {
		for x := NodeIndex(1); uint32(x) < t.width(); x += 2 {
			if p := t.Parent(x); p != nil && !yield(x, p) {
				return
			}
		}
	}
}

// parallelFor runs f on consecutive ranges of [0, n) of at least grain
// items, on up to GOMAXPROCS goroutines, and returns the error of the
// lowest range that failed. Ranges above a failed one may be skipped.
func parallelFor(n, grain int, f func(lo, hi int) error) error {
	workers := runtime.GOMAXPROCS(0)
	if n <= grain || workers == 1 {
		if n == 0 {
			return nil
		}
		return f(0, n)
	}
	size := max(grain, n/(workers*8))
	nr := (n + size - 1) / size
	errs := make([]error, nr)
	var next atomic.Int64
	var failed atomic.Int64
	failed.Store(int64(nr))
	var wg sync.WaitGroup
	for range min(workers, nr) {
		wg.Go(func() {
			for {
				k := next.Add(1) - 1
				if k >= int64(nr) || k > failed.Load() {
					return
				}
				lo := int(k) * size
				if err := f(lo, min(lo+size, n)); err != nil {
					errs[k] = err
					for {
						cur := failed.Load()
						if k >= cur || failed.CompareAndSwap(cur, k) {
							break
						}
					}
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Package treemath implements the array-tree index arithmetic of RFC 9420
// appendix C. Leaves sit at even node indices (leaf i at node 2i); parents at
// odd ones. MLS trees always have a power-of-two number of leaves (section
// 7.7), so every function here assumes a complete tree.
package treemath

import "math/bits"

// NodeIndex is the index of a node in the array representation.
type NodeIndex uint32

// LeafIndex is the index of a leaf (leaf i is node 2i).
type LeafIndex uint32

// NodeIndex returns the node index of leaf l.
func (l LeafIndex) NodeIndex() NodeIndex { return NodeIndex(2 * l) }

// IsLeaf reports whether x is a leaf node.
func (x NodeIndex) IsLeaf() bool { return x&1 == 0 }

// LeafIndex returns the leaf index of leaf node x. x must be a leaf.
func (x NodeIndex) LeafIndex() LeafIndex { return LeafIndex(x >> 1) }

// Level returns the level of x: 0 for leaves, k for a node whose
// descendants span 2^k leaves.
func Level(x NodeIndex) uint {
	return uint(bits.TrailingZeros32(^uint32(x)))
}

// NodeWidth returns the number of nodes in a tree with n leaves.
func NodeWidth(n uint32) uint32 {
	if n == 0 {
		return 0
	}
	return 2*(n-1) + 1
}

// Root returns the root node of a tree with n leaves (n a power of two).
func Root(n uint32) NodeIndex {
	w := NodeWidth(n)
	if w == 0 {
		return 0
	}
	return NodeIndex(1<<(bits.Len32(w)-1) - 1)
}

// Left returns the left child of parent node x. ok is false for leaves.
func Left(x NodeIndex) (NodeIndex, bool) {
	k := Level(x)
	if k == 0 {
		return 0, false
	}
	return x ^ (1 << (k - 1)), true
}

// Right returns the right child of parent node x. ok is false for leaves.
func Right(x NodeIndex) (NodeIndex, bool) {
	k := Level(x)
	if k == 0 {
		return 0, false
	}
	return x ^ (3 << (k - 1)), true
}

// Parent returns the parent of x in a tree with n leaves. ok is false for
// the root and for nodes outside the tree.
func Parent(x NodeIndex, n uint32) (NodeIndex, bool) {
	if uint32(x) >= NodeWidth(n) || x == Root(n) {
		return 0, false
	}
	k := Level(x)
	b := (x >> (k + 1)) & 1
	return (x | (1 << k)) ^ (b << (k + 1)), true
}

// Sibling returns the other child of x's parent. ok is false for the root.
func Sibling(x NodeIndex, n uint32) (NodeIndex, bool) {
	p, ok := Parent(x, n)
	if !ok {
		return 0, false
	}
	if x < p {
		r, _ := Right(p)
		return r, true
	}
	l, _ := Left(p)
	return l, true
}

// DirectPath returns the direct path of x, from its parent to the root.
func DirectPath(x NodeIndex, n uint32) []NodeIndex {
	var d []NodeIndex
	for {
		p, ok := Parent(x, n)
		if !ok {
			return d
		}
		d = append(d, p)
		x = p
	}
}

// Copath returns the siblings of x and of each node of its direct path
// except the root, ordered from leaf to root.
func Copath(x NodeIndex, n uint32) []NodeIndex {
	var c []NodeIndex
	for {
		s, ok := Sibling(x, n)
		if !ok {
			return c
		}
		c = append(c, s)
		x, _ = Parent(x, n)
	}
}

// CommonAncestor returns the lowest node in the direct paths of both x and y
// (including x and y themselves).
func CommonAncestor(x, y NodeIndex) NodeIndex {
	lx, ly := Level(x)+1, Level(y)+1
	if lx <= ly && x>>ly == y>>ly {
		return y
	}
	if ly <= lx && x>>lx == y>>lx {
		return x
	}
	xn, yn := x, y
	k := uint(0)
	for xn != yn {
		xn, yn = xn>>1, yn>>1
		k++
	}
	return (xn << k) + (1 << (k - 1)) - 1
}

// IsAncestor reports whether a is an ancestor of (or equal to) x.
func IsAncestor(a, x NodeIndex) bool {
	k := Level(a) + 1
	return a>>k == x>>k
}

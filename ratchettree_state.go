package mls

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/bits"
	"slices"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/codec"
	"github.com/arbormls/mls/internal/treemath"
)

// This file holds the storage encodings of a RatchetTree, part of the
// group state (see group_state.go): the whole tree with the private keys
// its owner holds, and a tree as the changes from another one, for the
// trees of past epochs and of a pending commit, which differ from the
// current tree in a few nodes. A group state thus holds one full tree,
// whatever the number of epochs it keeps.

// marshalState writes t as RatchetTreeState (see group_state.go).
func (t *RatchetTree) marshalState(b *codec.Builder) {
	b.AddUint32(t.n)
	w := t.width()
	for w > 0 && t.isBlank(NodeIndex(w-1)) {
		w--
	}
	b.AddVector(func(b *codec.Builder) {
		for x := range NodeIndex(w) {
			t.addNode(b, x)
		}
	})
	b.AddOptional(t.priv != nil, func(b *codec.Builder) { t.priv.marshalState(b) })
}

// addNode writes node x of t as optional<Node>, leaves in the encoding
// the tree keeps.
func (t *RatchetTree) addNode(b *codec.Builder, x NodeIndex) {
	if !t.inTree(x) || t.isBlank(x) {
		b.AddUint8(0)
		return
	}
	b.AddUint8(1)
	if x.IsLeaf() {
		b.AddUint8(uint8(NodeTypeLeaf))
		b.AddRaw(t.slot(x.LeafIndex()).enc)
		return
	}
	b.AddUint8(uint8(NodeTypeParent))
	t.Parent(x).marshal(b)
}

func (p *treePrivate) marshalState(b *codec.Builder) {
	b.AddUint32(uint32(p.self))
	addOptionalSecret(b, p.leaf)
	b.AddVector(func(b *codec.Builder) {
		for _, x := range slices.Sorted(maps.Keys(p.nodes)) {
			b.AddUint32(uint32(x))
			b.AddOpaque(p.nodes[x])
		}
	})
}

// unmarshalRatchetTreeState reads what marshalState wrote. It checks the
// shape of the tree and that every private key matches its node's public
// key, not the tree's signatures or parent hashes: the state is the
// member's own data, and the caller checks the tree hash.
func unmarshalRatchetTreeState(r *codec.Reader, s *ciphersuite.Suite) *RatchetTree {
	n := r.ReadUint32()
	var nodes TreeNodes
	nodes.unmarshal(r)
	if r.Err() != nil {
		return nil
	}
	t, err := RatchetTreeFromNodes(s, nodes)
	if err != nil {
		r.SetError(err)
		return nil
	}
	if t.n != n {
		r.SetError(fmt.Errorf("ratchet tree of %d leaves stored as %d", t.n, n))
		return nil
	}
	if r.ReadOptional() {
		t.unmarshalPrivate(r)
	}
	if r.Err() != nil {
		return nil
	}
	return t
}

// unmarshalPrivate reads a TreePrivateState into t, checking each key
// against its node.
func (t *RatchetTree) unmarshalPrivate(r *codec.Reader) {
	self := LeafIndex(r.ReadUint32())
	leaf := r.ReadOptional()
	var leafPriv []byte
	if leaf {
		leafPriv = r.ReadOpaque()
		defer clear(leafPriv)
	}
	if r.Err() != nil {
		return
	}
	if t.Leaf(self) == nil {
		r.SetError(fmt.Errorf("%w: own leaf %d", ErrBlankLeaf, self))
		return
	}
	t.priv = &treePrivate{self: self, nodes: make(map[NodeIndex][]byte)}
	if leaf {
		if err := t.SetLeafPrivateKey(self, leafPriv); err != nil {
			r.SetError(err)
			return
		}
	}
	last := int64(-1)
	r.ReadVectorFunc(func(r *codec.Reader) {
		x := NodeIndex(r.ReadUint32())
		priv := r.ReadOpaque()
		if r.Err() != nil {
			return
		}
		if int64(x) <= last || x.IsLeaf() || t.Parent(x) == nil || !treemath.IsAncestor(x, self.NodeIndex()) {
			clear(priv)
			r.SetError(fmt.Errorf("private key of node %d, not a non-blank parent above leaf %d or out of order", x, self))
			return
		}
		last = int64(x)
		pub, err := t.suite.HPKEPublicKey(priv)
		if err != nil || !bytes.Equal(pub, t.Parent(x).EncryptionKey) {
			clear(priv)
			r.SetError(fmt.Errorf("private key of node %d does not match the node", x))
			return
		}
		t.priv.nodes[x] = priv
	})
	if r.Err() != nil {
		t.priv.erase()
		t.priv = nil
	}
}

// erase zeroes the private keys.
func (p *treePrivate) erase() {
	clear(p.leaf)
	for _, k := range p.nodes {
		clear(k)
	}
	p.leaf, p.nodes = nil, nil
}

// marshalChanges writes t as the changes from base, as TreeDiff (see
// group_state.go): the nodes whose encoding differs from base's, where
// nodes outside base count as blank. The private keys of t are not
// written.
func (t *RatchetTree) marshalChanges(b *codec.Builder, base *RatchetTree) {
	b.AddUint32(t.n)
	b.AddVector(func(b *codec.Builder) {
		w := t.width()
		for x := NodeIndex(0); uint32(x) < w; x++ {
			ci := x >> chunkShift
			if x&(chunkNodes-1) == 0 && int(ci) < len(base.chunks) && t.chunks[ci] == base.chunks[ci] {
				// A shared chunk holds the same nodes in both trees.
				x += chunkNodes - 1
				continue
			}
			if !sameNode(t, base, x) {
				b.AddUint32(uint32(x))
				t.addNode(b, x)
			}
		}
	})
}

// sameNode reports whether node x has the same encoding in a and b.
func sameNode(a, b *RatchetTree, x NodeIndex) bool {
	blankA, blankB := a.IsBlank(x), b.IsBlank(x)
	switch {
	case blankA || blankB:
		return blankA == blankB
	case x.IsLeaf():
		sa, sb := a.slot(x.LeafIndex()), b.slot(x.LeafIndex())
		return sa == sb || bytes.Equal(sa.enc, sb.enc)
	}
	pa, pb := a.Parent(x), b.Parent(x)
	return pa == pb || (bytes.Equal(pa.EncryptionKey, pb.EncryptionKey) &&
		bytes.Equal(pa.ParentHash, pb.ParentHash) && slices.Equal(pa.UnmergedLeaves, pb.UnmergedLeaves))
}

// unmarshalChanges reads a TreeDiff and returns base with the changes
// applied, without private keys. base is not modified.
func unmarshalChanges(r *codec.Reader, base *RatchetTree) *RatchetTree {
	n := r.ReadUint32()
	type change struct {
		x    NodeIndex
		node *Node
	}
	var changes []change
	maxLeaf := int64(-1)
	r.ReadVectorFunc(func(r *codec.Reader) {
		c := change{x: NodeIndex(r.ReadUint32())}
		if r.ReadOptional() {
			c.node = new(Node)
			c.node.unmarshal(r)
		}
		if r.Err() != nil {
			return
		}
		if len(changes) > 0 && c.x <= changes[len(changes)-1].x {
			r.SetError(fmt.Errorf("tree change of node %d out of order", c.x))
			return
		}
		if c.node != nil && (c.node.Type() == NodeTypeLeaf) != c.x.IsLeaf() {
			r.SetError(fmt.Errorf("%v node at position %d", c.node.Type(), c.x))
			return
		}
		if c.node != nil && c.x.IsLeaf() {
			maxLeaf = int64(c.x.LeafIndex())
		}
		changes = append(changes, c)
	})
	if r.Err() != nil {
		return nil
	}
	// A tree is truncated after every removal, so its rightmost member is
	// in its right half; when the tree grew, that member is a change, and
	// since new members fill the leftmost blank leaves, it is at most
	// base.n + len(changes) leaves in. This bounds the size by the input
	// before anything is allocated.
	grown := n > base.n && (maxLeaf < int64(n/2) || uint64(n) > 2*(uint64(base.n)+uint64(len(changes))))
	if n == 0 || n > maxLeaves || bits.OnesCount32(n) != 1 || grown {
		r.SetError(fmt.Errorf("tree of %d leaves from a tree of %d", n, base.n))
		return nil
	}
	if len(changes) > 0 && uint32(changes[len(changes)-1].x) >= treemath.NodeWidth(n) {
		r.SetError(errors.New("tree change outside the tree"))
		return nil
	}
	t := base.publicClone()
	if n > t.n {
		t.resize(n)
	}
	for _, c := range changes {
		switch {
		case c.x.IsLeaf():
			var ln *LeafNode
			if c.node != nil {
				ln = c.node.Leaf
			}
			if err := t.setLeaf(c.x.LeafIndex(), ln); err != nil {
				r.SetError(err)
				return nil
			}
		case c.node != nil:
			t.setParent(c.x, c.node.Parent)
		default:
			t.setParent(c.x, nil)
		}
	}
	if n < t.n {
		for x := NodeIndex(treemath.NodeWidth(n)); uint32(x) < t.width(); x++ {
			if x.IsLeaf() {
				t.setLeafSlot(x.LeafIndex(), nil)
			} else {
				t.setParent(x, nil)
			}
		}
		t.resize(n)
		t.firstBlank = min(t.firstBlank, n)
	}
	if t.members == 0 || (n > 1 && t.last < int64(n/2)) {
		r.SetError(errors.New("tree changes leave a tree that is empty or not truncated"))
		return nil
	}
	return t
}

package mls

import (
	"errors"
	"fmt"

	"github.com/arbormls/mls/internal/codec"
)

// NodeType says whether a Node is a leaf or a parent (RFC 9420 section 7.8).
type NodeType uint8

// The node types of RFC 9420.
const (
	NodeTypeLeaf   NodeType = 1
	NodeTypeParent NodeType = 2
)

// String returns the RFC 9420 name of t.
func (t NodeType) String() string {
	return enumName(t, "NodeType", "leaf", "parent")
}

// ParentNode is the public state of an intermediate node of the ratchet
// tree (RFC 9420 section 7.1). UnmergedLeaves must be sorted in increasing
// order; that is checked when a tree is validated.
type ParentNode struct {
	EncryptionKey  []byte
	ParentHash     []byte
	UnmergedLeaves []LeafIndex
}

func (p *ParentNode) marshal(b *codec.Builder) {
	b.AddOpaque(p.EncryptionKey)
	b.AddOpaque(p.ParentHash)
	b.AddVector(func(b *codec.Builder) {
		for _, l := range p.UnmergedLeaves {
			b.AddUint32(uint32(l))
		}
	})
}

func (p *ParentNode) unmarshal(r *codec.Reader) {
	p.EncryptionKey = r.ReadOpaque()
	p.ParentHash = r.ReadOpaque()
	p.UnmergedLeaves = unmarshalVector(r, func(r *codec.Reader, l *LeafIndex) {
		*l = LeafIndex(r.ReadUint32())
	})
}

// MarshalBinary returns the encoding of p.
func (p *ParentNode) MarshalBinary() ([]byte, error) { return encode(p) }

// UnmarshalBinary decodes p from data, which must hold exactly one ParentNode.
func (p *ParentNode) UnmarshalBinary(data []byte) error { return decode("ParentNode", data, p) }

// Node is a non-blank node of the ratchet tree: exactly one of Leaf and
// Parent is set (RFC 9420 section 12.4.3.3).
type Node struct {
	Leaf   *LeafNode
	Parent *ParentNode
}

// Type returns the node_type of n, or 0 if n is not exactly one of a leaf
// and a parent.
func (n *Node) Type() NodeType {
	switch {
	case n.Leaf != nil && n.Parent == nil:
		return NodeTypeLeaf
	case n.Parent != nil && n.Leaf == nil:
		return NodeTypeParent
	}
	return 0
}

func (n *Node) marshal(b *codec.Builder) {
	t := n.Type()
	b.AddUint8(uint8(t))
	switch t {
	case NodeTypeLeaf:
		n.Leaf.marshal(b)
	case NodeTypeParent:
		n.Parent.marshal(b)
	default:
		b.SetError(errors.New("mls: Node must hold exactly one of a leaf and a parent"))
	}
}

func (n *Node) unmarshal(r *codec.Reader) {
	*n = Node{}
	switch t := NodeType(r.ReadUint8()); t {
	case NodeTypeLeaf:
		n.Leaf = new(LeafNode)
		n.Leaf.unmarshal(r)
	case NodeTypeParent:
		n.Parent = new(ParentNode)
		n.Parent.unmarshal(r)
	default:
		r.SetError(fmt.Errorf("invalid node_type %d", uint8(t)))
	}
}

// MarshalBinary returns the encoding of n.
func (n *Node) MarshalBinary() ([]byte, error) { return encode(n) }

// UnmarshalBinary decodes n from data, which must hold exactly one Node.
func (n *Node) UnmarshalBinary(data []byte) error { return decode("Node", data, n) }

// TreeNodes is the public ratchet tree in array form as it travels on the
// wire, the optional<Node> ratchet_tree<V> of RFC 9420 section 12.4.3.3:
// the content of the ratchet_tree extension, or the tree an application
// sends out of band. Node i is at NodeIndex i; a nil entry is a blank node.
// [RatchetTree] is the stateful tree built from it.
//
// The encoding never ends with a blank node: MarshalBinary drops trailing
// blanks, and decoding rejects a tree whose last node is blank, as the RFC
// requires. An empty tree is rejected too, since a group has at least one
// member.
type TreeNodes []*Node

func (t TreeNodes) marshal(b *codec.Builder) {
	n := len(t)
	for n > 0 && t[n-1] == nil {
		n--
	}
	if n == 0 {
		b.SetError(errors.New("mls: empty ratchet tree"))
		return
	}
	marshalVector(b, t[:n], func(b *codec.Builder, node **Node) {
		b.AddOptional(*node != nil, func(b *codec.Builder) { (*node).marshal(b) })
	})
}

func (t *TreeNodes) unmarshal(r *codec.Reader) {
	*t = unmarshalVector(r, func(r *codec.Reader, node **Node) {
		if r.ReadOptional() {
			*node = new(Node)
			(*node).unmarshal(r)
		}
	})
	if r.Err() != nil {
		return
	}
	if len(*t) == 0 {
		r.SetError(errors.New("empty ratchet tree"))
	} else if (*t)[len(*t)-1] == nil {
		r.SetError(errors.New("ratchet tree ends with a blank node"))
	}
}

// MarshalBinary returns the encoding of t, without trailing blank nodes.
func (t TreeNodes) MarshalBinary() ([]byte, error) { return encode(t) }

// UnmarshalBinary decodes t from data, which must hold exactly one ratchet
// tree that does not end with a blank node.
func (t *TreeNodes) UnmarshalBinary(data []byte) error { return decode("TreeNodes", data, t) }

package mls

import "github.com/arbormls/mls/internal/codec"

// HPKECiphertext is the output of EncryptWithLabel: the KEM output and the
// AEAD ciphertext (RFC 9420 section 7.6).
type HPKECiphertext struct {
	KEMOutput  []byte
	Ciphertext []byte
}

func (c *HPKECiphertext) marshal(b *codec.Builder) {
	b.AddOpaque(c.KEMOutput)
	b.AddOpaque(c.Ciphertext)
}

func (c *HPKECiphertext) unmarshal(r *codec.Reader) {
	c.KEMOutput = r.ReadOpaque()
	c.Ciphertext = r.ReadOpaque()
}

// MarshalBinary returns the encoding of c.
func (c *HPKECiphertext) MarshalBinary() ([]byte, error) { return encode(c) }

// UnmarshalBinary decodes c from data, which must hold exactly one HPKECiphertext.
func (c *HPKECiphertext) UnmarshalBinary(data []byte) error {
	return decode("HPKECiphertext", data, c)
}

// UpdatePathNode is the new public key of one node of the committer's
// filtered direct path, with its path secret encrypted to each node of the
// copath child's resolution, in resolution order (RFC 9420 section 7.6).
type UpdatePathNode struct {
	EncryptionKey       []byte
	EncryptedPathSecret []HPKECiphertext
}

func (n *UpdatePathNode) marshal(b *codec.Builder) {
	b.AddOpaque(n.EncryptionKey)
	marshalList(b, n.EncryptedPathSecret)
}

func (n *UpdatePathNode) unmarshal(r *codec.Reader) {
	n.EncryptionKey = r.ReadOpaque()
	n.EncryptedPathSecret = unmarshalList[HPKECiphertext](r)
}

// UpdatePath is the path a committer sends to refresh its direct path: its
// new LeafNode (source commit) and one UpdatePathNode per node of its
// filtered direct path (RFC 9420 section 7.6).
type UpdatePath struct {
	LeafNode LeafNode
	Nodes    []UpdatePathNode
}

func (p *UpdatePath) marshal(b *codec.Builder) {
	p.LeafNode.marshal(b)
	marshalList(b, p.Nodes)
}

func (p *UpdatePath) unmarshal(r *codec.Reader) {
	p.LeafNode.unmarshal(r)
	p.Nodes = unmarshalList[UpdatePathNode](r)
}

// MarshalBinary returns the encoding of p.
func (p *UpdatePath) MarshalBinary() ([]byte, error) { return encode(p) }

// UnmarshalBinary decodes p from data, which must hold exactly one UpdatePath.
func (p *UpdatePath) UnmarshalBinary(data []byte) error { return decode("UpdatePath", data, p) }

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

// unmarshal reads the values shared: in a Commit, slices of its one copy
// of the input (see Commit.unmarshal), which also holds the commit's
// signed bytes, so nothing may write to them in place.
func (c *HPKECiphertext) unmarshal(r *codec.Reader) {
	c.KEMOutput = r.ReadOpaqueShared()
	c.Ciphertext = r.ReadOpaqueShared()
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
	// A sparse tree puts thousands of ciphertexts here: the slice is sized
	// by a first pass over their lengths rather than grown.
	sub := r.ReadVector()
	count := 0
	for scan := *sub; !scan.Empty(); count++ {
		scan.Skip(int(scan.ReadVarint())) // kem_output
		scan.Skip(int(scan.ReadVarint())) // ciphertext
	}
	n.EncryptedPathSecret = nil
	if r.Err() != nil || count == 0 {
		return
	}
	n.EncryptedPathSecret = make([]HPKECiphertext, 0, count)
	sub.ReadItems(func(r *codec.Reader) {
		var c HPKECiphertext
		c.unmarshal(r)
		n.EncryptedPathSecret = append(n.EncryptedPathSecret, c)
	})
	if r.Err() != nil {
		n.EncryptedPathSecret = nil
	}
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

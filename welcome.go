package mls

import (
	"fmt"
	"io"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/codec"
)

// Welcome brings new members into a group (RFC 9420 section 12.4.3.1): the
// GroupSecrets encrypted to each new member's KeyPackage, and the GroupInfo
// encrypted under a key derived from the joiner_secret.
type Welcome struct {
	CipherSuite        ciphersuite.ID
	Secrets            []EncryptedGroupSecrets
	EncryptedGroupInfo []byte
}

func (w *Welcome) marshal(b *codec.Builder) {
	b.AddUint16(uint16(w.CipherSuite))
	marshalList(b, w.Secrets)
	b.AddOpaque(w.EncryptedGroupInfo)
}

func (w *Welcome) unmarshal(r *codec.Reader) {
	w.CipherSuite = ciphersuite.ID(r.ReadUint16())
	w.Secrets = unmarshalList[EncryptedGroupSecrets](r)
	w.EncryptedGroupInfo = r.ReadOpaque()
}

// MarshalBinary returns the encoding of w.
func (w *Welcome) MarshalBinary() ([]byte, error) { return encode(w) }

// UnmarshalBinary decodes w from data, which must hold exactly one Welcome.
func (w *Welcome) UnmarshalBinary(data []byte) error { return decode("Welcome", data, w) }

// EncryptedGroupSecrets is the GroupSecrets of one new member, encrypted to
// the init_key of the KeyPackage whose KeyPackageRef is NewMember.
type EncryptedGroupSecrets struct {
	NewMember             []byte
	EncryptedGroupSecrets HPKECiphertext
}

func (e *EncryptedGroupSecrets) marshal(b *codec.Builder) {
	b.AddOpaque(e.NewMember)
	e.EncryptedGroupSecrets.marshal(b)
}

func (e *EncryptedGroupSecrets) unmarshal(r *codec.Reader) {
	e.NewMember = r.ReadOpaque()
	e.EncryptedGroupSecrets.unmarshal(r)
}

// PathSecret is the path secret a new member needs for the nodes of its
// direct path that the Commit refreshed (RFC 9420 section 12.4.3.1). It is
// secret: fmt prints it redacted.
type PathSecret struct {
	PathSecret []byte
}

// Format prints p without its secret, whatever the verb.
func (p PathSecret) Format(f fmt.State, verb rune) { io.WriteString(f, "mls.PathSecret{redacted}") }

func (p *PathSecret) marshal(b *codec.Builder)  { b.AddOpaque(p.PathSecret) }
func (p *PathSecret) unmarshal(r *codec.Reader) { p.PathSecret = r.ReadOpaque() }

// GroupSecrets is what a Welcome encrypts to each new member (RFC 9420
// section 12.4.3.1): the joiner_secret, optionally a path secret, and the
// PSKs to inject. It is secret: fmt prints it redacted.
type GroupSecrets struct {
	JoinerSecret []byte
	PathSecret   *PathSecret
	PSKs         []PreSharedKeyID
}

// Format prints g without its secrets, whatever the verb.
func (g GroupSecrets) Format(f fmt.State, verb rune) {
	io.WriteString(f, "mls.GroupSecrets{redacted}")
}

func (g *GroupSecrets) marshal(b *codec.Builder) {
	b.AddOpaque(g.JoinerSecret)
	b.AddOptional(g.PathSecret != nil, func(b *codec.Builder) { g.PathSecret.marshal(b) })
	marshalList(b, g.PSKs)
}

func (g *GroupSecrets) unmarshal(r *codec.Reader) {
	g.JoinerSecret = r.ReadOpaque()
	g.PathSecret = nil
	if r.ReadOptional() {
		g.PathSecret = new(PathSecret)
		g.PathSecret.unmarshal(r)
	}
	g.PSKs = unmarshalList[PreSharedKeyID](r)
}

// MarshalBinary returns the encoding of g.
func (g *GroupSecrets) MarshalBinary() ([]byte, error) { return encode(g) }

// UnmarshalBinary decodes g from data, which must hold exactly one GroupSecrets.
func (g *GroupSecrets) UnmarshalBinary(data []byte) error {
	return decode("GroupSecrets", data, g)
}

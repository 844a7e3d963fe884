package mls

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/arbormls/mls/internal/codec"
)

// ErrMalformed is wrapped by every error returned when decoding a wire
// struct fails: truncated input, trailing bytes, a non-minimal varint, or a
// value the RFC 9420 syntax does not allow (an unknown wire_format, an
// optional presence byte other than 0 or 1, non-zero padding, ...). The
// underlying codec error, if any, is wrapped too.
var ErrMalformed = errors.New("mls: malformed encoding")

// decodeError names the type that failed to decode.
type decodeError struct {
	typ string
	err error
}

func (e *decodeError) Error() string { return "mls: malformed " + e.typ + ": " + e.err.Error() }

func (e *decodeError) Unwrap() []error { return []error{ErrMalformed, e.err} }

// ProtocolVersion is an MLS protocol version (RFC 9420 section 6).
type ProtocolVersion uint16

// ProtocolVersionMLS10 is MLS 1.0, the version RFC 9420 defines.
const ProtocolVersionMLS10 ProtocolVersion = 1

// String returns the RFC 9420 name of v.
func (v ProtocolVersion) String() string {
	return enumName(v, "ProtocolVersion", "mls10")
}

// marshaler and unmarshaler are implemented by every wire struct.
type marshaler interface{ marshal(b *codec.Builder) }

type unmarshaler interface{ unmarshal(r *codec.Reader) }

// encode returns the encoding of m, or the first error met while encoding.
func encode(m marshaler) ([]byte, error) {
	b := codec.NewBuilder(256)
	m.marshal(b)
	return b.Bytes()
}

// decode decodes data into u, rejecting trailing bytes. name is the type
// named in the error.
func decode(name string, data []byte, u unmarshaler) error {
	r := codec.NewReader(data)
	u.unmarshal(r)
	if err := r.Finish(); err != nil {
		return &decodeError{typ: name, err: err}
	}
	return nil
}

// captureRaw runs f, which reads one value from r, and returns a copy of the
// bytes it consumed (nil if reading failed). Decoded KeyPackages, LeafNodes
// and GroupInfos keep these bytes because they are signed or hashed as
// received.
func captureRaw(r *codec.Reader, f func()) []byte {
	before := r.Remaining()
	f()
	if r.Err() != nil {
		return nil
	}
	return bytes.Clone(before[:len(before)-r.Len()])
}

// marshalVector writes items as a variable-length vector.
func marshalVector[T any](b *codec.Builder, items []T, f func(b *codec.Builder, item *T)) {
	b.AddVector(func(b *codec.Builder) {
		for i := range items {
			f(b, &items[i])
		}
	})
}

// unmarshalVector reads a variable-length vector of items. Items are
// appended as they are read, so memory stays proportional to the input.
func unmarshalVector[T any](r *codec.Reader, f func(r *codec.Reader, item *T)) []T {
	var items []T
	r.ReadVectorFunc(func(r *codec.Reader) {
		var item T
		f(r, &item)
		items = append(items, item)
	})
	if r.Err() != nil {
		return nil
	}
	return items
}

// marshalUint16s writes a vector of 16-bit code points.
func marshalUint16s[T ~uint16](b *codec.Builder, v []T) {
	b.AddVector(func(b *codec.Builder) {
		for _, x := range v {
			b.AddUint16(uint16(x))
		}
	})
}

// unmarshalUint16s reads a vector of 16-bit code points.
func unmarshalUint16s[T ~uint16](r *codec.Reader) []T {
	return unmarshalVector(r, func(r *codec.Reader, x *T) { *x = T(r.ReadUint16()) })
}

// marshalOpaques writes a vector of opaque<V> values.
func marshalOpaques(b *codec.Builder, v [][]byte) {
	marshalVector(b, v, func(b *codec.Builder, x *[]byte) { b.AddOpaque(*x) })
}

// unmarshalOpaques reads a vector of opaque<V> values.
func unmarshalOpaques(r *codec.Reader) [][]byte {
	return unmarshalVector(r, func(r *codec.Reader, x *[]byte) { *x = r.ReadOpaque() })
}

// marshalList writes a vector of wire structs.
func marshalList[T any, P interface {
	*T
	marshaler
}](b *codec.Builder, items []T) {
	marshalVector(b, items, func(b *codec.Builder, item *T) { P(item).marshal(b) })
}

// unmarshalList reads a vector of wire structs.
func unmarshalList[T any, P interface {
	*T
	unmarshaler
}](r *codec.Reader) []T {
	return unmarshalVector(r, func(r *codec.Reader, item *T) { P(item).unmarshal(r) })
}

// enumName returns the RFC name of the code point v, given the names of the
// code points 1, 2, ... in order, or Type(v) for a value without a name.
func enumName[T ~uint8 | ~uint16](v T, typ string, names ...string) string {
	if v >= 1 && int(v) <= len(names) {
		return names[v-1]
	}
	return fmt.Sprintf("%s(%d)", typ, v)
}

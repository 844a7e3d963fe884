// Package codec implements the TLS presentation language as RFC 9420 uses it
// (section 2.1), with MLS variable-length integers (section 2.1.2) for vector
// lengths.
//
// Decoding is strict: only minimal varint encodings are accepted, lengths are
// checked against the remaining input before anything is sliced or allocated,
// and callers finish with [Reader.Finish], which rejects trailing bytes.
package codec

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
)

// MaxVarint is the largest value a MLS variable-length integer can hold (2^30-1).
const MaxVarint = 1<<30 - 1

var (
	// ErrTruncated reports input that ended before a value was complete.
	ErrTruncated = errors.New("codec: truncated input")
	// ErrTrailingData reports bytes left over after a complete value.
	ErrTrailingData = errors.New("codec: trailing data")
	// ErrInvalidVarint reports a varint with the reserved 0b11 prefix.
	ErrInvalidVarint = errors.New("codec: invalid varint prefix")
	// ErrNonMinimalVarint reports a varint not encoded in its shortest form.
	ErrNonMinimalVarint = errors.New("codec: non-minimal varint")
	// ErrVarintTooLarge reports an attempt to encode a value above MaxVarint.
	ErrVarintTooLarge = errors.New("codec: varint too large")
	// ErrInvalidOptional reports an optional<T> presence byte other than 0 or 1.
	ErrInvalidOptional = errors.New("codec: invalid optional presence byte")
)

// Builder appends TLS-encoded values to a buffer. The first error is kept and
// reported by Bytes; later calls are no-ops.
type Builder struct {
	buf []byte
	err error
}

// NewBuilder returns a Builder whose buffer has the given initial capacity.
func NewBuilder(capacity int) *Builder { return &Builder{buf: make([]byte, 0, capacity)} }

// NewBuilderOn returns a Builder that appends to buf[:0], reusing its
// storage (for a buffer kept from one encoding to the next).
func NewBuilderOn(buf []byte) *Builder { return &Builder{buf: buf[:0]} }

// Bytes returns the encoded bytes or the first error met while building.
func (b *Builder) Bytes() ([]byte, error) {
	if b.err != nil {
		return nil, b.err
	}
	return b.buf, nil
}

// Err returns the first error met while building.
func (b *Builder) Err() error { return b.err }

// SetError records err (if no error is recorded yet), failing the build.
func (b *Builder) SetError(err error) {
	if b.err == nil {
		b.err = err
	}
}

// Len returns the number of bytes written so far.
func (b *Builder) Len() int { return len(b.buf) }

// Grow makes room for n more bytes, so that a value whose size is known
// beforehand is written into one allocation instead of a buffer grown
// step by step.
func (b *Builder) Grow(n int) {
	if n > 0 {
		b.buf = slices.Grow(b.buf, n)
	}
}

// AddUint8 appends v.
func (b *Builder) AddUint8(v uint8) { b.buf = append(b.buf, v) }

// AddUint16 appends v big-endian.
func (b *Builder) AddUint16(v uint16) { b.buf = append(b.buf, byte(v>>8), byte(v)) }

// AddUint32 appends v big-endian.
func (b *Builder) AddUint32(v uint32) {
	b.buf = append(b.buf, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// AddUint64 appends v big-endian.
func (b *Builder) AddUint64(v uint64) {
	b.buf = append(b.buf, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32),
		byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// AddBool appends a TLS boolean (one byte, 0 or 1).
func (b *Builder) AddBool(v bool) {
	if v {
		b.AddUint8(1)
	} else {
		b.AddUint8(0)
	}
}

// AddVarint appends v as a minimal MLS variable-length integer.
func (b *Builder) AddVarint(v uint64) {
	var err error
	if b.buf, err = AppendVarint(b.buf, v); err != nil {
		b.SetError(err)
	}
}

// AppendVarint appends v to dst as a minimal MLS variable-length integer
// (RFC 9420 section 2.1.2), for callers that build a few bytes without a
// Builder (a hash input); v must be below 2^30.
func AppendVarint(dst []byte, v uint64) ([]byte, error) {
	switch {
	case v < 1<<6:
		return append(dst, byte(v)), nil
	case v < 1<<14:
		return append(dst, 0x40|byte(v>>8), byte(v)), nil
	case v < 1<<30:
		return append(dst, 0x80|byte(v>>24), byte(v>>16), byte(v>>8), byte(v)), nil
	}
	return dst, ErrVarintTooLarge
}

// AddRaw appends v without a length prefix (fixed-size fields).
func (b *Builder) AddRaw(v []byte) { b.buf = append(b.buf, v...) }

// AddOpaque appends opaque v<V>: a varint length followed by v.
func (b *Builder) AddOpaque(v []byte) {
	b.AddVarint(uint64(len(v)))
	b.buf = append(b.buf, v...)
}

// AddVector appends a variable-length vector whose content is written by f.
// The length prefix is computed once f returns.
func (b *Builder) AddVector(f func(b *Builder)) {
	start := len(b.buf)
	// Reserve one byte; most vectors are short. Move the body if the
	// length needs more.
	b.buf = append(b.buf, 0)
	f(b)
	n := len(b.buf) - start - 1
	switch {
	case n < 1<<6:
		b.buf[start] = byte(n)
	case n < 1<<14:
		b.buf = append(b.buf, 0)
		copy(b.buf[start+2:], b.buf[start+1:len(b.buf)-1])
		b.buf[start] = 0x40 | byte(n>>8)
		b.buf[start+1] = byte(n)
	case n < 1<<30:
		b.buf = append(b.buf, 0, 0, 0)
		copy(b.buf[start+4:], b.buf[start+1:len(b.buf)-3])
		b.buf[start] = 0x80 | byte(n>>24)
		b.buf[start+1] = byte(n >> 16)
		b.buf[start+2] = byte(n >> 8)
		b.buf[start+3] = byte(n)
	default:
		b.SetError(ErrVarintTooLarge)
	}
}

// AddOptional appends optional<T>: a presence byte, then T written by f when present.
func (b *Builder) AddOptional(present bool, f func(b *Builder)) {
	b.AddBool(present)
	if present {
		f(b)
	}
}

// Reader decodes TLS-encoded values from a byte slice. Errors are sticky:
// after the first one, every read returns a zero value, and Err or Finish
// reports it. Readers made by ReadVector share the error of their parent.
type Reader struct {
	data []byte
	err  *error
	// owned: data is private (CopyRest), so
	// ReadOpaqueShared may return slices of it.
	owned bool
}

// NewReader returns a Reader over data. Decoded byte strings are copies, so
// data may be reused after decoding.
func NewReader(data []byte) *Reader {
	var err error
	return &Reader{data: data, err: &err}
}

// Err returns the first error met while reading.
func (r *Reader) Err() error { return *r.err }

// SetError records err (if no error is recorded yet) and stops reading.
func (r *Reader) SetError(err error) {
	if *r.err == nil {
		*r.err = err
	}
	r.data = nil
}

// Len returns the number of unread bytes.
func (r *Reader) Len() int { return len(r.data) }

// Empty reports whether all input is consumed or an error occurred.
func (r *Reader) Empty() bool { return len(r.data) == 0 || *r.err != nil }

// Remaining returns the unread bytes without consuming them.
func (r *Reader) Remaining() []byte { return r.data }

// Finish returns the first error, or ErrTrailingData if input is left.
func (r *Reader) Finish() error {
	if *r.err != nil {
		return *r.err
	}
	if len(r.data) != 0 {
		return fmt.Errorf("%w: %d bytes", ErrTrailingData, len(r.data))
	}
	return nil
}

func (r *Reader) take(n int) []byte {
	if *r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.data) {
		r.SetError(ErrTruncated)
		return nil
	}
	v := r.data[:n:n]
	r.data = r.data[n:]
	return v
}

// ReadUint8 reads one byte.
func (r *Reader) ReadUint8() uint8 {
	v := r.take(1)
	if v == nil {
		return 0
	}
	return v[0]
}

// ReadUint16 reads a big-endian uint16.
func (r *Reader) ReadUint16() uint16 {
	v := r.take(2)
	if v == nil {
		return 0
	}
	return uint16(v[0])<<8 | uint16(v[1])
}

// ReadUint32 reads a big-endian uint32.
func (r *Reader) ReadUint32() uint32 {
	v := r.take(4)
	if v == nil {
		return 0
	}
	return uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3])
}

// ReadUint64 reads a big-endian uint64.
func (r *Reader) ReadUint64() uint64 {
	v := r.take(8)
	if v == nil {
		return 0
	}
	var x uint64
	for _, c := range v {
		x = x<<8 | uint64(c)
	}
	return x
}

// ReadBool reads a TLS boolean; values other than 0 and 1 are an error.
func (r *Reader) ReadBool() bool {
	switch r.ReadUint8() {
	case 0:
		return false
	case 1:
		return true
	default:
		r.SetError(errors.New("codec: invalid boolean"))
		return false
	}
}

// ReadOptional reads the presence byte of optional<T>.
func (r *Reader) ReadOptional() bool {
	if *r.err != nil {
		return false
	}
	switch r.ReadUint8() {
	case 0:
		return false
	case 1:
		return true
	default:
		r.SetError(ErrInvalidOptional)
		return false
	}
}

// ReadVarint reads a minimal MLS variable-length integer.
func (r *Reader) ReadVarint() uint64 {
	if *r.err != nil {
		return 0
	}
	if len(r.data) == 0 {
		r.SetError(ErrTruncated)
		return 0
	}
	prefix := r.data[0] >> 6
	if prefix == 3 {
		r.SetError(ErrInvalidVarint)
		return 0
	}
	n := 1 << prefix
	v := r.take(n)
	if v == nil {
		return 0
	}
	x := uint64(v[0] & 0x3f)
	for _, c := range v[1:] {
		x = x<<8 | uint64(c)
	}
	// Section 2.1.2: a value must use the shortest encoding.
	if (n == 2 && x < 1<<6) || (n == 4 && x < 1<<14) {
		r.SetError(ErrNonMinimalVarint)
		return 0
	}
	return x
}

// ReadRaw reads n bytes without a length prefix and returns a copy.
func (r *Reader) ReadRaw(n int) []byte {
	v := r.take(n)
	if v == nil {
		return nil
	}
	return append([]byte{}, v...)
}

// ReadOpaque reads opaque<V> and returns a copy of its content (never nil
// on success, so an empty value is distinguishable from a failed read only
// through Err).
func (r *Reader) ReadOpaque() []byte {
	n := r.ReadVarint()
	if *r.err != nil {
		return nil
	}
	if n > uint64(len(r.data)) {
		r.SetError(ErrTruncated)
		return nil
	}
	return append([]byte{}, r.take(int(n))...)
}

// ReadOpaqueShared reads opaque<V> like ReadOpaque, but from a Reader made
// by CopyRest (or a sub-reader of one) returns a slice
// of its private input, capacity-limited, instead of a copy of its own:
// thousands of small values then cost no allocation each. Each keeps all
// of that input alive, so use it only for values that live no longer than
// the structure decoded. Other Readers copy.
func (r *Reader) ReadOpaqueShared() []byte {
	if !r.owned {
		return r.ReadOpaque()
	}
	n := r.ReadVarint()
	if *r.err == nil && n > uint64(len(r.data)) {
		r.SetError(ErrTruncated)
	}
	if *r.err != nil {
		return nil
	}
	if v := r.take(int(n)); v != nil {
		return v
	}
	return []byte{}
}

// CopyRest returns a Reader over a private copy of r's unread input,
// sharing r's error: a value decoded from it can keep its own encoding
// (sliced from the copy's Remaining) and the values read with
// ReadOpaqueShared in that one allocation. r does not move: Skip it past
// what was read from the copy. A Reader made by CopyRest, whose input is
// private already, is not copied again.
func (r *Reader) CopyRest() *Reader {
	if *r.err != nil {
		return &Reader{err: r.err}
	}
	if r.owned {
		return &Reader{data: r.data, err: r.err, owned: true}
	}
	return &Reader{data: bytes.Clone(r.data), err: r.err, owned: true}
}

// Skip consumes n bytes without reading them.
func (r *Reader) Skip(n int) { r.take(n) }

// ReadVector reads a varint length and returns a Reader over that many
// bytes, sharing this Reader's error. The caller reads items until the
// sub-reader is Empty.
func (r *Reader) ReadVector() *Reader {
	n := r.ReadVarint()
	if *r.err == nil && n > uint64(len(r.data)) {
		r.SetError(ErrTruncated)
	}
	if *r.err != nil {
		return &Reader{err: r.err}
	}
	return &Reader{data: r.take(int(n)), err: r.err, owned: r.owned}
}

// ReadVectorFunc reads a vector and calls f until its content is consumed.
// f must consume at least one byte per call or set an error.
func (r *Reader) ReadVectorFunc(f func(r *Reader)) {
	r.ReadVector().ReadItems(f)
}

// ReadItems calls f until r's input is consumed: ReadVectorFunc for a
// Reader that ReadVector returned. f must consume at least one byte per
// call or set an error.
func (r *Reader) ReadItems(f func(r *Reader)) {
	for !r.Empty() {
		before := r.Len()
		f(r)
		if *r.err == nil && r.Len() == before {
			r.SetError(errors.New("codec: vector item consumed no input"))
		}
	}
}

// Marshaler is implemented by wire structs.
type Marshaler interface {
	MarshalTLS(b *Builder)
}

// Unmarshaler is implemented by wire structs.
type Unmarshaler interface {
	UnmarshalTLS(r *Reader)
}

// Marshal encodes m.
func Marshal(m Marshaler) ([]byte, error) {
	b := NewBuilder(64)
	m.MarshalTLS(b)
	return b.Bytes()
}

// Unmarshal decodes data into u, rejecting trailing bytes.
func Unmarshal(data []byte, u Unmarshaler) error {
	r := NewReader(data)
	u.UnmarshalTLS(r)
	return r.Finish()
}

package codec

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func TestVarintRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		v   uint64
		enc string
	}{
		{0, "00"}, {37, "25"}, {63, "3f"}, {64, "4040"}, {15293, "7bbd"}, {16383, "7fff"},
		{16384, "80004000"}, {494878333, "9d7f3e7d"}, {MaxVarint, "bfffffff"},
	} {
		b := NewBuilder(0)
		b.AddVarint(tc.v)
		got, err := b.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(got) != tc.enc {
			t.Errorf("encode %d = %x, want %s", tc.v, got, tc.enc)
		}
		r := NewReader(got)
		if v := r.ReadVarint(); v != tc.v || r.Finish() != nil {
			t.Errorf("decode %s = %d, %v", tc.enc, v, r.Finish())
		}
	}
}

func TestVarintRejections(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"c0", ErrInvalidVarint},               // 0b11 prefix
		{"ffffffffffffffff", ErrInvalidVarint}, // 0b11 prefix, 8 bytes
		{"4025", ErrNonMinimalVarint},          // 37 in two bytes
		{"403f", ErrNonMinimalVarint},
		{"80000025", ErrNonMinimalVarint}, // 37 in four bytes
		{"80003fff", ErrNonMinimalVarint}, // 16383 in four bytes
		{"40", ErrTruncated},
		{"800000", ErrTruncated},
		{"", ErrTruncated},
	} {
		in, _ := hex.DecodeString(tc.in)
		r := NewReader(in)
		r.ReadVarint()
		if err := r.Err(); !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.in, err, tc.want)
		}
	}
	b := NewBuilder(0)
	b.AddVarint(MaxVarint + 1)
	if _, err := b.Bytes(); !errors.Is(err, ErrVarintTooLarge) {
		t.Errorf("encoding 2^30: err %v", err)
	}
}

func TestOpaqueAndVector(t *testing.T) {
	for _, n := range []int{0, 1, 63, 64, 16383, 16384, 70000} {
		body := bytes.Repeat([]byte{0xab}, n)
		b := NewBuilder(0)
		b.AddUint8(7)
		b.AddVector(func(b *Builder) { b.AddRaw(body) })
		b.AddOpaque(body)
		b.AddUint16(0xbeef)
		enc, err := b.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		r := NewReader(enc)
		if r.ReadUint8() != 7 {
			t.Fatal("prefix")
		}
		sub := r.ReadVector()
		if !bytes.Equal(sub.Remaining(), body) {
			t.Fatalf("n=%d: vector body mismatch", n)
		}
		if got := r.ReadOpaque(); !bytes.Equal(got, body) {
			t.Fatalf("n=%d: opaque mismatch", n)
		}
		if r.ReadUint16() != 0xbeef || r.Finish() != nil {
			t.Fatalf("n=%d: suffix: %v", n, r.Finish())
		}
		// AddVector and AddOpaque must agree on the length header.
		b1, b2 := NewBuilder(0), NewBuilder(0)
		b1.AddVector(func(b *Builder) { b.AddRaw(body) })
		b2.AddOpaque(body)
		e1, _ := b1.Bytes()
		e2, _ := b2.Bytes()
		if !bytes.Equal(e1, e2) {
			t.Fatalf("n=%d: AddVector and AddOpaque differ", n)
		}
	}
}

func TestLengthBeyondInput(t *testing.T) {
	// A 4-byte length of 1 GiB-1 with 2 bytes of body must fail before allocating.
	in, _ := hex.DecodeString("bfffffff0102")
	r := NewReader(in)
	if v := r.ReadOpaque(); v != nil || !errors.Is(r.Err(), ErrTruncated) {
		t.Fatalf("ReadOpaque: %v %v", v, r.Err())
	}
	r = NewReader(in)
	r.ReadVector()
	if !errors.Is(r.Err(), ErrTruncated) {
		t.Fatalf("ReadVector: %v", r.Err())
	}
}

func TestTrailingData(t *testing.T) {
	r := NewReader([]byte{1, 2, 3})
	r.ReadUint16()
	if err := r.Finish(); !errors.Is(err, ErrTrailingData) {
		t.Fatalf("Finish: %v", err)
	}
}

func TestStickyErrorSharedWithSubReader(t *testing.T) {
	in, _ := hex.DecodeString("0201") // vector of 2 bytes, only 1 present
	r := NewReader(in)
	sub := r.ReadVector()
	sub.ReadUint8()
	if r.Err() == nil || sub.Err() == nil {
		t.Fatal("error not shared")
	}
	// An error inside a well-formed vector reaches the parent.
	in, _ = hex.DecodeString("01c0")
	r = NewReader(in)
	r.ReadVectorFunc(func(r *Reader) { r.ReadVarint() })
	if !errors.Is(r.Finish(), ErrInvalidVarint) {
		t.Fatalf("parent error: %v", r.Finish())
	}
}

func TestOptionalAndBool(t *testing.T) {
	for _, bad := range []byte{2, 0xff} {
		r := NewReader([]byte{bad})
		r.ReadOptional()
		if !errors.Is(r.Err(), ErrInvalidOptional) {
			t.Errorf("optional %d: %v", bad, r.Err())
		}
		r = NewReader([]byte{bad})
		r.ReadBool()
		if r.Err() == nil {
			t.Errorf("bool %d accepted", bad)
		}
	}
	b := NewBuilder(0)
	b.AddOptional(true, func(b *Builder) { b.AddUint32(5) })
	b.AddOptional(false, func(b *Builder) { b.AddUint32(6) })
	enc, _ := b.Bytes()
	if hex.EncodeToString(enc) != "010000000500" {
		t.Fatalf("optional encoding %x", enc)
	}
}

func TestFixedWidthIntegers(t *testing.T) {
	b := NewBuilder(0)
	b.AddUint64(0x0102030405060708)
	b.AddUint32(0x0a0b0c0d)
	enc, _ := b.Bytes()
	r := NewReader(enc)
	if r.ReadUint64() != 0x0102030405060708 || r.ReadUint32() != 0x0a0b0c0d || r.Finish() != nil {
		t.Fatal("fixed-width round trip")
	}
	r = NewReader(enc[:3])
	r.ReadUint64()
	if !errors.Is(r.Err(), ErrTruncated) {
		t.Fatal("short uint64 accepted")
	}
}

func TestVectorItemMustConsume(t *testing.T) {
	r := NewReader([]byte{0x01, 0x00})
	r.ReadVectorFunc(func(r *Reader) {})
	if r.Err() == nil {
		t.Fatal("non-consuming item loop not stopped")
	}
}

// TestCopyRestShared checks that values read shared from a CopyRest
// Reader are capacity-limited slices of its one private copy, that other
// Readers still copy, and that the parent Reader moves only by Skip.
func TestCopyRestShared(t *testing.T) {
	in, _ := hex.DecodeString("0603aabbcc01dd00ff") // vector{opaque(aabbcc), opaque(dd)}, opaque(), ff
	r := NewReader(in)
	cr := r.CopyRest()
	rest := cr.Remaining()
	if &rest[0] == &in[0] || !bytes.Equal(rest, in) {
		t.Fatal("CopyRest does not read a copy of the unread input")
	}
	sub := cr.ReadVector()
	a, d := sub.ReadOpaqueShared(), sub.ReadOpaqueShared()
	if !bytes.Equal(a, []byte{0xaa, 0xbb, 0xcc}) || !bytes.Equal(d, []byte{0xdd}) || !sub.Empty() {
		t.Fatalf("shared values %x %x", a, d)
	}
	if &a[0] != &rest[2] || cap(a) != len(a) {
		t.Fatal("a shared value is not a capacity-limited slice of the copy")
	}
	if e := cr.ReadOpaqueShared(); e == nil || len(e) != 0 {
		t.Fatalf("empty shared value %v", e)
	}
	if r.Len() != len(in) {
		t.Fatal("CopyRest moved the parent Reader")
	}
	r.Skip(len(in) - cr.Len())
	if r.ReadUint8() != 0xff || r.Finish() != nil {
		t.Fatalf("after Skip: %v", r.Finish())
	}

	// A Reader not made by CopyRest copies.
	r = NewReader(in[1:])
	v := r.ReadOpaqueShared()
	in[2] = 0
	if !bytes.Equal(v, []byte{0xaa, 0xbb, 0xcc}) {
		t.Fatal("ReadOpaqueShared of an ordinary Reader aliases its input")
	}

	// Owned input (a copy already) is not copied again.
	owned := NewReader([]byte{0x01, 0x07}).CopyRest()
	first := owned.data
	if v := owned.CopyRest().ReadOpaqueShared(); &v[0] != &first[1] {
		t.Fatal("CopyRest copied a Reader's owned input")
	}

	// Errors in the copy reach the parent.
	r = NewReader([]byte{0x05, 0x01})
	cr = r.CopyRest()
	if cr.ReadOpaqueShared() != nil || !errors.Is(r.Finish(), ErrTruncated) {
		t.Fatalf("parent error: %v", r.Finish())
	}
}

func TestGrow(t *testing.T) {
	b := NewBuilder(0)
	b.AddUint8(1)
	b.Grow(1000)
	before := cap(b.buf)
	if before < 1001 {
		t.Fatalf("capacity %d after Grow(1000)", before)
	}
	b.AddRaw(make([]byte, 1000))
	if cap(b.buf) != before {
		t.Fatal("writing what Grow made room for grew the buffer again")
	}
	if enc, _ := b.Bytes(); len(enc) != 1001 || enc[0] != 1 {
		t.Fatal("Grow changed the content")
	}
}

// FuzzVarint checks that decoding never panics and that anything accepted
// re-encodes to the same bytes (minimal encodings only).
func FuzzVarint(f *testing.F) {
	for _, s := range []string{"00", "3f", "4040", "7fff", "80004000", "bfffffff", "c0", "4025"} {
		v, _ := hex.DecodeString(s)
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(in)
		v := r.ReadVarint()
		if r.Err() != nil {
			return
		}
		b := NewBuilder(0)
		b.AddVarint(v)
		enc, err := b.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, in[:len(in)-r.Len()]) {
			t.Fatalf("re-encoded %x from %x", enc, in)
		}
	})
}

// FuzzOpaque checks vectors and opaque values against arbitrary input.
func FuzzOpaque(f *testing.F) {
	f.Add([]byte{0x02, 0x01, 0x02})
	f.Add([]byte{0x40, 0x40})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(in)
		v := r.ReadOpaque()
		if r.Err() != nil {
			return
		}
		b := NewBuilder(0)
		b.AddOpaque(v)
		enc, _ := b.Bytes()
		if !bytes.Equal(enc, in[:len(in)-r.Len()]) {
			t.Fatalf("re-encoded %x from %x", enc, in)
		}
	})
}

func TestBuilderOn(t *testing.T) {
	buf := make([]byte, 3, 16)
	copy(buf, "old")
	b := NewBuilderOn(buf)
	b.AddOpaque([]byte("new"))
	got, err := b.Bytes()
	if err != nil || string(got) != "\x03new" || &got[0] != &buf[0] {
		t.Errorf("got %q, %v, or another array", got, err)
	}
}

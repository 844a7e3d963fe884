package ciphersuite

import (
	"crypto/rand"
	"testing"

	"filippo.io/edwards25519"
)

// TestMultiScalarMult checks the bucket method against the edwards25519
// package's Straus method, with full-size and short scalars mixed as in a
// batch, including zero scalars and repeated points.
func TestMultiScalarMult(t *testing.T) {
	for _, n := range []int{1, 127, 128, 300, 1500} {
		scalars := make([]*edwards25519.Scalar, n)
		points := make([]*edwards25519.Point, n)
		for i := range n {
			var b [64]byte
			rand.Read(b[:])
			s, _ := edwards25519.NewScalar().SetUniformBytes(b[:])
			switch i % 5 {
			case 1: // a short scalar, like the batch's z_i
				var z [32]byte
				copy(z[:16], b[:16])
				s, _ = edwards25519.NewScalar().SetCanonicalBytes(z[:])
			case 2:
				s = edwards25519.NewScalar()
			case 3: // L - 1: every top window carries
				s = edwards25519.NewScalar().Negate(oneScalar())
			}
			scalars[i] = s
			rand.Read(b[:])
			r, _ := edwards25519.NewScalar().SetUniformBytes(b[:])
			points[i] = new(edwards25519.Point).ScalarBaseMult(r)
			if i%7 == 3 {
				points[i] = points[i-1]
			}
		}
		want := new(edwards25519.Point).VarTimeMultiScalarMult(scalars, points)
		got, err := multiScalarMult(scalars, points)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if got.Equal(want) != 1 {
			t.Fatalf("n=%d: bucket method differs from Straus", n)
		}
	}
}

// TestPippengerEveryWindow runs the bucket method with every window size
// on scalars that carry out of their top window: 2^k - 1 for every k, whose
// digits are all -1 with a carry running up, beside random ones.
func TestPippengerEveryWindow(t *testing.T) {
	var scalars []*edwards25519.Scalar
	var points []*edwards25519.Point
	for k := 1; k <= 252; k++ {
		var b [32]byte
		for i := 0; i < k; i++ {
			b[i/8] |= 1 << (i % 8)
		}
		s, err := edwards25519.NewScalar().SetCanonicalBytes(b[:])
		if err != nil {
			t.Fatal(err)
		}
		scalars = append(scalars, s)
	}
	for range 100 {
		var b [64]byte
		rand.Read(b[:])
		s, _ := edwards25519.NewScalar().SetUniformBytes(b[:])
		scalars = append(scalars, s)
	}
	for range scalars {
		var b [64]byte
		rand.Read(b[:])
		r, _ := edwards25519.NewScalar().SetUniformBytes(b[:])
		points = append(points, new(edwards25519.Point).ScalarBaseMult(r))
	}
	want := new(edwards25519.Point).VarTimeMultiScalarMult(scalars, points)
	for _, sub := range []int{252, len(scalars)} { // the 2^k - 1 alone (max 252 bits), then all
		s, p := scalars[:sub], points[:sub]
		enc := make([][32]byte, sub)
		maxBits := 0
		for i := range s {
			copy(enc[i][:], s[i].Bytes())
			maxBits = max(maxBits, bitLen(&enc[i]))
		}
		w := want
		if sub != len(scalars) {
			w = new(edwards25519.Point).VarTimeMultiScalarMult(s, p)
		}
		for c := 2; c <= 16; c++ {
			got, err := pippenger(s, p, enc, maxBits, c)
			if err != nil || got.Equal(w) != 1 {
				t.Fatalf("%d scalars of at most %d bits, c=%d: wrong sum (%v)", sub, maxBits, c, err)
			}
		}
	}
}

func oneScalar() *edwards25519.Scalar {
	b := make([]byte, 32)
	b[0] = 1
	s, _ := edwards25519.NewScalar().SetCanonicalBytes(b)
	return s
}

func TestCanonicalPoint(t *testing.T) {
	enc := func(first byte, mid byte, last byte) []byte {
		b := make([]byte, 32)
		b[0] = first
		for i := 1; i < 31; i++ {
			b[i] = mid
		}
		b[31] = last
		return b
	}
	for _, c := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"y = 1", enc(1, 0, 0), true},
		{"y = 1, sign set (x = 0)", enc(1, 0, 0x80), false},
		{"y = 2, sign set", enc(2, 0, 0x80), true},
		{"y = p - 1", enc(0xec, 0xff, 0x7f), true},
		{"y = p - 1, sign set (x = 0)", enc(0xec, 0xff, 0xff), false},
		{"y = p", enc(0xed, 0xff, 0x7f), false},
		{"y = p + 1", enc(0xee, 0xff, 0x7f), false},
		{"y = 2^255 - 1", enc(0xff, 0xff, 0xff), false},
		{"y = p - 2, sign set", enc(0xeb, 0xff, 0xff), true},
		{"y = 0", enc(0, 0, 0), true},
	} {
		if got := canonicalPoint(c.b); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

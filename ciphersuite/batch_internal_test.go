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

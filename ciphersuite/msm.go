package ciphersuite

import (
	"errors"
	"math/bits"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
)

// Pippenger's bucket method for the large multi-scalar multiplications of
// Ed25519 batch verification. The edwards25519 package has Straus's method,
// which costs a table and about 50 additions per point; the bucket method
// costs about 253/c additions per point plus 2^c per c-bit window, so for
// thousands of points it does a third of the work. Points are kept in
// extended coordinates (RFC 8032 section 5.1.4) with their own addition
// formulas, since the package's Point.Add converts both operands on every
// call.

// extPoint is (X:Y:Z:T) with x = X/Z, y = Y/Z, xy = T/Z.
type extPoint struct{ X, Y, Z, T field.Element }

// cachedPoint is a point prepared as the second operand of additions.
type cachedPoint struct{ YplusX, YminusX, Z2, T2d field.Element }

// curveD2 is 2d, with d = -121665/121666 the curve constant.
var curveD2 = func() *field.Element {
	one := new(field.Element).One()
	d := new(field.Element).Invert(new(field.Element).Mult32(one, 121666))
	d.Mult32(d, 121665)
	d.Negate(d)
	return d.Add(d, d)
}()

func (v *extPoint) identity() *extPoint {
	v.X.Zero()
	v.Y.One()
	v.Z.One()
	v.T.Zero()
	return v
}

func (c *cachedPoint) from(p *extPoint) *cachedPoint {
	c.YplusX.Add(&p.Y, &p.X)
	c.YminusX.Subtract(&p.Y, &p.X)
	c.Z2.Add(&p.Z, &p.Z)
	c.T2d.Multiply(&p.T, curveD2)
	return c
}

// add sets v = p + q, or p - q when neg. v may be p.
func (v *extPoint) add(p *extPoint, q *cachedPoint, neg bool) *extPoint {
	var sum completedPoint
	return v.fromCompleted(sum.addCached(p, q, neg))
}

// addExt sets v = p + q for two extended points.
func (v *extPoint) addExt(p, q *extPoint) *extPoint {
	var c cachedPoint
	return v.add(p, c.from(q), false)
}

// double sets v = 2p. v may be p.
func (v *extPoint) double(p *extPoint) *extPoint {
	var a, b, c, e, f, g, h field.Element
	a.Square(&p.X)
	b.Square(&p.Y)
	c.Square(&p.Z)
	c.Add(&c, &c)
	h.Add(&a, &b)
	e.Add(&p.X, &p.Y)
	e.Square(&e)
	e.Subtract(&h, &e)
	g.Subtract(&a, &b)
	f.Add(&c, &g)
	v.X.Multiply(&e, &f)
	v.Y.Multiply(&g, &h)
	v.T.Multiply(&e, &h)
	v.Z.Multiply(&f, &g)
	return v
}

// multiScalarMult returns sum [scalars[i]] points[i] in variable time.
// Small inputs go to Straus's method of the edwards25519 package.
func multiScalarMult(scalars []*edwards25519.Scalar, points []*edwards25519.Point) (*edwards25519.Point, error) {
	n := len(points)
	if n < 128 {
		return new(edwards25519.Point).VarTimeMultiScalarMult(scalars, points), nil
	}
	enc := make([][32]byte, n)
	maxBits := 0
	topBits := make([]int, n)
	for i, s := range scalars {
		copy(enc[i][:], s.Bytes())
		topBits[i] = bitLen(&enc[i])
		maxBits = max(maxBits, topBits[i])
	}
	// The window size c minimizing the additions: one per point and
	// nonzero digit, and two per bucket per window to sum the buckets.
	c, best := 4, -1
	for w := 4; w <= 16; w++ {
		cost := ((maxBits + w) / w) << w
		for _, t := range topBits {
			cost += (t + w) / w
		}
		if best < 0 || cost < best {
			c, best = w, cost
		}
	}
	return pippenger(scalars, points, enc, maxBits, c)
}

// pippenger is the bucket method with c-bit signed windows, for scalars
// of at most maxBits bits whose little-endian encodings are enc.
func pippenger(scalars []*edwards25519.Scalar, points []*edwards25519.Point, enc [][32]byte, maxBits, c int) (*edwards25519.Point, error) {
	n := len(points)
	// Signed digits in [-2^(c-1), 2^(c-1)). The top window's raw value is
	// below 2^(maxBits - c(windows-1)); with the carry from below it must
	// stay below 2^(c-1), or it would carry out of the last window: so
	// c*windows >= maxBits + 2.
	windows := (maxBits + c + 1) / c
	digits := make([]int32, n*windows)
	for i := range enc {
		carry := int32(0)
		for j := range windows {
			v := int32(windowBits(&enc[i], j*c, c)) + carry
			carry = 0
			if v >= 1<<(c-1) {
				v -= 1 << c
				carry = 1
			}
			digits[i*windows+j] = v
		}
		if carry != 0 {
			return nil, errors.New("ciphersuite: multi-scalar multiplication: scalar larger than its bit length")
		}
	}
	cached := make([]cachedPoint, n)
	for i, p := range points {
		var e extPoint
		X, Y, Z, T := p.ExtendedCoordinates()
		e.X.Set(X)
		e.Y.Set(Y)
		e.Z.Set(Z)
		e.T.Set(T)
		cached[i].from(&e)
	}
	buckets := make([]extPoint, 1<<(c-1)+1) // buckets[d] for digits ±d
	used := make([]bool, len(buckets))
	var acc extPoint
	acc.identity()
	for j := windows - 1; j >= 0; j-- {
		for range c {
			acc.double(&acc)
		}
		clear(used)
		for i := range cached {
			d := digits[i*windows+j]
			neg := d < 0
			if neg {
				d = -d
			}
			if d == 0 {
				continue
			}
			if !used[d] {
				buckets[d].identity()
				used[d] = true
			}
			buckets[d].add(&buckets[d], &cached[i], neg)
		}
		// sum_d d * buckets[d], as the running sum from the top down.
		var running, sum extPoint
		running.identity()
		sum.identity()
		started := false
		for d := len(buckets) - 1; d > 0; d-- {
			if used[d] {
				running.addExt(&running, &buckets[d])
				started = true
			}
			if started {
				sum.addExt(&sum, &running)
			}
		}
		if started {
			acc.addExt(&acc, &sum)
		}
	}
	return new(edwards25519.Point).SetExtendedCoordinates(&acc.X, &acc.Y, &acc.Z, &acc.T)
}

// bitLen is the bit length of a little-endian 256-bit number.
func bitLen(b *[32]byte) int {
	for i := 31; i >= 0; i-- {
		if b[i] != 0 {
			return 8*i + 8 - bits.LeadingZeros8(b[i])
		}
	}
	return 0
}

// windowBits returns the c bits of b starting at bit lo (c <= 16); bits
// past the end are zero.
func windowBits(b *[32]byte, lo, c int) int {
	var v uint32
	for k := 0; k < 3 && lo/8+k < 32; k++ {
		v |= uint32(b[lo/8+k]) << (8 * k)
	}
	return int(v>>(lo%8)) & (1<<c - 1)
}

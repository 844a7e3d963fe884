package ciphersuite

import (
	"bytes"
	"crypto/ecdh"
	"crypto/fips140"
	"crypto/rand"
	"encoding/hex"
	"testing"
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ecdhX25519Public is the reference: crypto/ecdh's ladder on the base point.
func ecdhX25519Public(t *testing.T, k []byte) []byte {
	t.Helper()
	sk, err := ecdh.X25519().NewPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return sk.PublicKey().Bytes()
}

// TestX25519PublicKeyMatchesECDH checks the fixed-base public key against
// crypto/ecdh for random scalars and for edge scalars, which clamping
// maps to the smallest and largest scalars X25519 uses.
func TestX25519PublicKeyMatchesECDH(t *testing.T) {
	keys := [][]byte{
		make([]byte, 32),
		bytes.Repeat([]byte{0xff}, 32),
		append([]byte{1}, make([]byte, 31)...),
		append(bytes.Repeat([]byte{0xff}, 31), 0x7f),
	}
	for range 1000 {
		k := make([]byte, 32)
		rand.Read(k)
		keys = append(keys, k)
	}
	for _, k := range keys {
		want := ecdhX25519Public(t, k)
		if got := x25519PublicKey(k); !bytes.Equal(got, want) {
			t.Fatalf("key %x: public key %x, crypto/ecdh says %x", k, got, want)
		}
		p, err := x25519Group{}.parse(k)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.publicKey(); !bytes.Equal(got, want) {
			t.Fatalf("key %x: group public key %x, crypto/ecdh says %x", k, got, want)
		}
		if ref, _ := (ecdhGroup{ecdh.X25519()}).parse(k); !bytes.Equal(p.bytes(), ref.bytes()) {
			t.Fatalf("key %x: serialized as %x, want %x", k, p.bytes(), ref.bytes())
		}
	}
}

// TestX25519RFC7748 runs the Diffie-Hellman example of RFC 7748 section 6.1.
func TestX25519RFC7748(t *testing.T) {
	alicePriv := mustHex(t, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
	alicePub := mustHex(t, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
	bobPriv := mustHex(t, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
	bobPub := mustHex(t, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
	shared := mustHex(t, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")

	for _, c := range []struct{ priv, pub, peer []byte }{
		{alicePriv, alicePub, bobPub},
		{bobPriv, bobPub, alicePub},
	} {
		if got := x25519PublicKey(c.priv); !bytes.Equal(got, c.pub) {
			t.Fatalf("public key %x, want %x", got, c.pub)
		}
		p, err := x25519Group{}.parse(c.priv)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.publicKey(); !bytes.Equal(got, c.pub) {
			t.Fatalf("public key before DH %x, want %x", got, c.pub)
		}
		z, err := p.dh(c.peer)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(z, shared) {
			t.Fatalf("shared secret %x, want %x", z, shared)
		}
	}
}

// TestX25519LadderRFC7748 runs the test vectors of RFC 7748 section 5.2:
// two single multiplications, then the function iterated 1,000 times.
func TestX25519LadderRFC7748(t *testing.T) {
	for _, c := range []struct{ k, u, want string }{
		{"a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
			"e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
			"c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"},
		{"4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
			"e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
			"95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"},
	} {
		p, err := x25519Group{}.parse(mustHex(t, c.k))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := p.dh(mustHex(t, c.u)); err != nil || !bytes.Equal(got, mustHex(t, c.want)) {
			t.Fatalf("X25519(%s, %s) = %x, %v; want %s", c.k, c.u, got, err, c.want)
		}
	}
	k := append([]byte{9}, make([]byte, 31)...)
	u := bytes.Clone(k)
	for i := 1; i <= 1000; i++ {
		var ck [32]byte
		copy(ck[:], k)
		ck[0] &= 248
		ck[31] = ck[31]&127 | 64
		k, u = x25519Ladder(&ck, u), k
		want := map[int]string{
			1:    "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079",
			1000: "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51",
		}[i]
		if want != "" && !bytes.Equal(k, mustHex(t, want)) {
			t.Fatalf("after %d iterations %x, want %s", i, k, want)
		}
	}
}

// TestX25519LadderMatchesECDH compares the ladder with crypto/ecdh for
// random keys and peer values, including u with the top bit set, u >= p
// and the low-order points, whose all-zero result both refuse.
func TestX25519LadderMatchesECDH(t *testing.T) {
	peers := [][]byte{
		make([]byte, 32),                       // 0
		append([]byte{1}, make([]byte, 31)...), // 1
		mustHex(t, "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"), // order 8
		mustHex(t, "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"), // order 8
		mustHex(t, "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"), // p - 1
		mustHex(t, "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"), // p
		mustHex(t, "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"), // p + 1
		bytes.Repeat([]byte{0xff}, 32),
	}
	// Every non-canonical u, p to 2^255 - 1, which X25519 reduces modulo p.
	for i := range 19 {
		u := mustHex(t, "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
		u[0] += byte(i)
		peers = append(peers, u)
	}
	// Each of these with the top bit set, which X25519 ignores.
	n := len(peers)
	for _, u := range peers[:n] {
		if u[31]&0x80 == 0 {
			top := bytes.Clone(u)
			top[31] |= 0x80
			peers = append(peers, top)
		}
	}
	for range 300 {
		u := make([]byte, 32)
		rand.Read(u)
		peers = append(peers, u)
	}
	zeros, fine := 0, 0
	for i, peer := range peers {
		k := make([]byte, 32)
		rand.Read(k)
		if i%50 == 0 {
			k = bytes.Repeat([]byte{0xff}, 32)
		}
		p, err := x25519Group{}.parse(k)
		if err != nil {
			t.Fatal(err)
		}
		ref, _ := (ecdhGroup{ecdh.X25519()}).parse(k)
		got, err := p.dh(peer)
		want, refErr := ref.dh(peer)
		if (err != nil) != (refErr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("DH(%x, %x) = %x, %v; crypto/ecdh gives %x, %v", k, peer, got, err, want, refErr)
		}
		if err != nil {
			zeros++
		} else {
			fine++
		}
	}
	if zeros < 12 || fine < 300 {
		t.Fatalf("%d refused, %d computed: the cases are not exercised", zeros, fine)
	}
	if _, err := (&x25519Private{}).dh(make([]byte, 31)); err == nil {
		t.Error("a 31-byte peer key accepted")
	}
}

// TestX25519GroupInterop checks DHKEM(X25519) on the fixed-base group
// against the same KEM on crypto/ecdh alone: same derived key pairs, and
// each side decapsulates what the other encapsulates.
func TestX25519GroupInterop(t *testing.T) {
	fast := newDHKEM(0x0020, x25519Group{}, sha256New, 32, 32, false, 0)
	ref := newDHKEM(0x0020, ecdhGroup{ecdh.X25519()}, sha256New, 32, 32, false, 0)
	for range 50 {
		ikm := make([]byte, 32)
		rand.Read(ikm)
		priv, pub, err := fast.derive(ikm)
		if err != nil {
			t.Fatal(err)
		}
		rpriv, rpub, err := ref.derive(ikm)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(priv, rpriv) || !bytes.Equal(pub, rpub) {
			t.Fatalf("derive(%x) = %x, %x; crypto/ecdh gives %x, %x", ikm, priv, pub, rpriv, rpub)
		}
		if got, err := fast.publicKey(priv); err != nil || !bytes.Equal(got, pub) {
			t.Fatalf("publicKey = %x, %v; want %x", got, err, pub)
		}

		gpriv, gpub, err := fast.generate()
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := ref.publicKey(gpriv); !bytes.Equal(gpub, want) {
			t.Fatalf("generated public key %x, crypto/ecdh says %x", gpub, want)
		}

		for _, pair := range [][2]*dhkem{{fast, ref}, {ref, fast}} {
			ss, enc, err := pair[0].encap(pub)
			if err != nil {
				t.Fatal(err)
			}
			got, err := pair[1].decap(enc, priv)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, ss) {
				t.Fatal("decap and encap disagree between the fixed-base and crypto/ecdh groups")
			}
		}
	}
}

// TestX25519GroupChoice checks that FIPS 140-3 mode keeps crypto/ecdh.
// TestFIPSMode runs the whole package under GODEBUG=fips140=on only for
// itself, so run this one so too to see the other branch:
// GODEBUG=fips140=on go test -run X25519GroupChoice.
func TestX25519GroupChoice(t *testing.T) {
	_, isECDH := kemX25519.group.(ecdhGroup)
	_, isFast := kemX25519.group.(x25519Group)
	std := fips140.Enabled() || stdCrypto
	if std && !isECDH || !std && !isFast {
		t.Fatalf("FIPS mode %v, implementation %s, group %T", fips140.Enabled(), Implementation(), kemX25519.group)
	}
}

// FuzzX25519AgainstECDH checks Arbor's X25519 (fixed-base public keys and
// the ladder) against crypto/ecdh on fuzzed scalars and peer keys: the
// same outputs, and the same refusals (an all-zero shared secret).
func FuzzX25519AgainstECDH(f *testing.F) {
	f.Add(make([]byte, 32), make([]byte, 32))
	f.Add(bytes.Repeat([]byte{0xff}, 32), append([]byte{1}, make([]byte, 31)...))
	f.Add(bytes.Repeat([]byte{7}, 32), bytes.Repeat([]byte{0xff}, 32))
	f.Fuzz(func(t *testing.T, k, peer []byte) {
		if len(k) != 32 || len(peer) != 32 {
			return
		}
		p, err := x25519Group{}.parse(k)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := (ecdhGroup{ecdh.X25519()}).parse(k)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := p.publicKey(), ref.publicKey(); !bytes.Equal(got, want) {
			t.Fatalf("public key of %x: %x, crypto/ecdh %x", k, got, want)
		}
		got, err := p.dh(peer)
		want, refErr := ref.dh(peer)
		if (err != nil) != (refErr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("DH(%x, %x) = %x, %v; crypto/ecdh gives %x, %v", k, peer, got, err, want, refErr)
		}
	})
}

func BenchmarkX25519DH(b *testing.B) {
	k := make([]byte, 32)
	rand.Read(k)
	peer := x25519PublicKey(k)
	p, _ := x25519Group{}.parse(k)
	ref, _ := (ecdhGroup{ecdh.X25519()}).parse(k)
	b.Run("ladder", func(b *testing.B) {
		for b.Loop() {
			p.dh(peer)
		}
	})
	b.Run("crypto-ecdh", func(b *testing.B) {
		for b.Loop() {
			ref.dh(peer)
		}
	})
}

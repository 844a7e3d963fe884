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
		// After a DH the public key comes from crypto/ecdh's key instead.
		if got := p.publicKey(); !bytes.Equal(got, c.pub) {
			t.Fatalf("public key after DH %x, want %x", got, c.pub)
		}
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
	if fips140.Enabled() && !isECDH || !fips140.Enabled() && !isFast {
		t.Fatalf("FIPS mode %v, group %T", fips140.Enabled(), kemX25519.group)
	}
}

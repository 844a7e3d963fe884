package ciphersuite

import (
	"bytes"
	"errors"
	"testing"
)

// pickyGroup wraps a DH group and rejects every private key it is asked to
// parse until accept returns true, recording the candidates it saw.
type pickyGroup struct {
	dhGroup
	accept func(n int) bool
	seen   [][]byte
}

func (g *pickyGroup) parse(priv []byte) (dhPrivate, error) {
	g.seen = append(g.seen, append([]byte(nil), priv...))
	if !g.accept(len(g.seen)) {
		return nil, errors.New("rejected")
	}
	return g.dhGroup.parse(priv)
}

// TestDeriveKeyPairRejectionLoop drives the NIST-curve loop of RFC 9180
// section 7.1.3 past the first candidates, which real inputs reach only with
// negligible probability.
func TestDeriveKeyPairRejectionLoop(t *testing.T) {
	ikm := []byte("input keying material")
	g := &pickyGroup{dhGroup: kemP521.group, accept: func(n int) bool { return n == 3 }}
	k := newDHKEM(kemP521.kemID, g, kemP521.kdf, kemP521.nsk, kemP521.npk, true, kemP521.bitmask)
	priv, _, err := k.derive(ikm)
	if err != nil {
		t.Fatal(err)
	}
	// Each candidate is a fresh expansion under its counter, masked; the
	// third one (counter 2) is the key.
	prk := labeledExtract(k.kdf, k.suiteID, nil, "dkp_prk", ikm)
	for i, c := range g.seen {
		want, _ := labeledExpand(k.kdf, k.suiteID, prk, "candidate", []byte{byte(i)}, k.nsk)
		want[0] &= 0x01
		if !bytes.Equal(c, want) {
			t.Fatalf("candidate %d differs", i)
		}
	}
	if !bytes.Equal(priv, g.seen[2]) {
		t.Fatal("key is not the first accepted candidate")
	}

	never := &pickyGroup{dhGroup: kemP256.group, accept: func(int) bool { return false }}
	k = newDHKEM(kemP256.kemID, never, kemP256.kdf, kemP256.nsk, kemP256.npk, true, kemP256.bitmask)
	if _, _, err := k.derive(ikm); err == nil {
		t.Fatal("derive succeeded with every candidate rejected")
	}
	if len(never.seen) != 256 {
		t.Fatalf("%d candidates tried, want 256", len(never.seen))
	}
}

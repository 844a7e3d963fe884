package ciphersuite

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// hpkePQVector is a test vector of draft-ietf-hpke-pq (testdata/hpke-pq.json).
type hpkePQVector struct {
	Mode           uint8  `json:"mode"`
	KEMID          uint16 `json:"kem_id"`
	KDFID          uint16 `json:"kdf_id"`
	AEADID         uint16 `json:"aead_id"`
	Info           string `json:"info"`
	IKMR           string `json:"ikmR"`
	SKRm           string `json:"skRm"`
	PKRm           string `json:"pkRm"`
	Enc            string `json:"enc"`
	SharedSecret   string `json:"shared_secret"`
	SuiteID        string `json:"suite_id"`
	Key            string `json:"key"`
	BaseNonce      string `json:"base_nonce"`
	ExporterSecret string `json:"exporter_secret"`
	Encryptions    []struct {
		AAD string `json:"aad"`
		CT  string `json:"ct"`
		PT  string `json:"pt"`
	} `json:"encryptions"`
	Exports []struct {
		Context string `json:"exporter_context"`
		L       int    `json:"L"`
		Value   string `json:"exported_value"`
	} `json:"exports"`
}

// standardKEMs are the KEMs whose DeriveKeyPair is draft-ietf-hpke-pq's,
// by KEM ID.
var standardKEMs = map[uint16]kem{
	0x0040: kemMLKEM512,
	0x0041: kemMLKEM768,
	0x0042: kemMLKEM1024,
	0x647a: kemXWing,
	0x0050: kemMLKEM768P256,
	0x0051: kemMLKEM1024P384,
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHPKEPQVectors checks every post-quantum KEM against the
// draft-ietf-hpke-pq vectors that use a two-stage KDF (MLS runs HPKE with
// HKDF only): DeriveKeyPair, the public key of the private key, Decap, and
// the key schedule with its exporter, then every encryption and export.
func TestHPKEPQVectors(t *testing.T) {
	data, err := os.ReadFile("testdata/hpke-pq.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []hpkePQVector
	if err := json.Unmarshal(data, &vs); err != nil {
		t.Fatal(err)
	}
	covered := map[uint16]bool{}
	for _, v := range vs {
		k, ok := standardKEMs[v.KEMID]
		if v.Mode != 0 || hpkeKDFs[v.KDFID] == nil || !ok {
			continue // a one-stage (SHAKE) KDF, or a DHKEM MLS covers elsewhere
		}
		var a aeadScheme
		for _, e := range aeads {
			if e.scheme.id == v.AEADID {
				a = e.scheme
			}
		}
		if a.new == nil {
			t.Fatalf("vector for unknown AEAD 0x%04x", v.AEADID)
		}
		covered[v.KEMID] = true
		t.Run(hex.EncodeToString([]byte{byte(v.KEMID >> 8), byte(v.KEMID), byte(v.KDFID), byte(v.AEADID)}), func(t *testing.T) {
			priv, pub, err := k.derive(unhex(t, v.IKMR))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(priv, unhex(t, v.SKRm)) || !bytes.Equal(pub, unhex(t, v.PKRm)) {
				t.Fatalf("DeriveKeyPair: (%x, %x...)", priv, pub[:16])
			}
			if p, err := k.publicKey(priv); err != nil || !bytes.Equal(p, pub) {
				t.Fatalf("public key of skRm: %v", err)
			}
			shared, err := k.decap(unhex(t, v.Enc), priv)
			if err != nil || !bytes.Equal(shared, unhex(t, v.SharedSecret)) {
				t.Fatalf("Decap: %x, %v", shared, err)
			}

			h := newHPKESuite(k, v.KDFID, a)
			if !bytes.Equal(h.suiteID, unhex(t, v.SuiteID)) {
				t.Fatalf("suite_id %x", h.suiteID)
			}
			ksc := h.rawKeyScheduleContext(unhex(t, v.Info))
			key, nonce, err := h.aeadKeyNonce(shared, ksc)
			if err != nil || !bytes.Equal(key, unhex(t, v.Key)) || !bytes.Equal(nonce, unhex(t, v.BaseNonce)) {
				t.Fatalf("key %x, base_nonce %x, %v", key, nonce, err)
			}
			es, err := h.exporterSecret(shared, ksc)
			if err != nil || !bytes.Equal(es, unhex(t, v.ExporterSecret)) {
				t.Fatalf("exporter_secret %x, %v", es, err)
			}
			aead, err := a.new(key)
			if err != nil {
				t.Fatal(err)
			}
			for seq, e := range v.Encryptions {
				// The nonce of sequence number seq (RFC 9180 section 5.2).
				n := bytes.Clone(nonce)
				var s [8]byte
				binary.BigEndian.PutUint64(s[:], uint64(seq))
				for i := range s {
					n[len(n)-8+i] ^= s[i]
				}
				pt, err := aead.Open(nil, n, unhex(t, e.CT), unhex(t, e.AAD))
				if err != nil || !bytes.Equal(pt, unhex(t, e.PT)) {
					t.Fatalf("encryption %d: %v", seq, err)
				}
			}
			for i, e := range v.Exports {
				got, err := h.export(shared, ksc, unhex(t, e.Context), e.L)
				if err != nil || !bytes.Equal(got, unhex(t, e.Value)) {
					t.Fatalf("export %d: %x, %v", i, got, err)
				}
			}
		})
	}
	if len(covered) != len(standardKEMs) {
		t.Fatalf("vectors cover KEMs %v, want all %d", covered, len(standardKEMs))
	}
}

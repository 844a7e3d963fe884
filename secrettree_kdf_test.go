package mls

import (
	"bytes"
	"crypto/fips140"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/codec"
)

// TestExpanderMatchesExpandWithLabel checks the expander against
// Suite.ExpandWithLabel in every registered suite: keyed per secret and
// keyed once (hmacKey), with contexts whose length takes one and two varint
// bytes, outputs shorter than, equal to and longer than one hash, and a key
// longer than a hash block. The fallback without a kdfHash must agree too.
func TestExpanderMatchesExpandWithLabel(t *testing.T) {
	for _, id := range ciphersuite.IDs() {
		s := testSuite(t, id)
		h := kdfHashOf(s)
		if h == nil {
			t.Errorf("%v: no kdfHash, expansions take the slow path", s.Name())
		}
		nh := s.HashSize()
		for _, keyLen := range []int{nh, 200} {
			secret := make([]byte, keyLen)
			rand.Read(secret)
			prepared := newHMACKey(s, h, secret)
			for _, ctxLen := range []int{0, 4, 63, 64, 100} {
				context := make([]byte, ctxLen)
				rand.Read(context)
				for _, length := range []int{0, s.AEADNonceSize(), s.AEADKeySize(), nh, nh + 1, 3*nh + 5} {
					want, err := s.ExpandWithLabel(secret, "some label", context, length)
					if err != nil {
						t.Fatal(err)
					}
					for _, c := range []struct {
						name string
						h    *kdfHash
						load bool
					}{{"setKey", h, false}, {"loadKey", h, true}, {"fallback", nil, false}} {
						e := getExpander(s, c.h)
						if c.load {
							e.loadKey(&prepared)
						} else {
							e.setKey(secret)
						}
						prefix := []byte("prefix")
						got, err := e.expand(prefix, "some label", context, length)
						e.release()
						if err != nil {
							t.Fatalf("%v %s: %v", s.Name(), c.name, err)
						}
						if !bytes.Equal(got[:len(prefix)], []byte("prefix")) || !bytes.Equal(got[len(prefix):], want) {
							t.Errorf("%v %s: key %d, context %d, length %d: output differs", s.Name(), c.name, keyLen, ctxLen, length)
						}
					}
				}
			}
			prepared.erase()
		}
	}
}

// TestExpanderKeyNonce checks keyNonce, in a caller's buffer and in its
// own allocation, against the two ExpandWithLabel calls it stands for.
func TestExpanderKeyNonce(t *testing.T) {
	s := ksSuite(t)
	secret := bytes.Repeat([]byte{7}, s.HashSize())
	context := []byte{0, 0, 1, 2}
	wantKey, _ := s.ExpandWithLabel(secret, "key", context, s.AEADKeySize())
	wantNonce, _ := s.ExpandWithLabel(secret, "nonce", context, s.AEADNonceSize())
	e := getExpander(s, kdfHashOf(s))
	defer e.release()
	e.setKey(secret)
	for _, mem := range [][]byte{nil, make([]byte, 3), e.keyBuf(s.AEADKeySize() + s.AEADNonceSize())} {
		key, nonce, err := e.keyNonce(mem, context)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(key, wantKey) || !bytes.Equal(nonce, wantNonce) || cap(key) != len(key) {
			t.Errorf("keyNonce with a buffer of %d bytes: wrong key or nonce", cap(mem))
		}
	}
}

// TestExpanderReleaseZeroes checks that releasing an expander zeroes its
// key states and scratch, and that an erased hmacKey derives nothing.
func TestExpanderReleaseZeroes(t *testing.T) {
	s := ksSuite(t)
	secret := bytes.Repeat([]byte{0xa5}, s.HashSize())
	e := getExpander(s, kdfHashOf(s))
	e.setKey(secret)
	buf := e.keyBuf(28)
	if _, _, err := e.keyNonce(buf, []byte{1}); err != nil {
		t.Fatal(err)
	}
	held := map[string][]byte{"istate": e.istate, "ostate": e.ostate, "info": e.info, "sum": e.sum, "t": e.t, "keys": e.keys}
	e.release()
	for name, b := range held {
		if bytes.Count(b, []byte{0}) != len(b) {
			t.Errorf("%s not zeroed on release", name)
		}
	}

	k := newHMACKey(s, kdfHashOf(s), secret)
	states := [][]byte{k.istate, k.ostate}
	k.erase()
	for _, b := range states {
		if !isZeroBytes(b) {
			t.Error("hmacKey.erase left a key state")
		}
	}
	e = getExpander(s, kdfHashOf(s))
	defer e.release()
	e.loadKey(&k)
	if _, err := e.expand(nil, "key", nil, 16); err == nil {
		t.Error("an erased hmacKey still derives")
	}
}

// TestSecretTreeFallbackKDF runs a tree whose expansions take the slow
// path against one that keys its HMACs once: same keys, same sender data.
func TestSecretTreeFallbackKDF(t *testing.T) {
	fast := newTestTree(t, 8, SecretTreeConfig{})
	slow := newTestTree(t, 8, SecretTreeConfig{})
	slow.kdf = nil
	for _, step := range []struct {
		leaf LeafIndex
		gen  uint32
	}{{3, 0}, {3, 2}, {5, 0}, {3, 1}, {0, 7}} {
		k1, n1, err1 := fast.Key(step.leaf, ApplicationRatchet, step.gen)
		k2, n2, err2 := slow.Key(step.leaf, ApplicationRatchet, step.gen)
		if err1 != nil || err2 != nil || !bytes.Equal(k1, k2) || !bytes.Equal(n1, n2) {
			t.Fatalf("leaf %d generation %d: %v, %v, or different keys", step.leaf, step.gen, err1, err2)
		}
	}
}

func TestMarshalAADs(t *testing.T) {
	for _, aad := range [][]byte{nil, []byte("authenticated"), make([]byte, 300)} {
		m := &PrivateMessage{GroupID: []byte("group"), Epoch: 1 << 40, ContentType: ContentTypeCommit, AuthenticatedData: aad}
		wantSD, _ := m.SenderDataAAD().MarshalBinary()
		wantContent, _ := m.ContentAAD().MarshalBinary()
		b := codec.NewBuilder(0)
		n := m.marshalAADs(b)
		got, err := b.Bytes()
		if err != nil || !bytes.Equal(got, wantContent) || !bytes.Equal(got[:n], wantSD) {
			t.Errorf("authenticated_data of %d bytes: AADs differ", len(aad))
		}
	}
}

func TestSenderDataUnmarshal(t *testing.T) {
	sd := SenderData{LeafIndex: 0x01020304, Generation: 0xfffffffe, ReuseGuard: [4]byte{9, 8, 7, 6}}
	enc, err := sd.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if got := sd.appendBinary([]byte{0xff}); !bytes.Equal(got[1:], enc) {
		t.Error("appendBinary differs from MarshalBinary")
	}
	var got SenderData
	if err := got.UnmarshalBinary(enc); err != nil || got != sd {
		t.Errorf("round trip: %v, %+v", err, got)
	}
	for _, bad := range [][]byte{nil, enc[:11], append(enc, 0)} {
		err := got.UnmarshalBinary(bad)
		if err == nil || err.Error() != fmt.Sprint(decode("SenderData", bad, new(SenderData))) {
			t.Errorf("%d bytes: %v", len(bad), err)
		}
	}
}

// TestUnmarshalPlaintext checks that decoding a decrypted plaintext in
// place gives what UnmarshalWithContentType gives, errors included.
func TestUnmarshalPlaintext(t *testing.T) {
	sig := bytes.Repeat([]byte{3}, 64)
	contents := []PrivateMessageContent{
		{ContentType: ContentTypeApplication, ApplicationData: []byte("hello"), Auth: FramedContentAuthData{Signature: sig}},
		{ContentType: ContentTypeApplication, ApplicationData: []byte{}, Auth: FramedContentAuthData{Signature: sig}, Padding: 31},
		{ContentType: ContentTypeProposal, Proposal: &Proposal{Remove: &RemoveProposal{Removed: 3}}, Auth: FramedContentAuthData{Signature: sig}, Padding: 2},
	}
	for _, c := range contents {
		enc, err := c.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		inputs := [][]byte{enc, enc[:len(enc)-1], append(bytes.Clone(enc), 1), append(bytes.Clone(enc), 0)}
		for i, in := range inputs {
			var want, got PrivateMessageContent
			wantErr := want.UnmarshalWithContentType(in, c.ContentType)
			gotErr := got.unmarshalPlaintext(bytes.Clone(in), c.ContentType)
			if fmt.Sprint(wantErr) != fmt.Sprint(gotErr) {
				t.Errorf("%v input %d: error %v, want %v", c.ContentType, i, gotErr, wantErr)
				continue
			}
			if wantErr != nil {
				continue
			}
			a, _ := want.MarshalBinary()
			b, _ := got.MarshalBinary()
			if !bytes.Equal(a, b) || want.Padding != got.Padding || (got.ApplicationData == nil) != (c.ContentType != ContentTypeApplication) {
				t.Errorf("%v input %d: decoded differently", c.ContentType, i)
			}
		}
	}
}

// TestProtectionContextEraseSenderDataKey checks that Erase zeroes the
// prepared sender data key along with the secret.
func TestProtectionContextEraseSenderDataKey(t *testing.T) {
	g := newFrGroup(t, 1)
	pc := g.context()
	states := [][]byte{pc.senderDataKey.istate, pc.senderDataKey.ostate}
	pc.Erase()
	for _, b := range states {
		if !isZeroBytes(b) {
			t.Error("Erase left the prepared sender data key")
		}
	}
}

// BenchmarkExpandWithLabel compares one ExpandWithLabel through the suite
// with the expander keyed per secret and keyed once.
func BenchmarkExpandWithLabel(b *testing.B) {
	s := ksSuite(b)
	secret := make([]byte, s.HashSize())
	ctx := []byte{0, 0, 0, 1}
	b.Run("suite", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.ExpandWithLabel(secret, "key", ctx, 16); err != nil {
				b.Fatal(err)
			}
		}
	})
	h := kdfHashOf(s)
	buf := make([]byte, 0, 16)
	b.Run("setKey", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e := getExpander(s, h)
			e.setKey(secret)
			if _, err := e.expand(buf, "key", ctx, 16); err != nil {
				b.Fatal(err)
			}
			e.release()
		}
	})
	k := newHMACKey(s, h, secret)
	b.Run("loadKey", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e := getExpander(s, h)
			e.loadKey(&k)
			if _, err := e.expand(buf, "key", ctx, 16); err != nil {
				b.Fatal(err)
			}
			e.release()
		}
	})
}

// TestExpanderFIPSChoice checks that FIPS 140-3 mode and MLS_CRYPTO=std
// leave HKDF to crypto/hkdf: it runs itself again under GODEBUG=fips140=on
// (.ci/run runs it under MLS_CRYPTO=std).
func TestExpanderFIPSChoice(t *testing.T) {
	s := testSuite(t, ciphersuite.MLS_128_DHKEMP256_AES128GCM_SHA256_P256)
	if fips140.Enabled() || ciphersuite.StandardCrypto() {
		if kdfHashOf(s) != nil {
			t.Fatalf("FIPS 140-3 mode %v, crypto %s: secret-tree derivations keyed outside crypto/hkdf", fips140.Enabled(), ciphersuite.Implementation())
		}
		return
	}
	if kdfHashOf(s) == nil {
		t.Fatal("suite 2's derivations are not keyed once")
	}
	const childEnv = "ARBOR_FIPS140_EXPANDER_CHILD"
	if os.Getenv(childEnv) != "" {
		t.Fatal("GODEBUG=fips140=on did not enable FIPS 140-3 mode")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestExpanderFIPSChoice$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "GODEBUG=fips140=on", childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestExpanderFIPSChoice") {
		t.Fatalf("FIPS 140-3 mode: %v\n%s", err, out)
	}
}

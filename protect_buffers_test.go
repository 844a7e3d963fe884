package mls

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// TestProtectedValuesOutliveLaterMessages checks that nothing a protect or
// unprotect call returns, or was given, lives in a pooled buffer: the
// sender's content and signature stay as they were, and every unprotected
// message keeps its application data, authenticated data and signature
// (which still verify) while later messages of other sizes and types go
// through the same pools.
func TestProtectedValuesOutliveLaterMessages(t *testing.T) {
	g := newFrGroup(t, groupSuite)
	sender, receiver := g.context(), g.context()
	type kept struct {
		data, aad, sig []byte
		ac             *AuthenticatedContent
	}
	var all []kept
	for i := range 24 {
		ct := ContentTypeApplication
		if i%4 == 3 {
			ct = ContentTypeProposal
		}
		var data []byte
		if ct == ContentTypeApplication {
			data = bytes.Repeat([]byte{byte(i + 1)}, 1+i*97)
		}
		ac := g.sign(sender, 0, ct, WireFormatPrivateMessage, data)
		ac.Content.AuthenticatedData = bytes.Repeat([]byte{byte(0x80 + i)}, i*13)
		// Re-sign with the authenticated data set.
		ac, err := sender.Sign(g.keys[0], WireFormatPrivateMessage, &ac.Content)
		if err != nil {
			t.Fatal(err)
		}
		sentData, sentAAD, sentSig := bytes.Clone(data), bytes.Clone(ac.Content.AuthenticatedData), bytes.Clone(ac.Auth.Signature)
		m, err := sender.ProtectPrivate(ac, 64)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ac.Content.ApplicationData, sentData) || !bytes.Equal(ac.Content.AuthenticatedData, sentAAD) || !bytes.Equal(ac.Auth.Signature, sentSig) {
			t.Fatalf("message %d: ProtectPrivate changed the sender's content", i)
		}
		got, err := receiver.UnprotectPrivate(wireCopy(t, m), g.memberKey)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		all = append(all, kept{sentData, sentAAD, sentSig, got})
	}
	for i, k := range all {
		c := &k.ac.Content
		if !bytes.Equal(c.ApplicationData, k.data) || !bytes.Equal(c.AuthenticatedData, k.aad) || !bytes.Equal(k.ac.Auth.Signature, k.sig) {
			t.Fatalf("message %d changed after later messages", i)
		}
		tbs, err := k.ac.TBS(receiver.GroupContext())
		if err != nil {
			t.Fatal(err)
		}
		if err := receiver.verify(g.keys[0].PublicKey(), tbs, k.ac.Auth.Signature); err != nil {
			t.Fatalf("message %d no longer verifies: %v", i, err)
		}
	}
}

// TestProtectionContextConcurrent has several goroutines protect through
// one sender context and unprotect through one receiver context at once,
// as a ProtectionContext allows: every message must come out as it went
// in, and stay so while the others run. Run it with -race.
func TestProtectionContextConcurrent(t *testing.T) {
	g := newFrGroup(t, groupSuite)
	sender, receiver := g.context(), g.context()
	const workers, each = 4, 40
	results := make([][]*AuthenticatedContent, workers)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			leaf := LeafIndex(w % frLeaves)
			for i := range each {
				data := bytes.Repeat([]byte{byte(w), byte(i)}, 1+(w*each+i)%300)
				fc := g.content(leaf, ContentTypeApplication, data)
				ac, err := sender.Sign(g.keys[leaf], WireFormatPrivateMessage, fc)
				if err == nil {
					var m *PrivateMessage
					if m, err = sender.ProtectPrivate(ac, 0); err == nil {
						ac, err = receiver.UnprotectPrivate(m, g.memberKey)
					}
				}
				if err != nil {
					errs <- fmt.Errorf("worker %d message %d: %w", w, i, err)
					return
				}
				if !bytes.Equal(ac.Content.ApplicationData, data) || ac.Content.Sender.LeafIndex != leaf {
					errs <- fmt.Errorf("worker %d message %d: wrong content", w, i)
					return
				}
				results[w] = append(results[w], ac)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for w, acs := range results {
		for i, ac := range acs {
			want := bytes.Repeat([]byte{byte(w), byte(i)}, 1+(w*each+i)%300)
			if !bytes.Equal(ac.Content.ApplicationData, want) {
				t.Fatalf("worker %d message %d changed after the others ran", w, i)
			}
		}
	}
}

// TestProtectionContextEraseStopsProtection checks that after Erase a
// context neither protects nor unprotects, for PrivateMessages and member
// PublicMessages, even with a message it accepted before and a pooled
// expander that held its key.
func TestProtectionContextEraseStopsProtection(t *testing.T) {
	g := newFrGroup(t, groupSuite)
	sender, receiver := g.context(), g.context()
	priv := g.protectPrivate(sender, 0, ContentTypeApplication, []byte("before"), 0)
	pub := g.protectPublic(sender, 0, ContentTypeProposal)
	later := g.protectPrivate(sender, 0, ContentTypeApplication, []byte("later"), 0)
	if _, err := receiver.UnprotectPrivate(priv, g.memberKey); err != nil {
		t.Fatal(err)
	}
	ac := g.sign(sender, 0, ContentTypeApplication, WireFormatPrivateMessage, []byte("after"))
	sender.Erase()
	receiver.Erase()
	if _, err := sender.ProtectPrivate(ac, 0); err == nil {
		t.Error("ProtectPrivate after Erase")
	}
	if _, err := receiver.UnprotectPrivate(later, g.memberKey); err == nil {
		t.Error("UnprotectPrivate after Erase")
	}
	if _, err := receiver.UnprotectPublic(pub, g.memberKey); err == nil {
		t.Error("UnprotectPublic of a member's message after Erase")
	}
	if _, err := sender.ProtectPublic(g.sign(sender, 0, ContentTypeProposal, WireFormatPublicMessage, nil)); err == nil {
		t.Error("ProtectPublic of a member's message after Erase")
	}
	// The erased key prepared for sender data derives nothing either.
	e := getExpander(receiver.suite, receiver.kdf)
	defer e.release()
	if _, _, err := receiver.senderDataKeyNonce(e, later.Ciphertext); !errors.Is(err, errSecretErased) {
		t.Errorf("sender data key after Erase: %v", err)
	}
}

// TestProtectPrivateFailsCleanly checks that a ProtectPrivate that fails
// after encoding its plaintext (the sender's ratchet is gone) returns an
// error and leaves the pooled buffers fit for the next message.
func TestProtectPrivateFailsCleanly(t *testing.T) {
	g := newFrGroup(t, groupSuite)
	broken, sender, receiver := g.context(), g.context(), g.context()
	broken.tree.Erase()
	for i := range 3 {
		ac := g.sign(broken, 0, ContentTypeApplication, WireFormatPrivateMessage, []byte("lost"))
		if _, err := broken.ProtectPrivate(ac, 0); err == nil {
			t.Fatal("ProtectPrivate with an erased secret tree")
		}
		data := bytes.Repeat([]byte{byte(i + 1)}, 100)
		m := g.protectPrivate(sender, 1, ContentTypeApplication, data, 0)
		got, err := receiver.UnprotectPrivate(m, g.memberKey)
		if err != nil || !bytes.Equal(got.Content.ApplicationData, data) {
			t.Fatalf("message %d after a failed one: %v", i, err)
		}
	}
}

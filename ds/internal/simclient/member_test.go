package simclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/ds"
	"github.com/arbormls/mls/ds/internal/simclient"
	"github.com/arbormls/mls/ds/sqlite"
)

// pair returns two members of one group on a fresh server: a created it
// and added b, who joined.
func pair(t *testing.T) (a, b *simclient.Member, gid []byte) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ds.db"))
	if err != nil {
		t.Fatal(err)
	}
	srv := ds.NewServer(st, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	srv.AllowUnverified = true // the members send PrivateMessage handshakes
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { ts.Close(); st.Close() })
	var ms [2]*simclient.Member
	for i, id := range []string{"a", "b"} {
		c, err := simclient.NewClient(ts.URL, ts.Client(), id, id, ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Register(ctx); err != nil {
			t.Fatal(err)
		}
		ms[i] = simclient.NewMember(c, nil)
	}
	a, b = ms[0], ms[1]
	if _, err := b.Publish(ctx, 1, false); err != nil {
		t.Fatal(err)
	}
	g, err := a.Create()
	if err != nil {
		t.Fatal(err)
	}
	kps, err := a.Claim(ctx, "b")
	if err != nil || len(kps) != 1 {
		t.Fatalf("claim: %v, %v", kps, err)
	}
	var kp mls.MLSMessage
	if err := kp.UnmarshalBinary(kps[0].KeyPackage); err != nil {
		t.Fatal(err)
	}
	gid = g.GroupID()
	bundle, err := a.PrepareCommit(gid, mls.CommitOptions{Add: []*mls.KeyPackage{kp.KeyPackage}})
	if err != nil {
		t.Fatal(err)
	}
	if e, err := a.PostCommit(ctx, gid, bundle); err != nil || e != 1 {
		t.Fatalf("commit: %d, %v", e, err)
	}
	evs, err := b.Drain(ctx)
	if err != nil || len(evs) != 1 || !evs[0].Joined {
		t.Fatalf("b did not join: %v, %v", evs, err)
	}
	return a, b, gid
}

func agree(t *testing.T, a, b *simclient.Member, gid []byte, epoch uint64) {
	t.Helper()
	ga, gb := a.Group(gid), b.Group(gid)
	if ga.HasPendingCommit() || gb.HasPendingCommit() {
		t.Fatal("a commit is still pending")
	}
	if ga.Epoch() != epoch || gb.Epoch() != epoch || !bytes.Equal(ga.EpochAuthenticator(), gb.EpochAuthenticator()) {
		t.Fatalf("epochs %d and %d, want %d, or the authenticators differ", ga.Epoch(), gb.Epoch(), epoch)
	}
}

// TestResolve covers each way a commit whose answer was lost can have
// gone, as a crashed server leaves them.
func TestResolve(t *testing.T) {
	ctx := context.Background()

	t.Run("accepted, then a message of the next epoch", func(t *testing.T) {
		a, b, gid := pair(t)
		bundle, _ := a.PrepareCommit(gid, mls.CommitOptions{Update: true})
		// Posted by the client, the answer lost.
		if _, err := a.Client.PostCommit(ctx, gid, bundle); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		msg, _ := b.Protect(gid, []byte("in epoch 2"))
		if _, err := b.PostMessage(ctx, gid, msg); err != nil {
			t.Fatal(err)
		}
		won, evs, err := a.Resolve(ctx, gid, bundle)
		if err != nil || !won || len(evs) != 1 || !evs[0].Merged || string(evs[0].Received.Data) != "in epoch 2" {
			t.Fatalf("Resolve = %v, %v, %v", won, evs, err)
		}
		agree(t, a, b, gid, 2)
	})

	t.Run("accepted, nothing since", func(t *testing.T) {
		a, b, gid := pair(t)
		bundle, _ := a.PrepareCommit(gid, mls.CommitOptions{Update: true})
		if _, err := a.Client.PostCommit(ctx, gid, bundle); err != nil {
			t.Fatal(err)
		}
		// Posted again, the commit gets a 409 with the epoch it made.
		won, _, err := a.Resolve(ctx, gid, bundle)
		if err != nil || !won {
			t.Fatalf("Resolve = %v, %v", won, err)
		}
		if _, err := b.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		agree(t, a, b, gid, 2)
	})

	t.Run("never arrived", func(t *testing.T) {
		a, b, gid := pair(t)
		bundle, _ := a.PrepareCommit(gid, mls.CommitOptions{Update: true})
		won, _, err := a.Resolve(ctx, gid, bundle)
		if err != nil || !won {
			t.Fatalf("Resolve = %v, %v", won, err)
		}
		if evs, err := b.Drain(ctx); err != nil || len(evs) != 1 {
			t.Fatalf("b got %d messages, %v; want the commit once", len(evs), err)
		}
		agree(t, a, b, gid, 2)
	})

	t.Run("another commit won", func(t *testing.T) {
		a, b, gid := pair(t)
		bundle, _ := a.PrepareCommit(gid, mls.CommitOptions{Update: true})
		bb, _ := b.PrepareCommit(gid, mls.CommitOptions{Update: true})
		if _, err := b.PostCommit(ctx, gid, bb); err != nil {
			t.Fatal(err)
		}
		won, evs, err := a.Resolve(ctx, gid, bundle)
		var c ds.CommitBundle
		json.Unmarshal(bb, &c)
		if err != nil || won || len(evs) != 1 || !bytes.Equal(evs[0].Data, c.Commit) {
			t.Fatalf("Resolve = %v, %v, %v", won, evs, err)
		}
		agree(t, a, b, gid, 2)
	})

	t.Run("another commit won just before the resend", func(t *testing.T) {
		// The inbox is empty when Resolve begins; b's commit is accepted
		// between that read and a's resend. Only reading the inbox again
		// after the resend's 409 tells a lost commit from a won one.
		a, b, gid := pair(t)
		bundle, _ := a.PrepareCommit(gid, mls.CommitOptions{Update: true})
		bb, _ := b.PrepareCommit(gid, mls.CommitOptions{Update: true})
		base := a.HTTP.Transport
		a.HTTP = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if strings.HasSuffix(r.URL.Path, "/commit") {
				if _, err := b.PostCommit(ctx, gid, bb); err != nil {
					t.Error(err)
				}
			}
			return base.RoundTrip(r)
		})}
		won, evs, err := a.Resolve(ctx, gid, bundle)
		if err != nil || won || len(evs) != 1 || evs[0].Received.Kind != mls.KindCommit {
			t.Fatalf("Resolve = %v, %v, %v", won, evs, err)
		}
		agree(t, a, b, gid, 2)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestHandleGap checks Handle refuses a sequence number that does not
// follow the last one.
func TestHandleGap(t *testing.T) {
	a, _, _ := pair(t)
	if _, err := a.Handle(ds.InboxMessage{Seq: a.Last + 2, Message: []byte{0}}); err == nil {
		t.Fatal("a gap in the inbox went unnoticed")
	}
}

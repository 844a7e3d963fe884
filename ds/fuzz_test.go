package ds_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ds"
	"github.com/arbormls/mls/ds/sqlite"
)

// FuzzHandlers sends untrusted bodies, correctly signed by a registered
// member, to every endpoint that decodes one: the server answers each
// with a status below 500 and never panics. The seeds are real: a commit
// bundle, an application message and a KeyPackage batch.
func FuzzHandlers(f *testing.F) {
	st, err := sqlite.Open(context.Background(), filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	srv := ds.NewServer(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv.AllowUnverified = true // its groups send PrivateMessage handshakes
	alice, err := mls.NewBasicIdentity(suite, "alice")
	if err != nil {
		f.Fatal(err)
	}
	do := func(tb testing.TB, method, path string, body []byte) int {
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		if err := ds.SignRequest(req, "alice", alice.SigningKey, body); err != nil {
			tb.Fatal(err)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec.Code
	}
	reg, _ := json.Marshal(ds.RegisterRequest{ID: "alice", User: "alice", Suite: uint16(suite), SignatureKey: alice.SigningKey.PublicKey()})
	if code := do(f, "POST", "/v1/clients", reg); code != http.StatusCreated {
		f.Fatalf("register: %d", code)
	}
	g, err := mls.CreateGroup(alice, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	pc, err := g.Commit(mls.CommitOptions{GroupInfo: true})
	if err != nil {
		f.Fatal(err)
	}
	commit, _ := pc.Commit.MarshalBinary()
	gi, _ := pc.GroupInfo.MarshalBinary()
	bundle, _ := json.Marshal(ds.CommitBundle{Commit: commit, GroupInfo: gi})
	gp := gpath(g)
	if code := do(f, "POST", gp+"/commit", bundle); code != http.StatusOK {
		f.Fatalf("seed commit: %d", code)
	}
	if _, err := g.MergePendingCommit(); err != nil {
		f.Fatal(err)
	}
	msg, err := g.Send([]byte("hello"))
	if err != nil {
		f.Fatal(err)
	}
	msgBytes, _ := msg.MarshalBinary()
	kp, err := mls.NewKeyPackage(alice, nil)
	if err != nil {
		f.Fatal(err)
	}
	kpMsg, _ := (&mls.MLSMessage{KeyPackage: kp.KeyPackage}).MarshalBinary()
	kps, _ := json.Marshal(ds.KeyPackagesRequest{KeyPackages: [][]byte{kpMsg}})

	endpoints := []struct{ method, path string }{
		{"POST", gp + "/commit"},
		{"POST", gp + "/messages"},
		{"POST", "/v1/keypackages"},
		{"POST", "/v1/inbox/ack"},
		{"POST", "/v1/clients"},
	}
	f.Add(uint8(0), bundle)
	f.Add(uint8(1), msgBytes)
	f.Add(uint8(2), kps)
	f.Add(uint8(3), []byte(`{"seq":3}`))
	f.Add(uint8(4), reg)
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		e := endpoints[int(which)%len(endpoints)]
		if code := do(t, e.method, e.path, body); code >= 500 || code == 0 {
			t.Fatalf("%s %s answered %d", e.method, e.path, code)
		}
	})
}

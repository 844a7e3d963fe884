package ds_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ds"
	"github.com/arbormls/mls/ds/sqlite"
	"github.com/coder/websocket"
)

// gatedStore holds AcceptCommit, once armed, until released: a commit in
// flight when the shutdown begins.
type gatedStore struct {
	ds.Store
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (g *gatedStore) AcceptCommit(ctx context.Context, c *ds.Commit) (uint64, []string, error) {
	if g.armed.Load() {
		close(g.entered)
		<-g.release
	}
	return g.Store.AcceptCommit(ctx, c)
}

// TestGracefulShutdown begins a shutdown while a commit is in its store
// call, a long poll waits and a WebSocket is open: the long poll answers
// at once, the socket is closed with 1001, new connections are refused,
// the shutdown waits for the commit, the commit is answered 200, and the
// reopened database holds it.
func TestGracefulShutdown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ds.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedStore{Store: st, entered: make(chan struct{}), release: make(chan struct{})}
	srv := ds.NewServer(g, testLog(t))
	srv.AllowUnverified = true // its groups send PrivateMessage handshakes
	srv.MaxWait = time.Minute
	ts := httptestServer(t, srv)
	e := &env{t: t, srv: srv, ts: ts, store: st}
	alice, bob, carol := e.client("alice-1", "alice"), e.client("bob-1", "bob"), e.client("carol-1", "carol")
	bob.publish(1, false)
	ga, _ := mls.CreateGroup(alice.ident, nil, nil)
	pc, err := ga.Commit(mls.CommitOptions{Add: []*mls.KeyPackage{parseKP(t, alice.claim("bob")[0].KeyPackage)}})
	if err != nil {
		t.Fatal(err)
	}

	g.armed.Store(true)
	committed := make(chan int)
	go func() {
		st, _ := alice.do("POST", gpath(ga)+"/commit", ds.CommitBundle{Commit: marshal(t, pc.Commit), Welcome: marshal(t, pc.Welcome)})
		committed <- st
	}()
	<-g.entered
	polled := make(chan []ds.InboxMessage)
	go func() { polled <- carol.inbox(0, "60s") }()
	in := readWS(t, carol.mustDialInbox(0))
	waitGauge(t, e, "mlsd_open_long_polls", 1)
	waitGauge(t, e, "mlsd_open_websockets", 1)

	start := time.Now()
	shut := make(chan error)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		shut <- srv.Shutdown(ctx, ts.Config)
	}()
	select {
	case msgs := <-polled:
		if len(msgs) != 0 {
			t.Fatalf("long poll answered %d messages", len(msgs))
		}
	case <-time.After(2 * time.Second):
		t.Fatal("long poll still waiting 2 s into the shutdown")
	}
	select {
	case err := <-in.err:
		if websocket.CloseStatus(err) != websocket.StatusGoingAway {
			t.Fatalf("WebSocket ended with %v, want 1001", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("WebSocket still open 2 s into the shutdown")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("streams took %v to end", d)
	}
	// The listener is closed: a new connection fails.
	if _, err := (&http.Client{Transport: &http.Transport{}}).Get(ts.URL + "/healthz"); err == nil {
		t.Fatal("a new connection was served during the shutdown")
	}
	select {
	case err := <-shut:
		t.Fatalf("shutdown returned (%v) with a commit in flight", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(g.release)
	if st := <-committed; st != 200 {
		t.Fatalf("in-flight commit answered %d", st)
	}
	if err := <-shut; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	st.Close()

	st2, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if ep, err := st2.Epoch(context.Background(), ga.GroupID()); err != nil || ep != 1 {
		t.Fatalf("epoch after restart = %d, %v; want 1", ep, err)
	}
	if msgs, err := st2.Inbox(context.Background(), "bob-1", 0, 10); err != nil || len(msgs) != 1 {
		t.Fatalf("bob's inbox after restart: %d messages, %v; want the Welcome", len(msgs), err)
	}
}

func httptestServer(t *testing.T, h http.Handler) *httptest.Server {
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

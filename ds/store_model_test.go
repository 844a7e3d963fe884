package ds_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ds"
	"github.com/arbormls/mls/ds/postgres"
	"github.com/arbormls/mls/ds/storetest"
)

// TestRefusedCommitCostsNoLeafQueries: a commit of a stale epoch whose
// GroupInfo carries a tree of 40 leaves is refused (409) with a handful
// of store queries, not one per leaf (the epoch is checked before the
// tree is read); before, the server looked every leaf's key up first.
func TestRefusedCommitCostsNoLeafQueries(t *testing.T) {
	e := newEnv(t)
	alice := e.client("alice-1", "alice")
	g, err := mls.CreateGroup(alice.ident, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var adds []*mls.KeyPackage
	for i := range 40 {
		id, err := mls.NewBasicIdentity(suite, fmt.Sprint("stranger-", i))
		if err != nil {
			t.Fatal(err)
		}
		b, err := mls.NewKeyPackage(id, nil)
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, b.KeyPackage)
	}
	pc, err := g.Commit(mls.CommitOptions{Add: adds, GroupInfo: true})
	if err != nil {
		t.Fatal(err)
	}
	bundle := ds.CommitBundle{Commit: marshal(t, pc.Commit), GroupInfo: marshal(t, pc.GroupInfo)}
	before := e.store.Queries()
	if st, out := alice.do("POST", gpath(g)+"/commit", bundle); st != http.StatusOK {
		t.Fatalf("commit: %d %s", st, out)
	}
	accepted := e.store.Queries() - before
	before = e.store.Queries()
	if st, out := alice.do("POST", gpath(g)+"/commit", bundle); st != http.StatusConflict {
		t.Fatalf("the same commit again: %d %s", st, out)
	}
	refused := e.store.Queries() - before
	if refused > 12 || accepted < 40 {
		t.Fatalf("the refused commit cost %d store queries (the accepted one %d, with one per leaf)", refused, accepted)
	}
}

// TestGroupIDLimit: the server serves group IDs of up to
// ds.MaxGroupIDLen bytes, the mls client's limit, and refuses longer ones
// before anything is stored.
func TestGroupIDLimit(t *testing.T) {
	e := newEnv(t)
	alice := e.client("alice-1", "alice")
	for _, n := range []int{ds.MaxGroupIDLen, ds.MaxGroupIDLen + 1, 255} {
		g, err := mls.CreateGroup(alice.ident, nil, &mls.CreateOptions{GroupID: make([]byte, n)})
		if err != nil {
			t.Fatal(err)
		}
		pc, err := g.Commit(mls.CommitOptions{})
		if err != nil {
			t.Fatal(err)
		}
		st, out := alice.do("POST", "/v1/groups/"+base64.RawURLEncoding.EncodeToString(g.GroupID())+"/commit", ds.CommitBundle{Commit: marshal(t, pc.Commit)})
		want := http.StatusOK
		if n > ds.MaxGroupIDLen {
			want = http.StatusBadRequest
		}
		if st != want {
			t.Fatalf("group ID of %d bytes: %d %s, want %d", n, st, out, want)
		}
		if _, err := e.store.Epoch(context.Background(), g.GroupID()); (err == nil) != (n <= ds.MaxGroupIDLen) {
			t.Fatalf("group ID of %d bytes: stored: %v", n, err)
		}
	}
}

// TestKeyPackageDrain: with a claim rate, one claimer cannot take all of a
// user's KeyPackages in a burst, and neither can many claimers together
// (RFC 9420 section 16.8); the KeyPackages left stay for later joiners.
func TestKeyPackageDrain(t *testing.T) {
	e := newEnv(t)
	e.srv.Limits.ClaimRate, e.srv.Limits.ClaimBurst = 0.01, 3
	bob := e.client("bob-1", "bob")
	bob.publish(20, true)
	mallory := e.client("mallory-1", "mallory")
	claimed := 0
	for range 10 {
		if st, _ := mallory.do("POST", "/v1/users/bob/claim", struct{}{}); st == http.StatusOK {
			claimed++
		} else if st != http.StatusTooManyRequests {
			t.Fatalf("claim: %d", st)
		}
	}
	if claimed != 3 {
		t.Fatalf("one claimer took %d claims in a burst, want 3", claimed)
	}
	// Other claimers share bob's allowance, spent now.
	for i := range 5 {
		c := e.client(fmt.Sprint("sybil-", i), fmt.Sprint("sybil", i))
		if st, _ := c.do("POST", "/v1/users/bob/claim", struct{}{}); st != http.StatusTooManyRequests {
			t.Fatalf("claimer %d: %d, want 429", i, st)
		}
	}
	if n, err := e.store.CountKeyPackages(context.Background(), "bob-1"); err != nil || n != 17 {
		t.Fatalf("bob has %d KeyPackages left, %v; want 17", n, err)
	}
	// Mallory's own allowance is spent too, for any user.
	alice := e.client("alice-1", "alice")
	alice.publish(1, false)
	if st, _ := mallory.do("POST", "/v1/users/alice/claim", struct{}{}); st != http.StatusTooManyRequests {
		t.Fatalf("mallory claims alice: %d, want 429", st)
	}
}

// TestPushAcrossProcessesPostgres: two servers, each with its own store
// (connections and listener) on one PostgreSQL schema, as two mlsd
// processes are. A long poll waiting on one costs no store query while
// nothing happens, and a message posted through the other reaches it at
// once (LISTEN/NOTIFY), not at a poll tick.
func TestPushAcrossProcessesPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	var envs [2]*env
	var stores [2]*postgres.Store
	for i := range envs {
		st, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		srv := ds.NewServer(st, testLog(t))
		srv.AllowUnverified = true // its groups send PrivateMessage handshakes
		srv.MaxWait = 10 * time.Second
		ts := httptest.NewServer(srv)
		t.Cleanup(func() { ts.Close(); st.Close() })
		envs[i], stores[i] = &env{t: t, srv: srv, ts: ts}, st
	}
	alice, bob := envs[0].client("alice-1", "alice"), envs[0].client("bob-1", "bob")
	bob.publish(1, false)
	ga, err := mls.CreateGroup(alice.ident, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := ga.Commit(mls.CommitOptions{Add: []*mls.KeyPackage{parseKP(t, alice.claim("bob")[0].KeyPackage)}})
	if err != nil {
		t.Fatal(err)
	}
	if st, out := alice.do("POST", gpath(ga)+"/commit", ds.CommitBundle{Commit: marshal(t, pc.Commit), Welcome: marshal(t, pc.Welcome)}); st != 200 {
		t.Fatalf("commit: %d %s", st, out)
	}
	if _, err := ga.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	welcome := bob.inbox(0, "0s")
	if len(welcome) != 1 {
		t.Fatalf("bob's inbox: %d messages", len(welcome))
	}
	bob.e = envs[1] // bob waits on the other server

	got := make(chan []ds.InboxMessage, 1)
	go func() { got <- bob.inbox(welcome[0].Seq, "10s") }()
	time.Sleep(300 * time.Millisecond) // the poll is waiting
	q0, q1 := stores[0].Queries(), stores[1].Queries()
	time.Sleep(2 * time.Second)
	if d0, d1 := stores[0].Queries()-q0, stores[1].Queries()-q1; d0+d1 != 0 {
		t.Fatalf("a waiting long poll cost %d + %d store queries in 2 s of nothing", d0, d1)
	}
	m, err := ga.Send([]byte("across"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if st, out := alice.do("POST", gpath(ga)+"/messages", marshal(t, m)); st != 200 || !strings.Contains(string(out), `"delivered":1`) {
		t.Fatalf("send: %d %s", st, out)
	}
	select {
	case msgs := <-got:
		if len(msgs) != 1 {
			t.Fatalf("the long poll got %d messages", len(msgs))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll on the other server never woke")
	}
	// A poll tick would be a second; a notification is milliseconds.
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("a message crossed servers in %v", d)
	}
}

// TestIdleWebSocketCostsNoQuery: a WebSocket waiting with nothing to
// deliver reads the store neither at its pings nor in between (before, every
// ping read the inbox again: 10,000 sockets cost 330 queries a second).
func TestIdleWebSocketCostsNoQuery(t *testing.T) {
	e := newEnv(t)
	e.srv.PingInterval = 50 * time.Millisecond
	e.srv.PollInterval = -1 // one process alone on its SQLite file
	bob := e.client("bob-1", "bob")
	ws := bob.mustDialInbox(0)
	defer ws.CloseNow()
	// Reading answers the server's pings.
	go ws.Read(context.Background())
	time.Sleep(300 * time.Millisecond)
	before := e.store.Queries()
	time.Sleep(time.Second)
	if n := e.store.Queries() - before; n != 0 {
		t.Fatalf("an idle WebSocket cost %d store queries in a second of 20 pings", n)
	}
}

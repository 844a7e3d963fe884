package ds_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/arbormls/mls/ds"
	"github.com/arbormls/mls/ds/postgres"
	"github.com/arbormls/mls/ds/storetest"
)

// TestTwoServersPostgres runs two servers, each with its own connection
// pool, on one PostgreSQL database: members spread over both race commits
// for one epoch (exactly one wins), and a long poll on one server sees a
// delivery made through the other.
func TestTwoServersPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	var envs [2]*env
	for i := range envs {
		st, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		srv := ds.NewServer(st, testLog(t))
		srv.AllowUnverified = true // its groups send PrivateMessage handshakes
		ts := httptest.NewServer(srv)
		t.Cleanup(func() { ts.Close(); st.Close() })
		envs[i] = &env{t: t, srv: srv, ts: ts, store: st}
	}
	const n = 6
	cs := make([]*client, n)
	for i := range cs {
		// Registered through server i%2, used through server (i+1)%2.
		cs[i] = envs[i%2].client(fmt.Sprint("m", i), fmt.Sprint("user", i))
		cs[i].e = envs[(i+1)%2]
		if i > 0 {
			cs[i].publish(1, false)
		}
	}
	g0, pc := groupOfAll(t, cs)
	// m1 waits on the other server than the one m0 commits through.
	got := make(chan []ds.InboxMessage)
	go func() { got <- cs[1].inbox(0, "5s") }()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if st, out := cs[0].do("POST", gpath(g0)+"/commit", ds.CommitBundle{Commit: marshal(t, pc.Commit), Welcome: marshal(t, pc.Welcome)}); st != 200 {
		t.Fatalf("commit: %d %s", st, out)
	}
	if msgs := <-got; len(msgs) != 1 {
		t.Fatalf("long poll on the other server got %d messages", len(msgs))
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("cross-server delivery seen after %v", d)
	}
	statuses, _ := raceCommits(t, cs, joinAll(t, cs, g0))
	ok := 0
	for i, st := range statuses {
		switch st {
		case 200:
			ok++
		case http.StatusConflict:
		default:
			t.Fatalf("commit %d: %d", i, st)
		}
	}
	if ok != 1 {
		t.Fatalf("%d commits accepted across two servers, want exactly 1", ok)
	}
}

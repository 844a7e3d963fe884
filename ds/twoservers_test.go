package ds_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/arbormls/mls"
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
		srv := ds.NewServer(st, nil)
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
	g0, _ := mls.CreateGroup(cs[0].ident, nil, nil)
	var adds []*mls.KeyPackage
	for i := 1; i < n; i++ {
		adds = append(adds, parseKP(t, cs[0].claim(fmt.Sprint("user", i))[0].KeyPackage))
	}
	pc, err := g0.Commit(mls.CommitOptions{Add: adds})
	if err != nil {
		t.Fatal(err)
	}
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
	g0.MergePendingCommit()
	groups := []*mls.Group{g0}
	for i := 1; i < n; i++ {
		msgs := cs[i].inbox(0, "0s")
		var w mls.MLSMessage
		if len(msgs) != 1 || w.UnmarshalBinary(msgs[0].Message) != nil {
			t.Fatalf("member %d has no Welcome", i)
		}
		var kb *mls.KeyPackageBundle
		for _, b := range cs[i].kps {
			kb = b
		}
		g, err := mls.Join(cs[i].ident, &w, kb, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		groups = append(groups, g)
	}
	bodies := make([][]byte, n)
	for i, g := range groups {
		pc, err := g.Commit(mls.CommitOptions{Update: true})
		if err != nil {
			t.Fatal(err)
		}
		bodies[i], _ = json.Marshal(ds.CommitBundle{Commit: marshal(t, pc.Commit)})
	}
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range cs {
		wg.Go(func() { statuses[i], _ = cs[i].do("POST", gpath(g0)+"/commit", bodies[i]) })
	}
	wg.Wait()
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

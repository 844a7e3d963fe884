package ds_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ds"
	"github.com/arbormls/mls/ds/internal/simclient"
	"github.com/arbormls/mls/ds/storetest"
)

// TestTwoProcessesPostgres runs two mlsd processes on one PostgreSQL
// schema and races commits and KeyPackage claims through both. Every rule
// that must hold across processes is the database's; this is where it
// shows.
func TestTwoProcessesPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	schema := searchPath(t, dsn)
	procs := []*mlsdProc{startMlsd(t, dsn), startMlsd(t, dsn)}
	hc := httpClient(t)
	registered := 0
	// client registers through process i%2 and sends through the other,
	// so that each request depends on what the other process wrote.
	client := func(i int, id, user string) *simclient.Client {
		c := newSimClient(t, hc, procs[i%2].URL(), id, user)
		c.URL = procs[(i+1)%2].URL()
		registered++
		return c
	}
	// device registers another client of voucher's user the same way,
	// vouched for by voucher.
	device := func(i int, id string, voucher *simclient.Client) *simclient.Client {
		c, err := simclient.NewClient(procs[i%2].URL(), hc, id, voucher.User, suite)
		if err != nil {
			t.Fatal(err)
		}
		c.Voucher = voucher
		if err := c.Register(context.Background()); err != nil {
			t.Fatalf("register %s: %v", id, err)
		}
		c.URL = procs[(i+1)%2].URL()
		registered++
		return c
	}
	t.Run("CommitRace", func(t *testing.T) { commitRace(t, client) })
	t.Run("ClaimRace", func(t *testing.T) { claimRace(t, client, device) })

	// Both processes migrated and wrote into the schema of the DSN's
	// search_path, and nowhere else that this test reads.
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables []string
	rows, err := db.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`, schema)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	want := []string{"clients", "group_log", "groups", "inbox", "key_packages", "log_seq", "members", "nonces", "observers", "schema_version", "trees", "users"}
	if !slices.Equal(tables, want) {
		t.Errorf("tables of schema %s = %v, want %v", schema, tables, want)
	}
	var versions, n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM ` + schema + `.schema_version`).Scan(&versions); err != nil || versions != 1 {
		t.Errorf("schema_version rows = %d, %v; want 1 (two processes migrating at once)", versions, err)
	}
	if err := db.QueryRow(`SELECT COUNT(*) FROM ` + schema + `.clients`).Scan(&n); err != nil || n != registered {
		t.Errorf("clients in %s = %d, %v; want the %d registered through both processes", schema, n, err, registered)
	}
	for i, p := range procs {
		if errs := p.errorLines(); len(errs) > 0 {
			t.Errorf("process %d logged errors:\n%s", i, strings.Join(errs, "\n"))
		}
	}
}

// searchPath returns the schema a DSN's search_path names.
func searchPath(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	s := u.Query().Get("search_path")
	if s == "" || strings.ContainsAny(s, ",\" ") {
		t.Fatalf("DSN names no single search_path schema: %q", s)
	}
	return s
}

// syncUntil handles m's inbox, long-polling, until cond holds.
func syncUntil(t *testing.T, m *simclient.Member, cond func() bool) ([]*simclient.Event, error) {
	var all []*simclient.Event
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return all, fmt.Errorf("%s: condition not reached in 30s", m.ID)
		}
		// Another process's delivery wakes a long poll within its
		// one-second poll tick (ds/README.md).
		evs, err := m.Sync(context.Background(), 5*time.Second)
		all = append(all, evs...)
		if err != nil {
			return all, err
		}
	}
	return all, nil
}

// makeGroup has ms[0] create a group and add the others (who published a
// KeyPackage), and has them join from their inboxes; it returns the
// group's id.
func makeGroup(t *testing.T, ms []*simclient.Member) []byte {
	t.Helper()
	ctx := context.Background()
	g, err := ms[0].Create()
	if err != nil {
		t.Fatal(err)
	}
	var adds []*mls.KeyPackage
	for _, m := range ms[1:] {
		kps, err := ms[0].Claim(ctx, m.User)
		if err != nil || len(kps) != 1 {
			t.Fatalf("claim %s: %v, %v", m.User, kps, err)
		}
		var msg mls.MLSMessage
		if err := msg.UnmarshalBinary(kps[0].KeyPackage); err != nil || msg.KeyPackage == nil {
			t.Fatalf("claimed data is not a KeyPackage: %v", err)
		}
		adds = append(adds, msg.KeyPackage)
	}
	gid := g.GroupID()
	bundle, err := ms[0].PrepareCommit(gid, mls.CommitOptions{Add: adds, GroupInfo: true})
	if err != nil {
		t.Fatal(err)
	}
	if epoch, err := ms[0].PostCommit(ctx, gid, bundle); err != nil || epoch != 1 {
		t.Fatalf("creating commit: epoch %d, %v", epoch, err)
	}
	var wg sync.WaitGroup
	for _, m := range ms[1:] {
		wg.Go(func() {
			if _, err := syncUntil(t, m, func() bool { return m.Group(gid) != nil }); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return gid
}

// commitRace: the members of one group, spread over both processes, all
// commit for the same epoch at once, for several rounds. Each round
// exactly one commit is accepted; every other gets 409 with the epoch
// after it, processes the winner's commit from its inbox and commits
// again in the next round. At the end the members agree.
func commitRace(t *testing.T, client func(i int, id, user string) *simclient.Client) {
	const n, rounds = 6, 4
	ctx := context.Background()
	ms := make([]*simclient.Member, n)
	for i := range ms {
		ms[i] = simclient.NewMember(client(i, fmt.Sprint("racer-", i), fmt.Sprint("racer-user-", i)), nil)
		if i > 0 {
			if _, err := ms[i].Publish(ctx, 1, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	gid := makeGroup(t, ms)
	for r := range rounds {
		e := uint64(1 + r)
		bundles := make([][]byte, n)
		for i, m := range ms {
			if got := m.Group(gid).Epoch(); got != e {
				t.Fatalf("round %d: %s is in epoch %d, want %d", r, m.ID, got, e)
			}
			var err error
			if bundles[i], err = m.PrepareCommit(gid, mls.CommitOptions{Update: true}); err != nil {
				t.Fatal(err)
			}
		}
		epochs := make([]uint64, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, m := range ms {
			wg.Go(func() {
				<-start
				epochs[i], errs[i] = m.PostCommit(ctx, gid, bundles[i])
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			cur, conflict := simclient.Conflict(err)
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("round %d: commits of %s and %s both accepted", r, ms[winner].ID, ms[i].ID)
				}
				winner = i
				if epochs[i] != e+1 {
					t.Fatalf("round %d: accepted into epoch %d, want %d", r, epochs[i], e+1)
				}
			case conflict:
				if cur != e+1 {
					t.Fatalf("round %d: 409 reports epoch %d, want the current %d", r, cur, e+1)
				}
			default:
				t.Fatalf("round %d: %s: %v", r, ms[i].ID, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no commit accepted", r)
		}
		var won ds.CommitBundle
		json.Unmarshal(bundles[winner], &won)
		t.Logf("round %d: %s won through process %d", r, ms[winner].ID, (winner+1)%2)
		for i, m := range ms {
			if i == winner {
				continue
			}
			wg.Go(func() {
				evs, err := syncUntil(t, m, func() bool { return m.Group(gid).Epoch() == e+1 })
				if err != nil {
					t.Error(err)
					return
				}
				last := evs[len(evs)-1]
				if !bytes.Equal(last.Data, won.Commit) || last.Received.Kind != mls.KindCommit ||
					last.Received.Member.Leaf != ms[winner].Group(gid).OwnLeaf() {
					t.Errorf("round %d: %s moved to epoch %d by another message than the winning commit", r, m.ID, e+1)
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
	auth := ms[0].Group(gid).EpochAuthenticator()
	for _, m := range ms {
		g := m.Group(gid)
		if g.Epoch() != 1+rounds || !bytes.Equal(g.EpochAuthenticator(), auth) {
			t.Errorf("%s: epoch %d, authenticator %x; want epoch %d, %x", m.ID, g.Epoch(), g.EpochAuthenticator(), 1+rounds, auth)
		}
	}
}

// claimRace: two clients of one user publish KeyPackages through both
// processes; claimers on both processes claim at once, more often than
// there are KeyPackages. Each ordinary KeyPackage is handed out exactly
// once, the last-resort ones fill in after, and none is left.
func claimRace(t *testing.T, client func(i int, id, user string) *simclient.Client, device func(i int, id string, voucher *simclient.Client) *simclient.Client) {
	const perClient, claimers, claimsEach = 12, 16, 3
	ctx := context.Background()
	// bob's second device registers through the other process than his
	// first, which vouches for it.
	bob1 := client(0, "bob-1", "bob")
	bob2 := device(1, "bob-2", bob1)
	bobs := []*simclient.Client{bob1, bob2}
	for _, b := range bobs {
		if n, err := b.Publish(ctx, perClient, true); err != nil || n != perClient {
			t.Fatalf("publish: %d, %v", n, err)
		}
	}
	cs := make([]*simclient.Client, claimers)
	for i := range cs {
		cs[i] = client(i, fmt.Sprint("claimer-", i), fmt.Sprint("claimer-user-", i))
	}
	var mu sync.Mutex
	var got []ds.ClaimedKeyPackage
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range cs {
		for range claimsEach {
			wg.Go(func() {
				<-start
				kps, err := c.Claim(ctx, "bob")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got = append(got, kps...)
				mu.Unlock()
			})
		}
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if len(got) != 2*claimers*claimsEach {
		t.Fatalf("%d KeyPackages handed out, want one per client of bob per claim (%d)", len(got), 2*claimers*claimsEach)
	}
	ordinary := map[string]int{}
	lastResort := 0
	for _, kp := range got {
		var msg mls.MLSMessage
		if err := msg.UnmarshalBinary(kp.KeyPackage); err != nil || msg.KeyPackage == nil {
			t.Fatalf("claimed data is not a KeyPackage: %v", err)
		}
		ref, err := msg.KeyPackage.Ref()
		if err != nil {
			t.Fatal(err)
		}
		owner := bobs[0]
		if kp.Client == "bob-2" {
			owner = bobs[1]
		}
		b := owner.KeyPackageBundle(ref)
		if b == nil || b.KeyPackage.IsLastResort() != kp.LastResort {
			t.Fatalf("claim returned a KeyPackage %s did not publish as such (last resort %v)", kp.Client, kp.LastResort)
		}
		if kp.LastResort {
			lastResort++
		} else {
			ordinary[string(ref)]++
		}
	}
	for _, n := range ordinary {
		if n != 1 {
			t.Fatalf("a KeyPackage was handed out %d times", n)
		}
	}
	if len(ordinary) != 2*perClient || lastResort != len(got)-2*perClient {
		t.Fatalf("%d distinct ordinary KeyPackages and %d last-resort ones, want %d and %d", len(ordinary), lastResort, 2*perClient, len(got)-2*perClient)
	}
	for _, b := range bobs {
		if n, err := b.CountKeyPackages(ctx); err != nil || n != 0 {
			t.Fatalf("%s count = %d, %v; want 0", b.ID, n, err)
		}
	}
}

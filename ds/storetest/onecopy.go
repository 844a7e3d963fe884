package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/arbormls/mls/ds"
)

// groupOf makes a group g of n clients m0..m(n-1), created by m0.
func groupOf(t *testing.T, s ds.Store, g []byte, n int) []string {
	t.Helper()
	var ms []string
	for i := range n {
		id := fmt.Sprint("m", i)
		mustClient(t, s, id, id)
		ms = append(ms, id)
	}
	if _, _, err := s.AcceptCommit(ctx, &ds.Commit{GroupID: g, Sender: "m0", Commit: []byte("c0"), Welcome: []byte("w"), NewMembers: ms[1:]}); err != nil {
		t.Fatal(err)
	}
	return ms
}

// testOneCopy: five messages to a group of 40 are five rows of its log,
// whatever the group's size, and every other member reads each once; a
// commit is one row too.
func testOneCopy(t *testing.T, s ds.Store) {
	counter, ok := s.(tableRows)
	if !ok {
		t.Fatal("the store does not count its rows (TableRows)")
	}
	g := []byte("big group")
	ms := groupOf(t, s, g, 40)
	rows := func(table string) int64 {
		n, err := counter.TableRows(ctx, table)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	log0, inbox0 := rows("group_log"), rows("inbox")
	data := make([]byte, 64<<10)
	for i := range 5 {
		if n, err := send(s, g, ms[i], 1, 0, data); err != nil || n != 39 {
			t.Fatalf("send %d: %d recipients, %v", i, n, err)
		}
	}
	if _, _, err := s.AcceptCommit(ctx, &ds.Commit{GroupID: g, Epoch: 1, Sender: "m0", Commit: []byte("c1")}); err != nil {
		t.Fatal(err)
	}
	if dl, di := rows("group_log")-log0, rows("inbox")-inbox0; dl != 6 || di != 0 {
		t.Fatalf("5 messages and a commit to 40 members wrote %d log rows and %d inbox rows, want 6 and 0", dl, di)
	}
	for _, m := range []string{"m1", "m39"} {
		got, err := s.Inbox(ctx, m, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		// The Welcome, the four messages of others (m1 sent one) or five,
		// and the commit.
		want := 7
		if m == "m1" {
			want = 6
		}
		if len(got) != want {
			t.Fatalf("%s reads %d messages, want %d", m, len(got), want)
		}
	}
}

// tableRows is what testOneCopy needs of a store.
type tableRows interface {
	TableRows(ctx context.Context, table string) (int64, error)
}

// testQuotas: the group log's and the sender's byte quotas refuse what
// exceeds them (counting one copy, not one per member), the inbox quota
// refuses a Welcome to a full inbox, and MaxMembers refuses a commit
// that makes the group too large.
func testQuotas(t *testing.T, s ds.Store) {
	g := []byte("group")
	ms := groupOf(t, s, g, 10)
	q := ds.Quota{MaxGroupBytes: 3000, MaxClientBytes: 2000}
	sendQ := func(from string, n int) error {
		_, err := s.SendToGroup(ctx, &ds.GroupMessage{GroupID: g, Sender: from, Epoch: 1, Data: make([]byte, n), Quota: q})
		return err
	}
	if err := sendQ("m1", 1500); err != nil {
		t.Fatal(err)
	}
	if err := sendQ("m1", 600); !errors.Is(err, ds.ErrQuota) {
		t.Fatalf("sender over its quota: %v", err)
	}
	if err := sendQ("m2", 1400); err != nil {
		t.Fatal(err)
	}
	if err := sendQ("m3", 200); !errors.Is(err, ds.ErrQuota) {
		t.Fatalf("group log over its quota: %v", err)
	}
	mustClient(t, s, "new", "new")
	mustClient(t, s, "new2", "new2")
	full := ds.Quota{MaxInboxBytes: 10}
	if _, _, err := s.AcceptCommit(ctx, &ds.Commit{GroupID: g, Epoch: 1, Sender: "m0", Commit: []byte("c"), Welcome: make([]byte, 11), NewMembers: []string{"new"}, Quota: full}); !errors.Is(err, ds.ErrQuota) {
		t.Fatalf("Welcome over the inbox quota: %v", err)
	}
	big := ds.Quota{MaxMembers: len(ms) + 1}
	if _, _, err := s.AcceptCommit(ctx, &ds.Commit{GroupID: g, Epoch: 1, Sender: "m0", Commit: []byte("c"), Welcome: []byte("w"), NewMembers: []string{"new", "new2"}, Quota: big}); !errors.Is(err, ds.ErrGroupFull) {
		t.Fatalf("commit beyond MaxMembers: %v", err)
	}
	if e, _ := s.Epoch(ctx, g); e != 1 {
		t.Fatalf("a refused commit moved the epoch to %d", e)
	}
	if _, _, err := s.AcceptCommit(ctx, &ds.Commit{GroupID: g, Epoch: 1, Sender: "m0", Commit: []byte("c"), Welcome: []byte("w"), NewMembers: []string{"new"}, Quota: big}); err != nil {
		t.Fatalf("commit up to MaxMembers: %v", err)
	}
}

// testLogCollect: Collect deletes the log entries every member has read
// (a removed member holds its part until it read its removal) and, past
// a size, the oldest ones; the quota counters follow.
func testLogCollect(t *testing.T, s ds.Store) {
	c := s.(ds.Collector)
	g := []byte("group")
	groupOf(t, s, g, 3)
	for i := range 4 {
		if _, err := send(s, g, "m0", 1, 0, []byte(fmt.Sprint("m", i))); err != nil {
			t.Fatal(err)
		}
	}
	// m2 leaves; it still reads the commit that removes it.
	if _, _, err := s.AcceptCommit(ctx, &ds.Commit{GroupID: g, Epoch: 1, Sender: "m0", Commit: []byte("rm"), Removed: []string{"m2"}}); err != nil {
		t.Fatal(err)
	}
	last := func(m string) uint64 {
		got, err := s.Inbox(ctx, m, 0, 100)
		if err != nil || len(got) == 0 {
			t.Fatalf("%s reads %v, %v", m, got, err)
		}
		return got[len(got)-1].Seq
	}
	if got, _ := s.Inbox(ctx, "m2", 0, 100); len(got) != 6 || string(got[5].Data) != "rm" {
		t.Fatalf("the removed member reads %d messages, the last %q", len(got), got[len(got)-1].Data)
	}
	now := time.Now()
	if r, err := c.Collect(ctx, ds.GCOptions{Now: now}); err != nil || r.Log != 0 {
		t.Fatalf("collect before any ack: %+v, %v", r, err)
	}
	// m1 reads everything; m2 is behind: nothing goes.
	s.Ack(ctx, "m1", last("m1"))
	if r, err := c.Collect(ctx, ds.GCOptions{Now: now}); err != nil || r.Log != 0 {
		t.Fatalf("collect with m2 behind: %+v, %v", r, err)
	}
	// m2 reads to its removal: every entry was read by all but its
	// sender (m0, which acked nothing and reads none of its own).
	s.Ack(ctx, "m2", last("m2"))
	r, err := c.Collect(ctx, ds.GCOptions{Now: now})
	if err != nil || r.Log != 5 {
		t.Fatalf("collect after every member read: %+v, %v; want 5 log entries", r, err)
	}
	if ok, _ := s.IsMember(ctx, g, "m2"); ok {
		t.Fatal("m2 is a member again")
	}
	// A full log: past GroupLogBytes the oldest go, read or not.
	for i := range 5 {
		if _, err := send(s, g, "m1", 2, 0, make([]byte, 100+i)); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := c.Collect(ctx, ds.GCOptions{Now: now, GroupLogBytes: 250}); err != nil || r.Log != 3 {
		t.Fatalf("collect to 250 bytes: %+v, %v; want 3 entries", r, err)
	}
	got, _ := s.Inbox(ctx, "m0", 0, 100)
	if len(got) != 2 || len(got[0].Data) != 103 {
		t.Fatalf("m0 reads %d messages after the size cut", len(got))
	}
	// The group's counter holds the 207 bytes left: 2,793 more fit in a
	// 3,000-byte quota, then not one.
	q := ds.Quota{MaxGroupBytes: 3000}
	if _, err := s.SendToGroup(ctx, &ds.GroupMessage{GroupID: g, Sender: "m0", Epoch: 2, Data: make([]byte, 2793), Quota: q}); err != nil {
		t.Fatalf("send within the recounted quota: %v", err)
	}
	if _, err := s.SendToGroup(ctx, &ds.GroupMessage{GroupID: g, Sender: "m0", Epoch: 2, Data: []byte{1}, Quota: q}); !errors.Is(err, ds.ErrQuota) {
		t.Fatalf("send beyond the recounted quota: %v", err)
	}
}

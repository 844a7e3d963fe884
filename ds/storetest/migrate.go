package storetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/arbormls/mls/ds"
	"github.com/arbormls/mls/ds/internal/sqlstore"
)

// CheckUpgradeFromV1 checks a store just upgraded from schema version 1,
// where client "a" (user "a") had an inbox message and a claimed
// KeyPackage, to version latest; check reads the same database, before is
// the Unix time the upgrade started. The new time columns hold the
// migration's time, so garbage collection counts their age from the
// upgrade and does not take them for ancient, and the users table counts
// "a", so a second client of that user must be vouched for.
func CheckUpgradeFromV1(t *testing.T, s *sqlstore.Store, check *sql.DB, before int64, latest int) {
	t.Helper()
	ctx := context.Background()
	if v, err := s.SchemaVersion(ctx); err != nil || v != latest {
		t.Fatalf("schema version %d, %v; want %d", v, err, latest)
	}
	var created, claimedAt int64
	if err := check.QueryRow(`SELECT created FROM inbox`).Scan(&created); err != nil || created < before {
		t.Fatalf("inbox.created = %d, %v; want the migration time", created, err)
	}
	if err := check.QueryRow(`SELECT claimed_at FROM key_packages`).Scan(&claimedAt); err != nil || claimedAt < before {
		t.Fatalf("key_packages.claimed_at = %d, %v; want the migration time", claimedAt, err)
	}
	r, err := s.Collect(ctx, ds.GCOptions{Now: time.Now(), InboxRetention: time.Hour, KeyPackageRetention: time.Hour})
	if err != nil || r != (ds.GCResult{}) {
		t.Fatalf("collection right after the upgrade deleted %+v, %v", r, err)
	}
	b := &ds.Client{ID: "b", User: "a", Suite: 1, SignatureKey: []byte("kb")}
	if err := s.CreateClient(ctx, b); !errors.Is(err, ds.ErrVoucherRequired) {
		t.Fatalf("second client of a migrated user without voucher: %v", err)
	}
	b.VouchedBy = "a"
	if err := s.CreateClient(ctx, b); err != nil {
		t.Fatalf("second client of a migrated user vouched for: %v", err)
	}
}

// FillV3 writes, through exec (a statement with ? placeholders on a
// database of schema version 3), what a server of that version kept:
// clients a and b, group g at epoch 5 with both as members and a
// GroupInfo, and inboxes of one copy per recipient (a: seq 1 and 2, b:
// seq 1).
func FillV3(t *testing.T, exec func(query string, args ...any) error) {
	t.Helper()
	for _, q := range []struct {
		query string
		args  []any
	}{
		{`INSERT INTO users (name, clients) VALUES (?, 1), (?, 1)`, []any{"a", "b"}},
		{`INSERT INTO clients (id, user_name, suite, signature_key, inbox_seq) VALUES (?, ?, 1, ?, 2), (?, ?, 1, ?, 1)`, []any{"a", "a", []byte("ka"), "b", "b", []byte("kb")}},
		{`INSERT INTO groups (id, epoch, group_info) VALUES (?, 5, ?)`, []any{[]byte("g"), []byte("gi")}},
		{`INSERT INTO members (group_id, client_id, leaf) VALUES (?, ?, 0), (?, ?, 1)`, []any{[]byte("g"), "a", []byte("g"), "b"}},
		{`INSERT INTO inbox (client_id, seq, data, created) VALUES (?, 1, ?, 0), (?, 2, ?, 0), (?, 1, ?, 0)`, []any{"a", []byte("a1"), "a", []byte("a2"), "b", []byte("b1")}},
	} {
		if err := exec(q.query, q.args...); err != nil {
			t.Fatalf("%s: %v", q.query, err)
		}
	}
}

// CheckUpgradeFromV3 checks a store upgraded from what FillV3 wrote: the
// inboxes read as before, a new message to the group is one log entry read
// by the other member after what it had (so a client's saved position
// stays valid), acks move the cursor, and the group is as it was.
func CheckUpgradeFromV3(t *testing.T, s ds.Store) {
	t.Helper()
	ctx := context.Background()
	read := func(c string, after uint64) string {
		m, err := s.Inbox(ctx, c, after, 100)
		if err != nil {
			t.Fatal(err)
		}
		out := ""
		for _, x := range m {
			out += fmt.Sprintf("%d:%s ", x.Seq, x.Data)
		}
		return out
	}
	if got := read("a", 0); got != "1:a1 2:a2 " {
		t.Fatalf("a's inbox after the upgrade: %q", got)
	}
	if got := read("b", 0); got != "1:b1 " {
		t.Fatalf("b's inbox after the upgrade: %q", got)
	}
	if e, err := s.Epoch(ctx, []byte("g")); err != nil || e != 5 {
		t.Fatalf("epoch %d, %v", e, err)
	}
	if ms, err := s.Members(ctx, []byte("g")); err != nil || fmt.Sprint(ms) != "[a b]" {
		t.Fatalf("members %v, %v", ms, err)
	}
	if leaf, known, err := s.Leaf(ctx, []byte("g"), "b"); err != nil || !known || leaf != 1 {
		t.Fatalf("b's leaf %d %v %v", leaf, known, err)
	}
	if gi, err := s.LatestGroupInfo(ctx, []byte("g")); err != nil || string(gi) != "gi" {
		t.Fatalf("GroupInfo %q, %v", gi, err)
	}
	if n, err := s.SendToGroup(ctx, &ds.GroupMessage{GroupID: []byte("g"), Sender: "b", Epoch: 5, Data: []byte("new")}); err != nil || n != 1 {
		t.Fatalf("send after the upgrade: %d, %v", n, err)
	}
	// a had read up to 2 (its saved position): the new message is above.
	if got := read("a", 2); got != "3:new " {
		t.Fatalf("a after its saved position: %q", got)
	}
	if got := read("b", 1); got != "" {
		t.Fatalf("b reads its own message: %q", got)
	}
	if err := s.Ack(ctx, "a", 2); err != nil {
		t.Fatal(err)
	}
	if got := read("a", 0); got != "3:new " {
		t.Fatalf("a after acking 2: %q", got)
	}
}

package postgres

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/arbormls/mls/ds"
	"github.com/arbormls/mls/ds/internal/sqlstore"
	"github.com/arbormls/mls/ds/storetest"
)

// TestMigrateFromV1 upgrades a database of schema version 1 holding an
// inbox message and a claimed KeyPackage: the new time columns are set
// to the migration's time, so garbage collection counts their age from
// the upgrade and does not take them for ancient; its client's user is
// counted in the users table.
func TestMigrateFromV1(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.PostgresDSN(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := sqlstore.New(ctx, db, sqlstore.Dialect{Name: "postgres", Dollar: true, Migrations: migrations[:1]})
	if err != nil {
		t.Fatal(err)
	}
	// By hand: the store's CreateClient needs the users table of version 3.
	if _, err := db.Exec(`INSERT INTO clients (id, user_name, suite, signature_key) VALUES ('a', 'a', 1, '\x6b')`); err != nil {
		t.Fatal(err)
	}
	v1.AddKeyPackages(ctx, []ds.KeyPackage{{Ref: []byte("r"), ClientID: "a", Data: []byte("d")}})
	if _, err := db.Exec(`INSERT INTO inbox (client_id, seq, data) VALUES ('a', 1, '\x00')`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE key_packages SET claimed = 1`); err != nil {
		t.Fatal(err)
	}
	v1.Close()

	before := time.Now().Unix()
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.SchemaVersion(ctx); err != nil || v != len(migrations) {
		t.Fatalf("schema version %d, %v", v, err)
	}
	check, _ := sql.Open("pgx", dsn)
	defer check.Close()
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
	// Version 3 counted the user of the client already there, so it
	// takes another client only vouched for by that one.
	b := &ds.Client{ID: "b", User: "a", Suite: 1, SignatureKey: []byte("kb")}
	if err := s.CreateClient(ctx, b); !errors.Is(err, ds.ErrVoucherRequired) {
		t.Fatalf("second client of a migrated user without voucher: %v", err)
	}
	b.VouchedBy = "a"
	if err := s.CreateClient(ctx, b); err != nil {
		t.Fatalf("second client of a migrated user vouched for: %v", err)
	}
}

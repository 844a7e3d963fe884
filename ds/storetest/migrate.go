package storetest

import (
	"context"
	"database/sql"
	"errors"
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

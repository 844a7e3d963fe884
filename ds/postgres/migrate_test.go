package postgres

import (
	"context"
	"database/sql"
	"regexp"
	"strconv"
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
	check, _ := sql.Open("pgx", dsn)
	defer check.Close()
	storetest.CheckUpgradeFromV1(t, s, check, before, len(migrations))
}

// TestMigrateFromV3 upgrades a database of schema version 3, with one copy
// of each message per recipient, to the group logs of version 4.
func TestMigrateFromV3(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.PostgresDSN(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	v3, err := sqlstore.New(ctx, db, sqlstore.Dialect{Name: "postgres", Dollar: true, Migrations: migrations[:3]})
	if err != nil {
		t.Fatal(err)
	}
	storetest.FillV3(t, func(q string, args ...any) error {
		n := 0
		q = regexp.MustCompile(`\?`).ReplaceAllStringFunc(q, func(string) string { n++; return "$" + strconv.Itoa(n) })
		_, err := db.Exec(q, args...)
		return err
	})
	v3.Close()
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.CheckUpgradeFromV3(t, s)
}

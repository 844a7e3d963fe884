package postgres_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/arbormls/mls/ds"
	"github.com/arbormls/mls/ds/postgres"
	"github.com/arbormls/mls/ds/storetest"
)

// TestStore runs the store suite on the PostgreSQL of MLSD_TEST_POSTGRES,
// each test in a fresh schema.
func TestStore(t *testing.T) {
	dsn := os.Getenv("MLSD_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("MLSD_TEST_POSTGRES is not set")
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	storetest.Run(t, func(t *testing.T) ds.Store {
		var b [6]byte
		rand.Read(b[:])
		schema := "mlsd_test_" + hex.EncodeToString(b[:])
		if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { admin.Exec("DROP SCHEMA " + schema + " CASCADE") })
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		s, err := postgres.Open(context.Background(), u.String())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

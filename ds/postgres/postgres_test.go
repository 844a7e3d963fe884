package postgres_test

import (
	"context"
	"testing"

	"github.com/arbormls/mls/ds"
	"github.com/arbormls/mls/ds/postgres"
	"github.com/arbormls/mls/ds/storetest"
)

// TestStore runs the store suite on the PostgreSQL of MLSD_TEST_POSTGRES,
// each test in a fresh schema.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) ds.Store {
		s, err := postgres.Open(context.Background(), storetest.PostgresDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/arbormls/mls/ds"
	"github.com/arbormls/mls/ds/sqlite"
	"github.com/arbormls/mls/ds/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) ds.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ds.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestReopen checks the migration runs once and a reopened database keeps
// its data.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ds.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateClient(ctx, &ds.Client{ID: "a", User: "a", Suite: 1, SignatureKey: []byte("k")}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.SchemaVersion(ctx); err != nil || v != 5 {
		t.Fatalf("schema version %d, %v", v, err)
	}
	if _, err := s.Client(ctx, "a"); err != nil {
		t.Fatal(err)
	}
}

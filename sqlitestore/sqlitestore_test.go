package sqlitestore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/internal/storagetest"
	"github.com/arbormls/mls/sqlitestore"
)

func TestStore(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, resumptionEpochs int) mls.Storage {
		s, err := sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "state.db"), &sqlitestore.Options{ResumptionPSKEpochs: resumptionEpochs})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestCrash kills a process writing batches of records and checks that
// the store holds one whole batch.
func TestCrash(t *testing.T) {
	storagetest.Crash(t, "TestCrash", func(ctx context.Context, dir string) (mls.GroupRecordStore, func() error, error) {
		s, err := sqlitestore.Open(ctx, filepath.Join(dir, "state.db"), nil)
		if err != nil {
			return nil, nil, err
		}
		return s, s.Close, nil
	})
}

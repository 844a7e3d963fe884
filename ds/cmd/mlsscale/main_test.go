package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/arbormls/mls/ds/storetest"
)

// TestScale runs a small scale measurement on each store: every message
// and commit is one row whatever the group's size, every connected member
// gets every message, and waiting costs no store query.
func TestScale(t *testing.T) {
	stores := map[string][]string{
		"sqlite":   {"--store", filepath.Join(t.TempDir(), "scale.db")},
		"postgres": {"--store", "", "--servers", "2"},
	}
	for name, args := range stores {
		t.Run(name, func(t *testing.T) {
			if name == "postgres" {
				args[1] = storetest.PostgresDSN(t)
			}
			var out bytes.Buffer
			args = append(args, "--members", "300", "--connected", "12", "--messages", "4", "--commits", "2", "--warmup", "1", "--idle", "500ms")
			if err := run(args, &out); err != nil {
				t.Fatal(err)
			}
			var r Result
			if err := json.Unmarshal(out.Bytes(), &r); err != nil {
				t.Fatalf("%v: %s", err, out.Bytes())
			}
			if r.RowsPerMessage != 1 || r.RowsPerCommit != 1 || r.Lost != 0 || r.IdleQueriesPerSec != 0 || r.FanoutP99ms <= 0 {
				t.Fatalf("result %+v", r)
			}
		})
	}
}

package conformance

import (
	"os"
	"path/filepath"
	"testing"
)

// TestVectors runs every official vector file that has a runner, one
// subtest per case.
func TestVectors(t *testing.T) {
	dir, err := VectorsDir()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("test vectors not found: %v", err)
	}
	for _, format := range Formats() {
		path := filepath.Join(dir, format+".json")
		t.Run(format, func(t *testing.T) {
			results, err := RunFile(path, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(results) == 0 {
				t.Fatal("no cases")
			}
			for _, r := range results {
				t.Run("", func(t *testing.T) {
					if r.Err != nil {
						t.Errorf("case %d: %v", r.Index, r.Err)
					}
				})
			}
		})
	}
}

func TestUnknownFormat(t *testing.T) {
	if _, err := Run("no-such-format", []byte("[]")); err == nil {
		t.Fatal("unknown format accepted")
	}
}

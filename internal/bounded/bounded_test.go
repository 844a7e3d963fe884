package bounded

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadAll(t *testing.T) {
	for _, n := range []int{0, 1, 99, 100} {
		got, err := ReadAll(bytes.NewReader(make([]byte, n)), 100, "in")
		if err != nil || len(got) != n {
			t.Fatalf("%d bytes: %d, %v", n, len(got), err)
		}
	}
	_, err := ReadAll(bytes.NewReader(make([]byte, 101)), 100, "the input")
	if !errors.Is(err, ErrTooLarge) || err.Error() != "the input: input larger than the limit of 100 bytes" {
		t.Fatalf("101 bytes: %v", err)
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, make([]byte, 2048), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadFile(path, 2048); err != nil || len(got) != 2048 {
		t.Fatalf("at the limit: %d, %v", len(got), err)
	}
	_, err := ReadFile(path, 1024)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "larger than the limit of 1 KiB") {
		t.Fatalf("over the limit: %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "missing"), 10); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// endless reads zeros forever, like /dev/zero.
type endless struct{}

func (endless) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestReadAllEndless: an endless stream fails once the limit is passed.
func TestReadAllEndless(t *testing.T) {
	if _, err := ReadAll(endless{}, 1<<20, "stdin"); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("endless stream: %v", err)
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{1000: "1000 bytes", 1024: "1 KiB", 64 << 20: "64 MiB", 1 << 30: "1 GiB", 1<<20 + 1: "1048577 bytes"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}

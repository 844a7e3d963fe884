//go:build unix

package bounded

import (
	"errors"
	"testing"
	"time"
)

// TestReadFileDevZero: an endless device is read only up to the limit.
func TestReadFileDevZero(t *testing.T) {
	start := time.Now()
	if _, err := ReadFile("/dev/zero", 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("/dev/zero: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("/dev/zero took %v", d)
	}
}

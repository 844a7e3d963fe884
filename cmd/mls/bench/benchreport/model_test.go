package main

import (
	"math"
	"math/bits"
	"strings"
	"testing"
)

// TestCommitPath checks the resolution counting against what the shapes
// imply: in a sparse tree leaf 0 encrypts to every other member, in a
// full one to one node per level; both derive one key pair per level.
func TestCommitPath(t *testing.T) {
	for _, n := range []int{2, 3, 5, 8, 100, 1000, 50000} {
		levels := bits.Len32(uint32(n - 1))
		if keys, seals := (tree{n: n, removed: -1}).commitPath(); keys != levels || seals != n-1 {
			t.Errorf("sparse %d: %d keys, %d seals; want %d, %d", n, keys, seals, levels, n-1)
		}
		if keys, seals := (tree{n: n, full: true, removed: -1}).commitPath(); keys != levels || seals != levels {
			t.Errorf("full %d: %d keys, %d seals; want %d each", n, keys, seals, levels)
		}
		if n >= 4 {
			if _, seals := (tree{n: n, removed: n / 2}).commitPath(); seals != n-2 {
				t.Errorf("sparse %d, one removed: %d seals; want %d", n, seals, n-2)
			}
		}
	}
}

// TestRemoveFull checks a removal in a full tree of 8 against the
// resolutions worked out by hand: leaf 4 (node 8) is blanked with its
// direct path (nodes 9, 11, 7); the copath of leaf 0 is node 2 (leaf 1),
// node 5 and node 11, whose resolution becomes leaf 5 (node 10) and node 13.
func TestRemoveFull(t *testing.T) {
	keys, seals := (tree{n: 8, full: true, removed: 4}).commitPath()
	if keys != 3 || seals != 4 {
		t.Errorf("%d keys, %d seals; want 3, 4", keys, seals)
	}
}

// TestUseMeasured: with every primitive of an mls bench run, the bounds
// use them (open as one X25519); with one missing, DESIGN.md's stay.
func TestUseMeasured(t *testing.T) {
	saved := []float64{costX25519, costSign, costVerify, costSeal, costOpen, costHash, costExpand, costAEAD}
	t.Cleanup(func() {
		costX25519, costSign, costVerify, costSeal = saved[0], saved[1], saved[2], saved[3]
		costOpen, costHash, costExpand, costAEAD = saved[4], saved[5], saved[6], saved[7]
	})
	prims := map[string]float64{"x25519": 80, "sign": 40, "verify": 90, "seal": 170, "open": 180, "hash": 0.3, "expand": 1.2, "aead": 1.1}
	partial := map[string]float64{"verify": 90}
	if s := useMeasured(partial); !strings.Contains(s, "DESIGN.md") || costVerify != 36 {
		t.Fatalf("partial primitives used: %q, verify %v", s, costVerify)
	}
	before, _ := lowerBound("unprotect", 1000, "full")
	if s := useMeasured(prims); !strings.Contains(s, "measured in this run") || costVerify != 90 || costOpen != 85 {
		t.Fatalf("measured primitives not used: %q", s)
	}
	after, _ := lowerBound("unprotect", 1000, "full")
	if want := 90 + 1.1 + ratchetOps*1.2; math.Abs(after.serial-want) > 1e-9 || after.serial <= before.serial {
		t.Fatalf("unprotect bound %v, want %v", after.serial, want)
	}
}

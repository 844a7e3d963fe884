package main

import (
	"math/bits"
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

package benchline

import (
	"slices"
	"testing"
)

func TestKnownAndTimed(t *testing.T) {
	for op, want := range map[string][2]bool{
		"join":           {true, true},
		"join-batch":     {true, true},
		"unprotect":      {true, true},
		"state":          {true, false},
		"memory":         {true, false},
		"persist-commit": {true, false},
		"prim-verify":    {true, false},
		"primitives":     {false, false}, // selects the prim- lines; never a line itself
		"fly":            {false, false},
	} {
		if Known(op) != want[0] || Timed(op) != want[1] {
			t.Errorf("%s: known %v timed %v, want %v", op, Known(op), Timed(op), want)
		}
	}
	if got := TimedOps(); !slices.Equal(got, []string{"join", "join-batch", "commit", "process", "add", "add1000", "remove", "protect", "unprotect"}) {
		t.Errorf("TimedOps = %v", got)
	}
}

// Package benchline is the output format of mls bench, shared by the
// command that writes it and the tools that read it (benchreport,
// benchplot): one JSON object per line and operation. The format is a
// contract that grows, never breaks: readers ignore fields added later.
package benchline

import "strings"

// Result is one line: an operation at one group size and shape, timed over
// Runs runs (times in nanoseconds), and the wire size of what it produced.
type Result struct {
	Op       string `json:"op"`
	Suite    int    `json:"suite"`
	Members  int    `json:"members"`
	Shape    string `json:"shape"`
	Runs     int    `json:"runs"`
	MedianNs int64  `json:"median_ns"`
	MinNs    int64  `json:"min_ns"`
	MaxNs    int64  `json:"max_ns"`
	Bytes    int    `json:"bytes"`
}

// Ops are the operations of mls bench, in the order it runs them.
// "primitives" writes lines named PrimPrefix + a primitive (members 0),
// once per run; state and memory report bytes only; persist-message and
// persist-commit report the bytes a save writes, and its time, which no
// lower bound models.
var Ops = []string{"primitives", "join", "join-batch", "commit", "process", "add", "add1000", "remove", "protect", "unprotect", "state", "memory", "persist-message", "persist-commit"}

// PrimPrefix starts the op of a primitive's line.
const PrimPrefix = "prim-"

// Known reports whether op names a line mls bench writes.
func Known(op string) bool {
	for _, o := range Ops {
		if o == op && op != "primitives" {
			return true
		}
	}
	return strings.HasPrefix(op, PrimPrefix)
}

// Timed reports whether op's lines carry times to compare across group
// sizes: every group operation but state, memory and the persist ones.
func Timed(op string) bool {
	return Known(op) && op != "state" && op != "memory" && !strings.HasPrefix(op, "persist-") && !strings.HasPrefix(op, PrimPrefix)
}

// TimedOps are the timed operations, in Ops order.
func TimedOps() []string {
	var out []string
	for _, o := range Ops {
		if Timed(o) {
			out = append(out, o)
		}
	}
	return out
}

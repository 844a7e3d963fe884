package main

import (
	"bufio"
	"fmt"
	"io"
)

// target is one goal of the performance issue for a 50,000-member group,
// suite 1: an operation (or the sum of two), the shape, and the limit, in
// nanoseconds for times and bytes for sizes.
type target struct {
	label string
	ops   []string
	shape string
	limit float64
	bytes bool // limit and value are bytes
	per   bool // bytes per member
}

var targets = []target{
	{"join (Welcome, tree out of band, full validation)", []string{"join"}, "full", 1e9, false, false},
	{"join with Config.BatchVerifyTree", []string{"join-batch"}, "full", 1e9, false, false},
	{"commit (empty, with path)", []string{"commit"}, "full", 5e6, false, false},
	{"process that commit", []string{"process"}, "full", 2e6, false, false},
	{"add one member (commit + Welcome)", []string{"add"}, "full", 10e6, false, false},
	{"add 1,000 members in one commit", []string{"add1000"}, "full", 400e6, false, false},
	{"remove one member", []string{"remove"}, "full", 5e6, false, false},
	{"protect + unprotect a 1 KiB message", []string{"protect", "unprotect"}, "full", 100e3, false, false},
	{"commit in a sparse tree (to all 49,999 others)", []string{"commit"}, "sparse", 3e9, false, false},
	{"serialized state of one member, per member", []string{"state"}, "full", 2048, true, true},
	{"memory of a loaded group", []string{"memory"}, "full", 200 << 20, true, false},
}

// targetReport prints the targets at 50,000 members against the
// results of file (mls bench output holding them, and the primitives for
// the lower bounds): median, target, whether it is met, the lower bound
// and the ratio to it.
func targetReport(file string, out io.Writer) error {
	const n = 50000
	m, prims, err := readResults(file)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(out)
	fmt.Fprintln(w, useMeasured(prims))
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| op | median | target | met | lower bound (2 cores) | median ÷ bound |")
	fmt.Fprintln(w, "|---|---:|---:|---|---:|---:|")
	for _, t := range targets {
		var value, boundUs float64
		found, bounded := true, true
		for _, op := range t.ops {
			r, ok := m[key{op, n, t.shape}]
			if !ok {
				found = false
				break
			}
			if t.bytes {
				value += float64(r.Bytes)
			} else {
				value += float64(r.MedianNs)
			}
			b, bok := lowerBound(op, n, t.shape)
			bounded = bounded && bok
			boundUs += b.parallel
		}
		if !found {
			continue
		}
		if t.per {
			value /= n
		}
		cells := [5]string{}
		if t.bytes {
			cells[0], cells[1] = byteSize(value), byteSize(t.limit)
		} else {
			cells[0], cells[1] = duration(value), duration(t.limit)
		}
		cells[2] = "yes"
		if value >= t.limit {
			cells[2] = "**no**"
		}
		cells[3], cells[4] = none, none
		if !t.bytes && bounded && boundUs > 0 {
			cells[3] = duration(boundUs * 1e3)
			cells[4] = fmt.Sprintf("%.2f", value/(boundUs*1e3))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", t.label, cells[0], cells[1], cells[2], cells[3], cells[4])
	}
	return w.Flush()
}

// byteSize formats a size in B, KiB or MiB.
func byteSize(b float64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.3g MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.3g KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}

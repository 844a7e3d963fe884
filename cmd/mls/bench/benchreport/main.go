// Command benchreport turns the JSON-lines output of `mls bench` (Arbor)
// and of cmd/mls/bench/ts-mls/bench.mjs (ts-mls) into the markdown tables
// of BENCHMARKS.md, with the lower bounds of the model in model.go, so the
// tables are regenerated from measurements, never typed by hand.
//
// Usage: benchreport --arbor FILE --ts FILE
//
//	benchreport --growth FILE   (how Arbor's costs grow with the group size)
//	benchreport --targets FILE  (the performance targets at 50,000 members)
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/arbormls/mls/cmd/mls/internal/benchline"
)

// ops are the operations of mls bench, in its order.
var ops = benchline.Ops

// result is one line of mls bench output.
type result = benchline.Result

type key struct {
	op      string
	members int
	shape   string
}

func main() {
	arbor := flag.String("arbor", "", "JSON lines of mls bench")
	ts := flag.String("ts", "", "JSON lines of the ts-mls bench")
	growthFile := flag.String("growth", "", "JSON lines of mls bench at several group sizes: print the growth table")
	targetsFile := flag.String("targets", "", "JSON lines of mls bench at 50,000 members (both shapes): print the targets table")
	flag.Parse()
	if *targetsFile != "" {
		if err := targetReport(*targetsFile, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "benchreport:", err)
			os.Exit(1)
		}
		return
	}
	if *growthFile != "" && *arbor == "" && *ts == "" && flag.NArg() == 0 {
		if err := growth(*growthFile, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "benchreport:", err)
			os.Exit(1)
		}
		return
	}
	if *arbor == "" || *ts == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: benchreport --arbor FILE --ts FILE")
		os.Exit(2)
	}
	if err := run(*arbor, *ts, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func run(arborFile, tsFile string, out io.Writer) error {
	a, prims, err := readResults(arborFile)
	if err != nil {
		return err
	}
	t, _, err := readResults(tsFile)
	if err != nil {
		return err
	}
	keys := make([]key, 0, len(a)+len(t))
	for _, m := range []map[key]result{a, t} {
		for k := range m {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	slices.SortFunc(keys, func(x, y key) int {
		if c := slices.Index(ops, x.op) - slices.Index(ops, y.op); c != 0 {
			return c
		}
		if c := x.members - y.members; c != 0 {
			return c
		}
		return strings.Compare(x.shape, y.shape)
	})
	w := bufio.NewWriter(out)
	fmt.Fprintln(w, useMeasured(prims))
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| op | members | shape | Arbor | ts-mls | lower bound | one core | Arbor ÷ bound | ts-mls ÷ bound | Arbor bytes | ts-mls bytes |")
	fmt.Fprintln(w, "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, k := range keys {
		ar, aok := a[k]
		tr, tok := t[k]
		b, bok := lowerBound(k.op, k.members, k.shape)
		timed := k.op != "state" && k.op != "memory"
		cells := []string{k.op, fmt.Sprint(k.members), k.shape,
			timeCell(ar, aok && timed), timeCell(tr, tok && timed),
			usCell(b.parallel, bok), usCell(b.serial, bok),
			ratioCell(ar, aok && timed, b.parallel, bok), ratioCell(tr, tok && timed, b.parallel, bok),
			bytesCell(ar, aok), bytesCell(tr, tok)}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "The model at 50,000 members, full tree, beside the bounds DESIGN.md gives:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| op | model, 2 cores | model, one core | DESIGN.md |")
	fmt.Fprintln(w, "|---|---:|---:|---:|")
	for _, d := range designBounds {
		var sum bound
		for _, op := range strings.Split(d.ops, "+") {
			b, _ := lowerBound(op, 50000, "full")
			sum.serial += b.serial
			sum.parallel += b.parallel
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", d.ops, usCell(sum.parallel, true), usCell(sum.serial, true), d.design)
	}
	return w.Flush()
}

// designBounds are the lower bounds DESIGN.md ("Performance facts") gives
// for 50,000 members with a full tree, to compare the model with.
var designBounds = []struct{ ops, design string }{
	{"join", "0.3 to 1.9 s"},
	{"commit", "0.5 to 1.7 ms"},
	{"process", "0.2 to 0.6 ms"},
	{"add1000", "32 to 144 ms"},
	{"protect+unprotect", "59 µs"},
}

// readResults reads JSON lines of mls bench output, keyed by operation,
// group size and shape.
// It returns the primitive costs apart, in microseconds by name.
func readResults(file string) (map[key]result, map[string]float64, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	m := make(map[key]result)
	prims := make(map[string]float64)
	dec := json.NewDecoder(f)
	for {
		var r result
		if err := dec.Decode(&r); errors.Is(err, io.EOF) {
			return m, prims, nil
		} else if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", file, err)
		}
		if name, ok := strings.CutPrefix(r.Op, benchline.PrimPrefix); ok {
			// The fastest batch: the primitive's cost without whatever
			// else the machine was doing, so that the bound stays a bound.
			prims[name] = float64(r.MinNs) / 1e3
			continue
		}
		if !benchline.Known(r.Op) {
			return nil, nil, fmt.Errorf("%s: unknown operation %q", file, r.Op)
		}
		k := key{r.Op, r.Members, r.Shape}
		if _, dup := m[k]; dup {
			return nil, nil, fmt.Errorf("%s: %s at %d members, %s, twice", file, r.Op, r.Members, r.Shape)
		}
		m[k] = r
	}
}

// duration formats nanoseconds with three significant digits.
func duration(ns float64) string {
	switch {
	case ns >= 1e9:
		return fmt.Sprintf("%.3g s", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.3g ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.3g µs", ns/1e3)
	}
	return fmt.Sprintf("%.3g ns", ns)
}

const none = "—"

func timeCell(r result, ok bool) string {
	if !ok {
		return none
	}
	return duration(float64(r.MedianNs))
}

func usCell(us float64, ok bool) string {
	if !ok {
		return none
	}
	return duration(us * 1e3)
}

func ratioCell(r result, ok bool, boundUs float64, bok bool) string {
	if !ok || !bok || boundUs <= 0 {
		return none
	}
	ratio := float64(r.MedianNs) / (boundUs * 1e3)
	if ratio >= 100 {
		return fmt.Sprintf("%.0f", ratio)
	}
	return fmt.Sprintf("%.3g", ratio)
}

func bytesCell(r result, ok bool) string {
	if !ok || r.Bytes == 0 {
		return none
	}
	return fmt.Sprint(r.Bytes)
}

// growth prints one row per operation and one column per group size (and
// shape) found in file: the median time, or the bytes for state and
// memory, so that the README can show how each cost grows.
func growth(file string, out io.Writer) error {
	m, _, err := readResults(file)
	if err != nil {
		return err
	}
	type col struct {
		members int
		shape   string
	}
	var cols []col
	for k := range m {
		if c := (col{k.members, k.shape}); !slices.Contains(cols, c) {
			cols = append(cols, c)
		}
	}
	if len(cols) == 0 {
		return fmt.Errorf("%s: no results", file)
	}
	slices.SortFunc(cols, func(x, y col) int {
		if c := strings.Compare(x.shape, y.shape); c != 0 {
			return c
		}
		return x.members - y.members
	})
	w := bufio.NewWriter(out)
	head, rule := "| op |", "|---|"
	for _, c := range cols {
		head += fmt.Sprintf(" %d (%s) |", c.members, c.shape)
		rule += "---:|"
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, rule)
	for _, op := range ops {
		row := "| " + op + " |"
		found := false
		for _, c := range cols {
			r, ok := m[key{op, c.members, c.shape}]
			found = found || ok
			cell := none
			switch {
			case ok && (op == "state" || op == "memory"):
				cell = bytesCell(r, true)
			case ok:
				cell = timeCell(r, true)
			}
			row += " " + cell + " |"
		}
		if found {
			fmt.Fprintln(w, row)
		}
	}
	return w.Flush()
}

// Command benchplot draws the JSON lines of `mls bench` as an SVG plot of
// median time against group size, both on log scales, one line per timed
// operation, with dashed O(n) and O(log n) curves to compare slopes with.
// cmd/mls/bench/growth.sh runs it, so the picture in BENCHMARKS.md and the
// README is regenerated from measurements, never drawn by hand.
//
// Usage: benchplot [--suite N] [--shape S] [--linear OP] [--log OP] [-o FILE.svg] FILE.jsonl
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchplot:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("benchplot", flag.ContinueOnError)
	suite := fs.Int("suite", 0, "plot this cipher suite (needed only when the input holds several)")
	shape := fs.String("shape", "", "plot this tree shape, full or sparse (needed only when the input holds several)")
	linear := fs.String("linear", "join", `draw an O(n) curve from this operation's smallest size ("" for none)`)
	logOp := fs.String("log", "commit", `draw an O(log n) curve from this operation's smallest size ("" for none)`)
	out := fs.String("o", "", "write the SVG to this file instead of standard output")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: benchplot [--suite N] [--shape S] [--linear OP] [--log OP] [-o FILE.svg] FILE.jsonl")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("want one input file, got %d arguments", fs.NArg())
	}
	for _, op := range []string{*linear, *logOp} {
		if op != "" && !slices.Contains(timedOps, op) {
			return fmt.Errorf("reference operation %q is not a timed operation (%s)", op, strings.Join(timedOps, " "))
		}
	}
	name := fs.Arg(0)
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	d, err := readDataset(f, name, *suite, *shape)
	if err != nil {
		return err
	}
	svg, err := render(d, options{linearOp: *linear, logOp: *logOp})
	if err != nil {
		return err
	}
	// Written only once complete, so a failure leaves no half picture.
	if *out != "" {
		return os.WriteFile(*out, svg, 0o644)
	}
	_, err = stdout.Write(svg)
	return err
}

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/arbormls/mls/cmd/mls/internal/benchline"
)

// timedOps are the operations of mls bench that report a time, in its
// order; the others (state, memory, the primitives) have no place on a
// plot of time against group size.
var timedOps = benchline.TimedOps()

// result is one line of mls bench output.
type result = benchline.Result

// point is one timed measurement, with the input line it came from.
type point struct {
	result
	line int
}

// dataset is what one plot shows: the timed results of one suite and
// shape, by operation, each sorted by group size.
type dataset struct {
	suite  int
	shape  string
	series map[string][]point
}

// maxLine bounds one input line; mls bench writes lines of about 150 bytes.
const maxLine = 1 << 16

// readDataset reads mls bench JSON lines from r (name is used in errors)
// and keeps the timed results of the given suite and shape (0 and ""
// mean any, but then the input must hold only one of each).
func readDataset(r io.Reader, name string, suite int, shape string) (*dataset, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	type key struct {
		op, shape      string
		suite, members int
	}
	seen := make(map[key]int) // line of each result, to report duplicates
	var points []point
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		res, err := parseLine(text)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		k := key{res.Op, res.Shape, res.Suite, res.Members}
		if first, dup := seen[k]; dup {
			return nil, fmt.Errorf("%s:%d: %s at %d members (suite %d, %s) already on line %d",
				name, line, res.Op, res.Members, res.Suite, res.Shape, first)
		}
		seen[k] = line
		if benchline.Timed(res.Op) {
			points = append(points, point{res, line})
		}
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return nil, fmt.Errorf("%s:%d: line longer than %d bytes", name, line+1, maxLine)
	} else if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}

	d := &dataset{suite: suite, shape: shape, series: make(map[string][]point)}
	var groups []string // the suites and shapes found, for the error below
	for _, p := range points {
		if (suite != 0 && p.Suite != suite) || (shape != "" && p.Shape != shape) {
			continue
		}
		g := fmt.Sprintf("suite %d %s", p.Suite, p.Shape)
		if !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
		d.suite, d.shape = p.Suite, p.Shape
		d.series[p.Op] = append(d.series[p.Op], p)
	}
	switch {
	case len(groups) == 0 && (suite != 0 || shape != ""):
		return nil, fmt.Errorf("%s: no timed results for the suite and shape asked for", name)
	case len(groups) == 0:
		return nil, fmt.Errorf("%s: no timed results", name)
	case len(groups) > 1:
		slices.Sort(groups)
		return nil, fmt.Errorf("%s: results of several suites or shapes (%s): choose one with --suite and --shape",
			name, strings.Join(groups, ", "))
	}
	for _, s := range d.series {
		slices.SortFunc(s, func(a, b point) int { return a.Members - b.Members })
	}
	return d, nil
}

// parseLine decodes and checks one line of mls bench output.
func parseLine(text []byte) (result, error) {
	var r result
	dec := json.NewDecoder(bytes.NewReader(text))
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf("not an mls bench JSON object: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return r, errors.New("not an mls bench JSON object: more after the object")
	}
	switch {
	case r.Op == "":
		return r, errors.New(`no "op"`)
	case !benchline.Known(r.Op):
		return r, fmt.Errorf("unknown operation %q (known: %s)", r.Op, strings.Join(benchline.Ops, " "))
	case strings.HasPrefix(r.Op, benchline.PrimPrefix):
		return r, nil // a primitive's cost: no group size to plot against
	case r.Members < 1:
		return r, fmt.Errorf("%s: members %d, want at least 1", r.Op, r.Members)
	case r.Shape == "":
		return r, fmt.Errorf(`%s: no "shape"`, r.Op)
	case !benchline.Timed(r.Op):
		return r, nil
	case r.Runs < 1:
		return r, fmt.Errorf("%s: runs %d, want at least 1 for a timed operation", r.Op, r.Runs)
	case r.MedianNs < 1:
		// A log scale has no place for 0 or less.
		return r, fmt.Errorf("%s: median_ns %d, want a positive time", r.Op, r.MedianNs)
	case r.MinNs > r.MedianNs || r.MedianNs > r.MaxNs:
		return r, fmt.Errorf("%s: median_ns %d outside min_ns..max_ns %d..%d", r.Op, r.MedianNs, r.MinNs, r.MaxNs)
	}
	return r, nil
}

package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// line is one mls bench output line.
func line(op string, members int, shape string, medianNs int64) string {
	return fmt.Sprintf(`{"op":%q,"suite":1,"members":%d,"shape":%q,"runs":3,"median_ns":%d,"min_ns":%d,"max_ns":%d,"bytes":100}`,
		op, members, shape, medianNs, medianNs-medianNs/10, medianNs+medianNs/10)
}

// growthInput has a linear join, a commit growing as log n, a flat
// protect, an add missing at 10,000 members, an add1000 at one size only,
// and the untimed state line mls bench also prints.
func growthInput() []string {
	var lines []string
	for _, n := range []int{1000, 10000, 50000, 100000} {
		lines = append(lines,
			line("join", n, "full", int64(n)*1000), // 1 ms at 1,000
			line("commit", n, "full", int64(math.Round(1e6*math.Log2(float64(n))/math.Log2(1000)))),
			line("protect", n, "full", 30000),
		)
		if n != 10000 {
			lines = append(lines, line("add", n, "full", 400000+int64(n)))
		}
		lines = append(lines, fmt.Sprintf(`{"op":"state","suite":1,"members":%d,"shape":"full","runs":0,"median_ns":0,"min_ns":0,"max_ns":0,"bytes":%d}`, n, n*264))
	}
	return append(lines, line("add1000", 1000, "full", 120e6))
}

func renderLines(t *testing.T, lines []string, suite int, shape string) []byte {
	t.Helper()
	d, err := readDataset(strings.NewReader(strings.Join(lines, "\n")+"\n"), "in.jsonl", suite, shape)
	if err != nil {
		t.Fatal(err)
	}
	svg, err := render(d, options{linearOp: "join", logOp: "commit"})
	if err != nil {
		t.Fatal(err)
	}
	return svg
}

// node is an element of the parsed SVG.
type node struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []node     `xml:",any"`
}

func (n node) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// all returns the elements under n (n included) for which keep is true.
func (n node) all(keep func(node) bool) []node {
	var out []node
	if keep(n) {
		out = append(out, n)
	}
	for _, c := range n.Children {
		out = append(out, c.all(keep)...)
	}
	return out
}

func class(c string) func(node) bool {
	return func(n node) bool { return n.attr("class") == c }
}

// parseSVG checks that data is well-formed XML with an svg root in the
// SVG namespace and returns its tree.
func parseSVG(t *testing.T, data []byte) node {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	for {
		if _, err := dec.Token(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, data)
		}
	}
	var root node
	if err := xml.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	if root.XMLName.Local != "svg" || root.XMLName.Space != "http://www.w3.org/2000/svg" {
		t.Fatalf("root element %v, want svg in the SVG namespace", root.XMLName)
	}
	return root
}

type xy struct{ x, y float64 }

func parseFloat(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		t.Fatalf("coordinate %q: %v", s, err)
	}
	return v
}

// translation reads transform="translate(X,Y)".
func translation(t *testing.T, n node) xy {
	t.Helper()
	s, ok := strings.CutPrefix(n.attr("transform"), "translate(")
	s, ok2 := strings.CutSuffix(s, ")")
	x, y, ok3 := strings.Cut(s, ",")
	if !ok || !ok2 || !ok3 {
		t.Fatalf("transform %q", n.attr("transform"))
	}
	return xy{parseFloat(t, x), parseFloat(t, y)}
}

// polyline reads a points attribute.
func polyline(t *testing.T, n node) []xy {
	t.Helper()
	var out []xy
	for _, f := range strings.Fields(n.attr("points")) {
		x, y, ok := strings.Cut(f, ",")
		if !ok {
			t.Fatalf("point %q", f)
		}
		out = append(out, xy{parseFloat(t, x), parseFloat(t, y)})
	}
	return out
}

// near allows for the one-decimal rounding of coordinates.
func near(a, b xy) bool { return math.Abs(a.x-b.x) <= 0.11 && math.Abs(a.y-b.y) <= 0.11 }

func texts(root node, c string) []node { return root.all(class(c)) }

func hasText(nodes []node, s string) bool {
	return slices.ContainsFunc(nodes, func(n node) bool { return strings.Contains(n.Text, s) })
}

type mark struct {
	op      string
	members int
	median  int64
	at      xy
}

func marks(t *testing.T, root node) []mark {
	t.Helper()
	var out []mark
	for _, n := range texts(root, "point") {
		m, err1 := strconv.Atoi(n.attr("data-members"))
		ns, err2 := strconv.ParseInt(n.attr("data-median-ns"), 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("point attributes %v", n.Attrs)
		}
		out = append(out, mark{n.attr("data-op"), m, ns, translation(t, n)})
	}
	return out
}

func TestRenderGrowth(t *testing.T) {
	input := growthInput()
	root := parseSVG(t, renderLines(t, input, 0, ""))

	// One marker per timed input line, with its values.
	ms := marks(t, root)
	want := map[string]bool{}
	for _, l := range input {
		r, err := parseLine([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(timedOps, r.Op) {
			want[fmt.Sprintf("%s %d %d", r.Op, r.Members, r.MedianNs)] = true
		}
	}
	got := map[string]bool{}
	for _, m := range ms {
		got[fmt.Sprintf("%s %d %d", m.op, m.members, m.median)] = true
	}
	if len(ms) != len(want) || len(got) != len(want) {
		t.Fatalf("%d markers (%d distinct), want %d", len(ms), len(got), len(want))
	}
	for k := range want {
		if !got[k] {
			t.Errorf("no marker for %s", k)
		}
	}

	// Positions are monotone with the data: right for more members, up
	// for more time, the same place for the same value.
	for _, a := range ms {
		for _, b := range ms {
			if a.members < b.members && !(a.at.x < b.at.x) {
				t.Errorf("%s at %d: x %v, not left of %s at %d: x %v", a.op, a.members, a.at.x, b.op, b.members, b.at.x)
			}
			if a.members == b.members && a.at.x != b.at.x {
				t.Errorf("%d members at x %v and %v", a.members, a.at.x, b.at.x)
			}
			if a.median < b.median && !(a.at.y > b.at.y) {
				t.Errorf("%d ns at y %v, not below %d ns at y %v", a.median, a.at.y, b.median, b.at.y)
			}
		}
	}
	at := func(op string, members int) xy {
		for _, m := range ms {
			if m.op == op && m.members == members {
				return m.at
			}
		}
		t.Fatalf("no marker for %s at %d", op, members)
		return xy{}
	}

	// Lines join an operation's markers in order, skipping a missing size;
	// a single point gets no line.
	lines := map[string][]xy{}
	for _, n := range texts(root, "series") {
		lines[n.attr("data-op")] = polyline(t, n)
	}
	for op, sizes := range map[string][]int{
		"join":    {1000, 10000, 50000, 100000},
		"add":     {1000, 50000, 100000},
		"protect": {1000, 10000, 50000, 100000},
	} {
		pts := lines[op]
		if len(pts) != len(sizes) {
			t.Errorf("%s line has %d points, want %d", op, len(pts), len(sizes))
			continue
		}
		for i, n := range sizes {
			if !near(pts[i], at(op, n)) {
				t.Errorf("%s line point %d at %v, marker at %v", op, i, pts[i], at(op, n))
			}
		}
	}
	if _, ok := lines["add1000"]; ok {
		t.Error("a line for add1000, which has one point")
	}
	if _, ok := lines["remove"]; ok {
		t.Error("a line for remove, which has no data")
	}

	// The input's join is exactly linear and its commit exactly
	// logarithmic, so each reference runs from the anchor's first marker
	// through its last; the other reference does not.
	refs := map[string][]xy{}
	for _, n := range texts(root, "reference") {
		refs[n.attr("data-name")] = polyline(t, n)
	}
	for name, op := range map[string]string{"O(n)": "join", "O(log n)": "commit"} {
		pts := refs[name]
		if len(pts) < 2 {
			t.Fatalf("reference %s: %d points", name, len(pts))
		}
		if !near(pts[0], at(op, 1000)) || !near(pts[len(pts)-1], at(op, 100000)) {
			t.Errorf("reference %s runs %v..%v, %s markers at %v..%v", name, pts[0], pts[len(pts)-1], op, at(op, 1000), at(op, 100000))
		}
	}
	if near(refs["O(log n)"][len(refs["O(log n)"])-1], at("join", 100000)) {
		t.Error("O(log n) ends on the linear join")
	}

	// Labels: title, axes, legend.
	if title := texts(root, "subtitle"); !hasText(title, "suite 1") || !hasText(title, "full tree") || !hasText(title, "3 runs") {
		t.Errorf("subtitle lacks suite, shape or runs: %+v", title)
	}
	for _, s := range []string{"1,000", "10,000", "50,000", "100,000"} {
		if !hasText(texts(root, "x-label"), s) {
			t.Errorf("no x label %q", s)
		}
	}
	yLabels := texts(root, "y-label")
	for _, s := range []string{"10 µs", "100 µs", "1 ms", "10 ms", "100 ms"} {
		if !hasText(yLabels, s) {
			t.Errorf("no y label %q", s)
		}
	}
	// The 1 ms label sits level with join at 1,000 members, which is 1 ms.
	for _, n := range yLabels {
		if n.Text == "1 ms" && math.Abs(parseFloat(t, n.attr("y"))-at("join", 1000).y) > 0.11 {
			t.Errorf("1 ms label at y %s, the 1 ms marker at %v", n.attr("y"), at("join", 1000).y)
		}
	}
	legend := root.all(class("legend"))
	if len(legend) != 1 {
		t.Fatalf("%d legends", len(legend))
	}
	var entries []string
	for _, n := range legend[0].all(func(n node) bool { return n.XMLName.Local == "text" }) {
		entries = append(entries, n.Text)
	}
	for _, s := range []string{"join", "commit", "add", "add1000", "protect", "O(n)", "O(log n)", "from join at 1,000", "from commit at 1,000"} {
		if !slices.Contains(entries, s) {
			t.Errorf("legend %q lacks %q", entries, s)
		}
	}
	if slices.Contains(entries, "remove") || slices.Contains(entries, "state") {
		t.Errorf("legend %q names an operation without time data", entries)
	}
}

func TestDeterministic(t *testing.T) {
	input := growthInput()
	first := renderLines(t, input, 0, "")
	if again := renderLines(t, input, 0, ""); !bytes.Equal(first, again) {
		t.Error("two renderings of one input differ")
	}
	reversed := slices.Clone(input)
	slices.Reverse(reversed)
	if other := renderLines(t, reversed, 0, ""); !bytes.Equal(first, other) {
		t.Error("the input's line order changes the picture")
	}
}

func TestShapeChoice(t *testing.T) {
	input := []string{line("commit", 1000, "full", 1e6), line("commit", 1000, "sparse", 5e7), line("commit", 2000, "sparse", 1e8)}
	root := parseSVG(t, renderLines(t, input, 0, "sparse"))
	ms := marks(t, root)
	if len(ms) != 2 || ms[0].median != 5e7 || ms[1].median != 1e8 {
		t.Errorf("markers %+v, want the two sparse ones", ms)
	}
	if !hasText(texts(root, "subtitle"), "sparse tree") {
		t.Error("subtitle does not name the sparse shape")
	}
	// The join anchor is absent and the commit one present.
	if refs := texts(root, "reference"); len(refs) != 1 || refs[0].attr("data-name") != "O(log n)" {
		t.Errorf("references %+v, want only O(log n)", refs)
	}
}

// TestOneSize checks a single group size and a single point: a picture
// with finite coordinates, no line and no reference.
func TestOneSize(t *testing.T) {
	svg := renderLines(t, []string{line("join", 50000, "full", 1e9)}, 0, "")
	root := parseSVG(t, svg)
	ms := marks(t, root)
	if len(ms) != 1 || ms[0].at.x <= plotLeft || ms[0].at.x >= plotRight || ms[0].at.y <= plotTop || ms[0].at.y >= plotBottom {
		t.Errorf("marker %+v not inside the plot area", ms)
	}
	if n := len(texts(root, "series")) + len(texts(root, "reference")); n != 0 {
		t.Errorf("%d lines for one point", n)
	}
	if !hasText(texts(root, "y-label"), "1 s") {
		t.Error("no 1 s label")
	}
}

// TestCrowdedLabels checks that close sizes and a wide time range keep
// their labels apart.
func TestCrowdedLabels(t *testing.T) {
	var input []string
	medians := []int64{10, 1e5, 1e9, 1e13, 1e17, 1e18}
	for i, n := range []int{1000, 1050, 1100, 1200, 5000, 100000} {
		input = append(input, line("protect", n, "full", medians[i]))
	}
	root := parseSVG(t, renderLines(t, input, 0, ""))
	var xs, ys []float64
	for _, n := range texts(root, "x-label") {
		xs = append(xs, parseFloat(t, n.attr("x"))-float64(len([]rune(n.Text)))*charWidth/2, parseFloat(t, n.attr("x"))+float64(len([]rune(n.Text)))*charWidth/2)
	}
	for i := 2; i < len(xs); i += 2 {
		if xs[i] < xs[i-1] {
			t.Errorf("x labels overlap: %v", xs)
		}
	}
	if len(xs)/2 < 3 || len(xs)/2 >= 6 {
		t.Errorf("%d x labels of 6 sizes, want some but not all", len(xs)/2)
	}
	for _, n := range texts(root, "y-label") {
		ys = append(ys, parseFloat(t, n.attr("y")))
	}
	for i := 1; i < len(ys); i++ {
		if ys[i-1]-ys[i] < fontSize {
			t.Errorf("y labels closer than the font size: %v", ys)
		}
	}
	yl := texts(root, "y-label")
	if len(yl) < 2 || !strings.HasSuffix(yl[0].Text, " ns") || !strings.HasSuffix(yl[len(yl)-1].Text, " s") {
		t.Errorf("y labels %+v do not span ns to s", yl)
	}
	if len(yl) > 12 {
		t.Errorf("%d y labels over 400 pixels", len(yl))
	}
}

func TestReadErrors(t *testing.T) {
	ok := line("commit", 1000, "full", 1e6)
	for _, c := range []struct {
		name, input, suite, shape, want string
	}{
		{"bad JSON", ok + "\n\n{\"op\":\"join\",\n", "", "", "in.jsonl:3: not an mls bench JSON object"},
		{"not an object", "[1,2]\n", "", "", "in.jsonl:1: not an mls bench JSON object"},
		{"two objects", ok + " " + ok + "\n", "", "", "in.jsonl:1: not an mls bench JSON object: more after"},
		{"fraction", strings.Replace(ok, `"members":1000`, `"members":1.5`, 1), "", "", "in.jsonl:1: not an mls bench JSON object"},
		{"no op", `{"members":1000,"shape":"full"}`, "", "", `in.jsonl:1: no "op"`},
		{"unknown op", strings.Replace(ok, "commit", "rekey", 1), "", "", `in.jsonl:1: unknown operation "rekey"`},
		{"no members", strings.Replace(ok, `"members":1000`, `"members":0`, 1), "", "", "in.jsonl:1: commit: members 0"},
		{"no shape", strings.Replace(ok, `"shape":"full"`, `"shape":""`, 1), "", "", `in.jsonl:1: commit: no "shape"`},
		{"no runs", strings.Replace(ok, `"runs":3`, `"runs":0`, 1), "", "", "in.jsonl:1: commit: runs 0"},
		{"zero time", line("join", 1000, "full", 0), "", "", "in.jsonl:1: join: median_ns 0"},
		{"median out of range", strings.Replace(ok, `"min_ns":900000`, `"min_ns":1000001`, 1), "", "", "in.jsonl:1: commit: median_ns 1000000 outside"},
		{"duplicate", ok + "\n" + line("join", 1000, "full", 1e6) + "\n" + ok, "", "", "in.jsonl:3: commit at 1000 members (suite 1, full) already on line 1"},
		{"long line", ok + "\n" + strings.Repeat(" ", maxLine+1), "", "", "in.jsonl:2: line longer than"},
		{"empty", "", "", "", "in.jsonl: no timed results"},
		{"untimed only", `{"op":"state","suite":1,"members":1000,"shape":"full","runs":0,"median_ns":0,"min_ns":0,"max_ns":0,"bytes":1}`, "", "", "in.jsonl: no timed results"},
		{"two shapes", ok + "\n" + line("commit", 1000, "sparse", 1e6), "", "", "results of several suites or shapes (suite 1 full, suite 1 sparse)"},
		{"shape absent", ok, "", "sparse", "no timed results for the suite and shape asked for"},
		{"suite absent", ok, "2", "", "no timed results for the suite and shape asked for"},
	} {
		t.Run(c.name, func(t *testing.T) {
			suite := 0
			if c.suite != "" {
				suite, _ = strconv.Atoi(c.suite)
			}
			_, err := readDataset(strings.NewReader(c.input), "in.jsonl", suite, c.shape)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// TestReadKeepsNewFields checks that fields a later mls bench may add are
// accepted, as its output contract allows.
func TestReadKeepsNewFields(t *testing.T) {
	l := strings.Replace(line("commit", 1000, "full", 1e6), `"op"`, `"alloc_bytes":12,"op"`, 1)
	d, err := readDataset(strings.NewReader(l), "in.jsonl", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if s := d.series["commit"]; len(s) != 1 || s[0].MedianNs != 1e6 {
		t.Errorf("series %+v", d.series)
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "growth.jsonl")
	if err := os.WriteFile(in, []byte(strings.Join(growthInput(), "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "growth.svg")
	if err := run([]string{"-o", out, in}, io.Discard); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	if err := run([]string{in}, &stdout); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(file, stdout.Bytes()) {
		t.Error("-o and standard output differ")
	}
	parseSVG(t, file)

	// Without references: no dashed curve.
	stdout.Reset()
	if err := run([]string{"--linear", "", "--log", "", in}, &stdout); err != nil {
		t.Fatal(err)
	}
	if refs := texts(parseSVG(t, stdout.Bytes()), "reference"); len(refs) != 0 {
		t.Errorf("%d references with both turned off", len(refs))
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--linear", "state", in}, `reference operation "state" is not a timed operation`},
		{[]string{in, in}, "want one input file, got 2"},
		{[]string{filepath.Join(dir, "absent.jsonl")}, "absent.jsonl"},
	} {
		err := run(c.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("run %q: error %v, want one containing %q", c.args, err, c.want)
		}
	}

	// A failed run leaves no output file behind.
	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(bad, []byte("{\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badOut := filepath.Join(dir, "bad.svg")
	if err := run([]string{"-o", badOut, bad}, io.Discard); err == nil || !strings.Contains(err.Error(), "bad.jsonl:1:") {
		t.Errorf("error %v, want one naming bad.jsonl:1", err)
	}
	if _, err := os.Stat(badOut); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("output file after a failure: %v", err)
	}
}

func TestFormatting(t *testing.T) {
	for e, want := range []string{"1 ns", "10 ns", "100 ns", "1 µs", "10 µs", "100 µs", "1 ms", "10 ms", "100 ms", "1 s", "10 s", "100 s", "1000 s", "1e4 s", "1e5 s"} {
		if got := durationLabel(e); got != want {
			t.Errorf("durationLabel(%d) = %q, want %q", e, got, want)
		}
	}
	for n, want := range map[int]string{1: "1", 999: "999", 1000: "1,000", 50000: "50,000", 100000: "100,000", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestOneNanosecond checks the least time mls bench can report: the
// axis starts at 1 ns, never below.
func TestOneNanosecond(t *testing.T) {
	root := parseSVG(t, renderLines(t, []string{line("protect", 1000, "full", 1), line("protect", 2000, "full", 5)}, 0, ""))
	yl := texts(root, "y-label")
	if len(yl) == 0 || yl[0].Text != "1 ns" {
		t.Errorf("y labels %+v, want the first at 1 ns", yl)
	}
	for _, m := range marks(t, root) {
		if m.at.y > plotBottom {
			t.Errorf("marker %+v below the plot area", m)
		}
	}
}

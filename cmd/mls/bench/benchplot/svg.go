package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Geometry of the picture, in SVG user units (pixels). The plot area is
// fixed; the canvas grows to the right to hold the legend.
const (
	plotLeft   = 80.0
	plotTop    = 70.0
	plotWidth  = 560.0
	plotHeight = 400.0
	plotRight  = plotLeft + plotWidth
	plotBottom = plotTop + plotHeight
	canvasH    = plotBottom + 60
	legendGap  = 24.0 // between the plot area and the legend
	legendRow  = 20.0
	fontSize   = 12.0
	// charWidth is a generous average advance of a sans-serif character
	// at fontSize, to keep labels apart without measuring fonts.
	charWidth = 0.62 * fontSize
)

// style is how one operation is drawn; the same operation keeps its
// style whatever else the input holds, so two plots compare at a glance.
type style struct {
	color  string
	marker string // circle, square, triangle or diamond
}

var styles = map[string]style{
	"join":       {"#0072b2", "circle"},
	"join-batch": {"#0072b2", "diamond"},
	"commit":     {"#d55e00", "square"},
	"process":    {"#009e73", "triangle"},
	"add":        {"#e69f00", "diamond"},
	"add1000":    {"#cc79a7", "circle"},
	"remove":     {"#56b4e9", "square"},
	"protect":    {"#000000", "triangle"},
	"unprotect":  {"#8c564b", "diamond"},
}

// reference is a dashed growth curve through an operation's first point:
// time(n) = time(n0) * grow(n) / grow(n0).
type reference struct {
	name, op string
	grow     func(n float64) float64
	dash     string
}

// options choose what to draw besides the data.
type options struct {
	linearOp, logOp string // anchor operations of the O(n) and O(log n) references; "" for none
}

// plot is the mapping from data to the picture: log10 of members and of
// nanoseconds, each over a domain, onto the plot area.
type plot struct {
	xLo, xHi, yLo, yHi float64 // log10 domains
}

func (p plot) x(members float64) float64 {
	return plotLeft + (math.Log10(members)-p.xLo)/(p.xHi-p.xLo)*plotWidth
}

func (p plot) y(ns float64) float64 {
	return plotBottom - (math.Log10(ns)-p.yLo)/(p.yHi-p.yLo)*plotHeight
}

// curve is a reference drawn over the group sizes from its anchor's to
// the largest.
type curve struct {
	ref    reference
	pts    [][2]float64 // members, ns
	anchor point
}

// render draws d as an SVG document. The output depends only on d and o:
// maps are walked in a fixed order and numbers printed with fixed
// precision, so the same input gives the same bytes.
func render(d *dataset, o options) ([]byte, error) {
	var ops []string // those with data, in mls bench's order
	for _, op := range timedOps {
		if len(d.series[op]) > 0 {
			ops = append(ops, op)
		}
	}
	var sizes []int
	minNs, maxNs := math.Inf(1), math.Inf(-1)
	for _, op := range ops {
		for _, pt := range d.series[op] {
			if !slices.Contains(sizes, pt.Members) {
				sizes = append(sizes, pt.Members)
			}
			minNs = math.Min(minNs, float64(pt.MedianNs))
			maxNs = math.Max(maxNs, float64(pt.MedianNs))
		}
	}
	if len(sizes) == 0 {
		return nil, errors.New("nothing to plot")
	}
	slices.Sort(sizes)
	nLo, nHi := float64(sizes[0]), float64(sizes[len(sizes)-1])

	refs := []reference{
		{"O(n)", o.linearOp, func(n float64) float64 { return n }, "9 5"},
		{"O(log n)", o.logOp, math.Log2, "3 4"},
	}
	var curves []curve
	for _, ref := range refs {
		s := d.series[ref.op]
		if ref.op == "" || len(s) == 0 {
			continue
		}
		a := s[0]
		n0 := float64(a.Members)
		if n0 >= nHi || ref.grow(n0) <= 0 {
			// Nothing to extend to, or log n is 0 at one member.
			continue
		}
		c := curve{ref: ref, anchor: a}
		const steps = 48
		for i := 0; i <= steps; i++ {
			n := n0 * math.Pow(nHi/n0, float64(i)/steps)
			ns := float64(a.MedianNs) * ref.grow(n) / ref.grow(n0)
			c.pts = append(c.pts, [2]float64{n, ns})
			minNs = math.Min(minNs, ns)
			maxNs = math.Max(maxNs, ns)
		}
		curves = append(curves, c)
	}

	// x: the sizes measured, with a margin so markers clear the axes.
	p := plot{xLo: math.Log10(nLo), xHi: math.Log10(nHi)}
	if pad := (p.xHi - p.xLo) * 0.06; pad > 0 {
		p.xLo, p.xHi = p.xLo-pad, p.xHi+pad
	} else {
		p.xLo, p.xHi = p.xLo-0.5, p.xHi+0.5
	}
	// y: whole decades around every value drawn, so each end has a label,
	// and a tenth of a decade at least between a value and the frame
	// (none below 1 ns, the least time mls bench can report).
	p.yLo = max(0, math.Floor(math.Log10(minNs)-0.1))
	p.yHi = math.Ceil(math.Log10(maxNs) + 0.1)

	var b bytes.Buffer
	legendW := legendWidth(ops, curves)
	width := plotRight + legendGap + legendW + 16
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="%s">
`, num(width), num(canvasH), num(width), num(canvasH), num(fontSize))
	b.WriteString(`<rect width="100%" height="100%" fill="#ffffff"/>
`)

	// Title: what is measured, on what.
	runs := runsText(d, ops)
	fmt.Fprintf(&b, `<text class="title" x="%s" y="28" font-size="16" font-weight="bold">%s</text>
`, num(plotLeft), esc("Arbor: median time of mls bench operations by group size"))
	fmt.Fprintf(&b, `<text class="subtitle" x="%s" y="48" fill="#444444">%s</text>
`, num(plotLeft), esc(fmt.Sprintf("cipher suite %d, %s tree, %s; both axes logarithmic", d.suite, d.shape, runs)))

	// Horizontal grid and y labels: a labelled line per decade, light
	// lines at 2..9 times it.
	px := plotHeight / (p.yHi - p.yLo) // per decade
	yStep := max(1, int(math.Ceil(2*fontSize/px)))
	minor := px >= 40 // else eight light lines per decade blur together
	b.WriteString("<g class=\"y-grid\">\n")
	for e := int(p.yLo); e <= int(p.yHi); e++ {
		for m := 1; m <= 9; m++ {
			ns := float64(m) * math.Pow(10, float64(e))
			if math.Log10(ns) > p.yHi+1e-9 {
				break
			}
			y := num(p.y(ns))
			if m == 1 {
				fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#cccccc"/>
`, num(plotLeft), y, num(plotRight), y)
				if (e-int(p.yLo))%yStep == 0 {
					fmt.Fprintf(&b, `<text class="y-label" x="%s" y="%s" text-anchor="end" dominant-baseline="middle">%s</text>
`, num(plotLeft-8), y, esc(durationLabel(e)))
				}
			} else if minor {
				fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#eeeeee"/>
`, num(plotLeft), y, num(plotRight), y)
			}
		}
	}
	b.WriteString("</g>\n")

	// Vertical grid and x labels at the sizes measured, dropping a label
	// that would run into the previous one.
	b.WriteString("<g class=\"x-grid\">\n")
	lastRight := math.Inf(-1)
	for _, n := range sizes {
		x := p.x(float64(n))
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#cccccc"/>
`, num(x), num(plotTop), num(x), num(plotBottom))
		label := thousands(n)
		half := float64(len(label)) * charWidth / 2
		if x-half < lastRight+8 {
			continue
		}
		lastRight = x + half
		fmt.Fprintf(&b, `<text class="x-label" x="%s" y="%s" text-anchor="middle">%s</text>
`, num(x), num(plotBottom+18), esc(label))
	}
	b.WriteString("</g>\n")

	// Frame and axis titles.
	fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="none" stroke="#555555"/>
`, num(plotLeft), num(plotTop), num(plotWidth), num(plotHeight))
	fmt.Fprintf(&b, `<text class="x-title" x="%s" y="%s" text-anchor="middle">%s</text>
`, num(plotLeft+plotWidth/2), num(plotBottom+44), esc("group size (members)"))
	fmt.Fprintf(&b, `<text class="y-title" x="%s" y="%s" text-anchor="middle" transform="rotate(-90 %s %s)">%s</text>
`, num(18), num(plotTop+plotHeight/2), num(18), num(plotTop+plotHeight/2), esc("median time"))

	// One line per operation; a missing size is skipped, the line joining
	// the sizes that were measured.
	for _, op := range ops {
		s := d.series[op]
		if len(s) < 2 {
			continue
		}
		var pts []string
		for _, pt := range s {
			pts = append(pts, num(p.x(float64(pt.Members)))+","+num(p.y(float64(pt.MedianNs))))
		}
		fmt.Fprintf(&b, `<polyline class="series" data-op="%s" points="%s" fill="none" stroke="%s" stroke-width="2"/>
`, esc(op), strings.Join(pts, " "), styles[op].color)
	}

	// References over the lines, so one that an operation follows stays
	// visible on it, and under the markers, so they never hide one.
	for _, c := range curves {
		var pts []string
		for _, q := range c.pts {
			pts = append(pts, num(p.x(q[0]))+","+num(p.y(q[1])))
		}
		fmt.Fprintf(&b, `<polyline class="reference" data-name="%s" data-op="%s" points="%s" fill="none" stroke="#555555" stroke-width="1.5" stroke-dasharray="%s"/>
`, esc(c.ref.name), esc(c.ref.op), strings.Join(pts, " "), c.ref.dash)
	}

	// Markers, each with its figures as a tooltip.
	for _, op := range ops {
		for _, pt := range d.series[op] {
			tip := fmt.Sprintf("%s, %s members: %s (min %s, max %s, %d runs)", op, thousands(pt.Members),
				duration(float64(pt.MedianNs)), duration(float64(pt.MinNs)), duration(float64(pt.MaxNs)), pt.Runs)
			fmt.Fprintf(&b, `<g class="point" data-op="%s" data-members="%d" data-median-ns="%d" transform="translate(%s,%s)"><title>%s</title>%s</g>
`, esc(op), pt.Members, pt.MedianNs, num(p.x(float64(pt.Members))), num(p.y(float64(pt.MedianNs))), esc(tip), marker(styles[op]))
		}
	}

	// Legend, right of the plot.
	lx := plotRight + legendGap
	ly := plotTop + 8
	b.WriteString("<g class=\"legend\">\n")
	for _, op := range ops {
		st := styles[op]
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"/><g transform="translate(%s,%s)">%s</g><text x="%s" y="%s" dominant-baseline="middle">%s</text>
`, num(lx), num(ly), num(lx+28), num(ly), st.color, num(lx+14), num(ly), marker(st), num(lx+36), num(ly), esc(op))
		ly += legendRow
	}
	if len(curves) > 0 {
		ly += legendRow / 2
	}
	for _, c := range curves {
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#555555" stroke-width="1.5" stroke-dasharray="%s"/><text x="%s" y="%s" dominant-baseline="middle">%s</text>
`, num(lx), num(ly), num(lx+28), num(ly), c.ref.dash, num(lx+36), num(ly), esc(c.ref.name))
		ly += legendRow * 0.8
		fmt.Fprintf(&b, `<text x="%s" y="%s" dominant-baseline="middle" fill="#444444" font-size="%s">%s</text>
`, num(lx+36), num(ly), num(fontSize-1), esc(refNote(c)))
		ly += legendRow
	}
	b.WriteString("</g>\n</svg>\n")
	return b.Bytes(), nil
}

// refNote says where a reference curve is anchored.
func refNote(c curve) string {
	return fmt.Sprintf("from %s at %s", c.ref.op, thousands(c.anchor.Members))
}

// legendWidth is the width the legend's longest entry needs.
func legendWidth(ops []string, curves []curve) float64 {
	longest := 0
	for _, op := range ops {
		longest = max(longest, len([]rune(op)))
	}
	for _, c := range curves {
		longest = max(longest, len([]rune(c.ref.name)), len([]rune(refNote(c))))
	}
	return 36 + float64(longest)*charWidth
}

// marker draws a marker of st centred on the origin.
func marker(st style) string {
	const attrs = `stroke="#ffffff" stroke-width="0.8"`
	switch st.marker {
	case "square":
		return fmt.Sprintf(`<rect x="-4" y="-4" width="8" height="8" fill="%s" %s/>`, st.color, attrs)
	case "triangle":
		return fmt.Sprintf(`<path d="M0,-5.5L5,3.5L-5,3.5Z" fill="%s" %s/>`, st.color, attrs)
	case "diamond":
		return fmt.Sprintf(`<path d="M0,-5.5L5.5,0L0,5.5L-5.5,0Z" fill="%s" %s/>`, st.color, attrs)
	}
	return fmt.Sprintf(`<circle r="4.5" fill="%s" %s/>`, st.color, attrs)
}

// runsText says how many runs each point is the median of.
func runsText(d *dataset, ops []string) string {
	lo, hi := math.MaxInt, 0
	for _, op := range ops {
		for _, pt := range d.series[op] {
			lo, hi = min(lo, pt.Runs), max(hi, pt.Runs)
		}
	}
	switch {
	case lo == hi && lo == 1:
		return "1 run per point"
	case lo == hi:
		return fmt.Sprintf("median of %d runs per point", lo)
	}
	return fmt.Sprintf("median of %d to %d runs per point", lo, hi)
}

// durationLabel names 10^e nanoseconds (e >= 0) in the unit that reads
// best: 1 µs, 10 µs, 100 µs, 1 ms, ..., 1 s, 10 s, ..., 1000 s, 1e4 s.
func durationLabel(e int) string {
	units := []string{"ns", "µs", "ms"}
	if e >= 13 {
		// Beyond 1000 s only a broken run goes; keep its label short.
		return fmt.Sprintf("1e%d s", e-9)
	}
	if e >= 9 {
		return strconv.FormatFloat(math.Pow(10, float64(e-9)), 'f', -1, 64) + " s"
	}
	return strconv.FormatFloat(math.Pow(10, float64(e%3)), 'f', -1, 64) + " " + units[e/3]
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

// thousands writes n with commas between groups of three digits.
func thousands(n int) string {
	s := strconv.Itoa(n)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// num prints a coordinate with one decimal, enough at this scale and
// stable across runs.
func num(v float64) string {
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// esc escapes text for XML character data and attribute values.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder does not fail
	return b.String()
}

// Command peer-table writes the README's table of live interop with other
// implementations from the results of TestPeers (interop/peer_test.go).
//
// Usage: peer-table -results FILE -peers peers.json -readme README.md
//
// FILE holds one JSON line per case played (peer, scenario, suite, wire
// format, role, result, RFC section, reason). The table goes between the
// lines <!-- peer-interop:begin --> and <!-- peer-interop:end --> of the
// README, replacing what was there: one table per peer, a row per scenario
// and a column per suite, then the deviations of the peer that the run
// met, with the RFC 9420 section each breaks, and the reasons of the cases
// the peer could not express.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
)

const (
	beginMarker = "<!-- peer-interop:begin -->"
	endMarker   = "<!-- peer-interop:end -->"
)

type result struct {
	Peer     string `json:"peer"`
	Scenario string `json:"scenario"`
	Suite    uint32 `json:"suite"`
	Wire     string `json:"wire"`
	Role     string `json:"role"`
	Result   string `json:"result"`
	RFC      string `json:"rfc"`
	Reason   string `json:"reason"`
}

type peer struct {
	Name       string `json:"name"`
	Deviations []struct {
		RFC  string `json:"rfc"`
		Note string `json:"note"`
	} `json:"deviations"`
}

func main() {
	resultsPath := flag.String("results", "", "results file (JSON lines) of TestPeers")
	peersPath := flag.String("peers", "", "the peers file (interop/peers/peers.json)")
	readmePath := flag.String("readme", "", "the README to update")
	flag.Parse()
	if *resultsPath == "" || *peersPath == "" || *readmePath == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*resultsPath, *peersPath, *readmePath); err != nil {
		fmt.Fprintln(os.Stderr, "peer-table:", err)
		os.Exit(1)
	}
}

func run(resultsPath, peersPath, readmePath string) error {
	rf, err := os.Open(resultsPath)
	if err != nil {
		return err
	}
	defer rf.Close()
	results, err := readResults(rf)
	if err != nil {
		return fmt.Errorf("%s: %w", resultsPath, err)
	}
	pdata, err := os.ReadFile(peersPath)
	if err != nil {
		return err
	}
	var peers []peer
	if err := json.Unmarshal(pdata, &peers); err != nil {
		return fmt.Errorf("%s: %w", peersPath, err)
	}
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		return err
	}
	out, err := replace(readme, render(results, peers))
	if err != nil {
		return fmt.Errorf("%s: %w", readmePath, err)
	}
	return os.WriteFile(readmePath, out, 0o644)
}

func readResults(r io.Reader) ([]result, error) {
	var out []result
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var res result
		if err := json.Unmarshal(sc.Bytes(), &res); err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	return out, sc.Err()
}

// replace puts table between the markers of readme.
func replace(readme []byte, table string) ([]byte, error) {
	i := bytes.Index(readme, []byte(beginMarker))
	j := bytes.Index(readme, []byte(endMarker))
	if i < 0 || j < i {
		return nil, errors.New("no " + beginMarker + " ... " + endMarker + " section")
	}
	var b bytes.Buffer
	b.Write(readme[:i+len(beginMarker)])
	b.WriteString("\n" + table)
	b.Write(readme[j:])
	return b.Bytes(), nil
}

// cell counts the cases of one (peer, scenario, suite).
type cell struct {
	pass, fail, unsupported int
	rfcs                    []string
}

func (c cell) String() string {
	var parts []string
	if c.pass > 0 {
		parts = append(parts, fmt.Sprintf("%d ✓", c.pass))
	}
	if c.fail > 0 {
		parts = append(parts, fmt.Sprintf("%d ✗ %s", c.fail, strings.Join(c.rfcs, ", ")))
	}
	if c.unsupported > 0 {
		parts = append(parts, fmt.Sprintf("%d U", c.unsupported))
	}
	return strings.Join(parts, ", ")
}

func render(results []result, peers []peer) string {
	var b strings.Builder
	b.WriteString("Each cell counts the cases played (handshakes as PrivateMessage and as PublicMessage, Arbor or the peer\n" +
		"taking the first actor): ✓ passed, ✗ failed (with the RFC 9420 section the peer breaks, explained below the\n" +
		"table), U the peer's API cannot express a step. An empty cell was not played in this run.\n\n")
	for _, p := range peers {
		var mine []result
		for _, r := range results {
			if r.Peer == p.Name {
				mine = append(mine, r)
			}
		}
		if len(mine) == 0 {
			continue
		}
		var suites []uint32
		var scenarios []string
		cells := map[string]map[uint32]*cell{}
		met := map[string]bool{}
		unsupported := map[string]bool{}
		failures := 0
		for _, r := range mine {
			if !slices.Contains(suites, r.Suite) {
				suites = append(suites, r.Suite)
			}
			if cells[r.Scenario] == nil {
				scenarios = append(scenarios, r.Scenario)
				cells[r.Scenario] = map[uint32]*cell{}
			}
			c := cells[r.Scenario][r.Suite]
			if c == nil {
				c = &cell{}
				cells[r.Scenario][r.Suite] = c
			}
			switch r.Result {
			case "pass":
				c.pass++
			case "unsupported":
				c.unsupported++
				unsupported[unimplementedReason(r.Reason)] = true
			default:
				c.fail++
				rfc := r.RFC
				if rfc == "" {
					rfc = "unexplained"
					failures++
				}
				if !slices.Contains(c.rfcs, rfc) {
					c.rfcs = append(c.rfcs, rfc)
					slices.Sort(c.rfcs)
				}
				met[r.RFC] = true
			}
		}
		slices.Sort(suites)
		slices.Sort(scenarios)
		fmt.Fprintf(&b, "#### %s\n\n| scenario |", p.Name)
		for _, s := range suites {
			fmt.Fprintf(&b, " %s |", suiteName(s))
		}
		b.WriteString("\n|---|" + strings.Repeat("---|", len(suites)) + "\n")
		for _, sc := range scenarios {
			fmt.Fprintf(&b, "| %s |", sc)
			for _, s := range suites {
				if c := cells[sc][s]; c != nil {
					fmt.Fprintf(&b, " %s |", c)
				} else {
					b.WriteString("  |")
				}
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
		if failures > 0 {
			fmt.Fprintf(&b, "**%d failures not explained by a documented deviation of the peer.**\n\n", failures)
		}
		for _, d := range p.Deviations {
			if met[d.RFC] {
				fmt.Fprintf(&b, "- ✗ %s, RFC 9420 section %s: %s\n", p.Name, d.RFC, d.Note)
			}
		}
		for _, u := range slices.Sorted(maps.Keys(unsupported)) {
			fmt.Fprintf(&b, "- U %s\n", u)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// unimplementedReason is the peer's message in a gRPC UNIMPLEMENTED error.
func unimplementedReason(s string) string {
	if i := strings.Index(s, "desc = "); i >= 0 {
		return s[i+len("desc = "):]
	}
	return s
}

func suiteName(s uint32) string {
	if s >= 0x100 {
		return fmt.Sprintf("0x%04X", s)
	}
	return fmt.Sprint(s)
}

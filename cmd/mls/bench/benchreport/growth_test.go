package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGrowthTable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "growth.jsonl")
	lines := `{"op":"commit","suite":1,"members":1000,"shape":"full","runs":3,"median_ns":1000000,"min_ns":1,"max_ns":2,"bytes":100}
{"op":"commit","suite":1,"members":50000,"shape":"full","runs":3,"median_ns":1500000,"min_ns":1,"max_ns":2,"bytes":200}
{"op":"state","suite":1,"members":1000,"shape":"full","runs":0,"median_ns":0,"min_ns":0,"max_ns":0,"bytes":264000}
`
	if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := growth(file, &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"| op | 1000 (full) | 50000 (full) |",
		"| commit | " + duration(1e6) + " | " + duration(1.5e6) + " |",
		"| state | 264000 | " + none + " |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("growth table lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "| join |") {
		t.Errorf("row for an operation without results:\n%s", got)
	}
}

func TestTargetReport(t *testing.T) {
	file := filepath.Join(t.TempDir(), "targets.jsonl")
	lines := `{"op":"join","suite":1,"members":50000,"shape":"full","runs":3,"median_ns":2000000000,"min_ns":1,"max_ns":2,"bytes":344}
{"op":"commit","suite":1,"members":50000,"shape":"full","runs":3,"median_ns":3000000,"min_ns":1,"max_ns":2,"bytes":2254}
{"op":"protect","suite":1,"members":50000,"shape":"full","runs":50,"median_ns":40000,"min_ns":1,"max_ns":2,"bytes":1198}
{"op":"unprotect","suite":1,"members":50000,"shape":"full","runs":50,"median_ns":70000,"min_ns":1,"max_ns":2,"bytes":0}
{"op":"state","suite":1,"members":50000,"shape":"full","runs":0,"median_ns":0,"min_ns":0,"max_ns":0,"bytes":13200000}
`
	if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := targetReport(file, &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"| join (Welcome, tree out of band, full validation) | " + duration(2e9) + " | " + duration(1e9) + " | **no** |",
		"| commit (empty, with path) | " + duration(3e6) + " | " + duration(5e6) + " | yes |",
		"| protect + unprotect a 1 KiB message | " + duration(110e3) + " | " + duration(100e3) + " | **no** |",
		"| serialized state of one member, per member | 264 B | 2 KiB | yes |",
		"DESIGN.md", // no primitives in the file: DESIGN.md's costs
	} {
		if !strings.Contains(got, want) {
			t.Errorf("targets table lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "add 1,000") {
		t.Errorf("row for a target without results:\n%s", got)
	}
}

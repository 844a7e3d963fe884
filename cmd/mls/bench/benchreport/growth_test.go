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

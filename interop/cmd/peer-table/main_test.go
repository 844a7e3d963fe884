package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	results := `{"peer":"p","scenario":"b_join","suite":1,"wire":"private","role":"arbor-first","result":"pass"}
{"peer":"p","scenario":"b_join","suite":1,"wire":"public","role":"peer-first","result":"fail","rfc":"5.1.1","reason":"bad key"}
{"peer":"p","scenario":"a_update","suite":61447,"wire":"public","role":"peer-first","result":"unsupported","reason":"step 2 (updateProposal): rpc error: code = Unimplemented desc = p: no Update"}
{"peer":"q","scenario":"b_join","suite":2,"wire":"public","role":"peer-first","result":"fail","reason":"boom"}
`
	peers := `[{"name":"p","deviations":[{"rfc":"5.1.1","note":"compressed keys"},{"rfc":"7.6","note":"not met"}]},{"name":"q"}]`
	readme := "intro\n<!-- peer-interop:begin -->\nold table\n<!-- peer-interop:end -->\nafter\n"
	for name, data := range map[string]string{"r.jsonl": results, "peers.json": peers, "README.md": readme} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := run(filepath.Join(dir, "r.jsonl"), filepath.Join(dir, "peers.json"), filepath.Join(dir, "README.md")); err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	for _, want := range []string{
		"intro\n<!-- peer-interop:begin -->\n",
		"<!-- peer-interop:end -->\nafter\n",
		"| scenario | 1 | 0xF007 |",
		"| a_update |  | 1 U |",
		"| b_join | 1 ✓, 1 ✗ 5.1.1 |  |",
		"- ✗ p, RFC 9420 section 5.1.1: compressed keys",
		"- U p: no Update",
		"#### q",
		"| b_join | 1 ✗ unexplained |",
		"**1 failures not explained",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	for _, bad := range []string{"old table", "not met"} {
		if strings.Contains(got, bad) {
			t.Errorf("%q still in:\n%s", bad, got)
		}
	}
	if err := run(filepath.Join(dir, "r.jsonl"), filepath.Join(dir, "peers.json"), filepath.Join(dir, "r.jsonl")); err == nil {
		t.Error("a README without markers was accepted")
	}
}

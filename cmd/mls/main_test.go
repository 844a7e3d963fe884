package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/dirstore"
)

// mlsBin is the mls binary, built once for all tests.
var mlsBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mls-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mlsBin = filepath.Join(dir, "mls")
	if out, err := exec.Command("go", "build", "-o", mlsBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building mls: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run runs mls with args and env added to the environment.
func run(env []string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(mlsBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// ok runs mls, which must succeed, and returns its standard output.
func ok(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := run(nil, args...)
	if err != nil {
		t.Fatalf("mls %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// okJSON runs mls and decodes its JSON report into v.
func okJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out := ok(t, args...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("mls %s: report is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// fails runs mls, which must fail with a non-zero status and one error line
// on standard error containing want, and nothing on standard output.
func fails(t *testing.T, want string, args ...string) {
	t.Helper()
	out, errOut, err := run(nil, args...)
	if err == nil {
		t.Fatalf("mls %s succeeded, want error %q\n%s", strings.Join(args, " "), want, out)
	}
	if ee, isExit := err.(*exec.ExitError); !isExit || ee.ExitCode() == 0 {
		t.Fatalf("mls %s: %v, want a non-zero exit", strings.Join(args, " "), err)
	}
	if strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "mls: ") || strings.HasPrefix(errOut, "mls: mls: ") {
		t.Errorf("mls %s: error is not one line starting \"mls: \": %q", strings.Join(args, " "), errOut)
	}
	if !strings.Contains(errOut, want) {
		t.Errorf("mls %s: error %q does not contain %q", strings.Join(args, " "), errOut, want)
	}
	if out != "" {
		t.Errorf("mls %s: failed but printed %q", strings.Join(args, " "), out)
	}
}

type groupRep struct {
	GroupID string `json:"group_id"`
	Epoch   uint64 `json:"epoch"`
	OwnLeaf uint32 `json:"own_leaf"`
}

type memberRep struct {
	Leaf     uint32 `json:"leaf"`
	Identity string `json:"identity"`
}

type changeRep struct {
	Epoch       uint64      `json:"epoch"`
	Committer   uint32      `json:"committer"`
	Added       []memberRep `json:"added"`
	Removed     []memberRep `json:"removed"`
	RemovedSelf bool        `json:"removed_self"`
	PSKs        []string    `json:"psks"`
}

type processRep struct {
	Kind           string     `json:"kind"`
	Sender         string     `json:"sender"`
	Epoch          uint64     `json:"epoch"`
	SenderLeaf     *uint32    `json:"sender_leaf"`
	SenderIdentity string     `json:"sender_identity"`
	ProposalType   string     `json:"proposal_type"`
	NewEpoch       *changeRep `json:"new_epoch"`
}

type infoRep struct {
	GroupID            string      `json:"group_id"`
	Epoch              uint64      `json:"epoch"`
	CipherSuite        uint16      `json:"cipher_suite"`
	OwnLeaf            uint32      `json:"own_leaf"`
	Members            []memberRep `json:"members"`
	EpochAuthenticator string      `json:"epoch_authenticator"`
	TreeHash           string      `json:"tree_hash"`
	Active             bool        `json:"active"`
}

// world is a folder with one state folder per client and the files they
// exchange.
type world struct {
	t   *testing.T
	dir string
}

// newWorld makes a client of each name; a name ending in "*" (which is
// not part of the name) sends its handshake messages as PublicMessages.
func newWorld(t *testing.T, names ...string) *world {
	w := &world{t, t.TempDir()}
	for _, n := range names {
		var rep map[string]string
		n, public := strings.CutSuffix(n, "*")
		args := []string{"init", "--state", w.state(n), "--identity", n}
		if public {
			args = append(args, "--public-handshake")
		}
		okJSON(t, &rep, args...)
		if rep["identity"] != n {
			t.Fatalf("init reported %v", rep)
		}
	}
	return w
}

func (w *world) state(name string) string { return filepath.Join(w.dir, name) }
func (w *world) file(name string) string  { return filepath.Join(w.dir, name+".bin") }

func (w *world) info(name, group string) infoRep {
	var r infoRep
	okJSON(w.t, &r, "group", "info", "--state", w.state(name), "--group", group)
	return r
}

func (w *world) process(name, group, file string) processRep {
	var r processRep
	okJSON(w.t, &r, "group", "process", "--state", w.state(name), "--group", group, "--in", w.file(file))
	return r
}

func (w *world) keyPackage(name string, extra ...string) {
	ok(w.t, append([]string{"keypackage", "--state", w.state(name), "--out", w.file(name + "-kp")}, extra...)...)
}

func (w *world) send(name, group, text, file string) {
	ok(w.t, "send", "--state", w.state(name), "--group", group, "--text", text, "--out", w.file(file))
}

func (w *world) recv(name, group, file, want string) {
	w.t.Helper()
	if got := ok(w.t, "recv", "--state", w.state(name), "--group", group, "--in", w.file(file)); got != want {
		w.t.Errorf("%s received %q, want %q", name, got, want)
	}
}

// agree checks that the clients see the same epoch, members, epoch
// authenticator and tree hash, and returns the report of the first.
func (w *world) agree(group string, names ...string) infoRep {
	w.t.Helper()
	first := w.info(names[0], group)
	for _, n := range names[1:] {
		r := w.info(n, group)
		if r.Epoch != first.Epoch || r.EpochAuthenticator != first.EpochAuthenticator ||
			r.TreeHash != first.TreeHash || fmt.Sprint(r.Members) != fmt.Sprint(first.Members) {
			w.t.Fatalf("%s and %s disagree:\n%+v\n%+v", names[0], n, first, r)
		}
	}
	return first
}

func identities(ms []memberRep) string {
	var s []string
	for _, m := range ms {
		s = append(s, fmt.Sprintf("%d:%s", m.Leaf, m.Identity))
	}
	return strings.Join(s, " ")
}

// TestScenario drives every command through a group's life: alice creates,
// adds bob and carol, they join; messages both ways; proposals, an update,
// a PSK, a remove; a member added with the tree out of band; an external
// join; exports; inspect of every object.
func TestScenario(t *testing.T) {
	w := newWorld(t, "alice", "bob*", "carol", "dave", "erin")
	const gid = "a11ce00000000001"
	var created groupRep
	okJSON(t, &created, "group", "create", "--state", w.state("alice"), "--group-id", gid)
	if created.GroupID != gid || created.Epoch != 0 {
		t.Fatalf("create reported %+v", created)
	}
	w.keyPackage("bob")
	w.keyPackage("carol", "--suite", "1")

	var added changeRep
	okJSON(t, &added, "group", "add", "--state", w.state("alice"), "--group", gid,
		"--key-package", w.file("bob-kp"), "--key-package", w.file("carol-kp"),
		"--commit-out", w.file("c1"), "--welcome-out", w.file("welcome1"))
	if added.Epoch != 1 || identities(added.Added) != "1:bob 2:carol" {
		t.Fatalf("add reported %+v", added)
	}
	for i, n := range []string{"bob", "carol"} {
		var j groupRep
		okJSON(t, &j, "group", "join", "--state", w.state(n), "--welcome", w.file("welcome1"))
		if j.GroupID != gid || j.Epoch != 1 || j.OwnLeaf != uint32(i+1) {
			t.Fatalf("%s joined %+v", n, j)
		}
	}
	// The KeyPackage was used up: the Welcome cannot be used again.
	fails(t, "none of this client's KeyPackages", "group", "join", "--state", w.state("bob"), "--welcome", w.file("welcome1"))
	info := w.agree(gid, "alice", "bob", "carol")
	if identities(info.Members) != "0:alice 1:bob 2:carol" || info.CipherSuite != 1 || !info.Active {
		t.Fatalf("info %+v", info)
	}

	// Messages both ways.
	w.send("alice", gid, "hello from alice", "m1")
	w.recv("bob", gid, "m1", "hello from alice")
	w.recv("carol", gid, "m1", "hello from alice")
	msgFile := filepath.Join(w.dir, "msg.txt")
	if err := os.WriteFile(msgFile, []byte("bytes\x00from bob"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok(t, "send", "--state", w.state("bob"), "--group", gid, "--in", msgFile, "--out", w.file("m2"))
	w.recv("alice", gid, "m2", "bytes\x00from bob")
	w.recv("carol", gid, "m2", "bytes\x00from bob")
	// A replayed message is refused, and the refusal leaves the state usable.
	fails(t, "", "recv", "--state", w.state("alice"), "--group", gid, "--in", w.file("m2"))

	// Bob commits an update, as a PublicMessage; the others process it.
	var upd changeRep
	okJSON(t, &upd, "group", "commit", "--state", w.state("bob"), "--group", gid, "--update", "--commit-out", w.file("c2"))
	if upd.Epoch != 2 || upd.Committer != 1 {
		t.Fatalf("update reported %+v", upd)
	}
	for _, n := range []string{"alice", "carol"} {
		r := w.process(n, gid, "c2")
		if r.Kind != "commit" || r.NewEpoch == nil || r.NewEpoch.Epoch != 2 || r.SenderLeaf == nil || *r.SenderLeaf != 1 || r.SenderIdentity != "bob" {
			t.Fatalf("%s processed %+v", n, r)
		}
	}
	before := info
	info = w.agree(gid, "alice", "bob", "carol")
	if info.Epoch != 2 || info.TreeHash == before.TreeHash || info.EpochAuthenticator == before.EpochAuthenticator {
		t.Fatalf("after update: %+v", info)
	}
	// A commit of a past epoch is refused.
	fails(t, "epoch", "group", "process", "--state", w.state("alice"), "--group", gid, "--in", w.file("c2"))
	fails(t, "epoch", "group", "process", "--state", w.state("carol"), "--group", gid, "--in", w.file("c1"))

	// An external PSK that every member holds.
	for _, n := range []string{"alice", "bob", "carol"} {
		ok(t, "psk", "--state", w.state(n), "--id", "70736b31", "--secret", "000102030405060708090a0b0c0d0e0f")
	}
	var withPSK changeRep
	okJSON(t, &withPSK, "group", "commit", "--state", w.state("alice"), "--group", gid, "--psk", "70736b31", "--commit-out", w.file("c3"))
	if withPSK.Epoch != 3 || fmt.Sprint(withPSK.PSKs) != "[70736b31]" {
		t.Fatalf("PSK commit reported %+v", withPSK)
	}
	w.process("bob", gid, "c3")
	w.process("carol", gid, "c3")
	w.agree(gid, "alice", "bob", "carol")

	// Exports agree, and differ by label.
	export := func(name, label string) string {
		var r map[string]string
		okJSON(t, &r, "group", "export", "--state", w.state(name), "--group", gid, "--label", label, "--context", "0102", "--length", "32")
		if len(r["exported_secret"]) != 64 {
			t.Fatalf("export %v", r)
		}
		return r["exported_secret"]
	}
	e := export("alice", "test")
	if export("bob", "test") != e || export("carol", "test") != e || export("alice", "other") == e {
		t.Fatal("exports disagree")
	}

	// Carol proposes to remove bob; alice commits the proposal.
	ok(t, "group", "propose", "--state", w.state("carol"), "--group", gid, "--remove", "1", "--out", w.file("p1"))
	// recv takes application messages only, and leaves the state unchanged.
	fails(t, "not an application message", "recv", "--state", w.state("bob"), "--group", gid, "--in", w.file("p1"))
	for _, n := range []string{"alice", "bob"} {
		if r := w.process(n, gid, "p1"); r.Kind != "proposal" || r.ProposalType != "remove" {
			t.Fatalf("%s processed %+v", n, r)
		}
	}
	var rm changeRep
	okJSON(t, &rm, "group", "commit", "--state", w.state("alice"), "--group", gid, "--commit-out", w.file("c4"))
	if rm.Epoch != 4 || identities(rm.Removed) != "1:bob" {
		t.Fatalf("remove reported %+v", rm)
	}
	if r := w.process("bob", gid, "c4"); !r.NewEpoch.RemovedSelf {
		t.Fatalf("bob processed %+v", r)
	}
	if bob := w.info("bob", gid); bob.Active {
		t.Fatalf("bob still active: %+v", bob)
	}
	fails(t, "", "send", "--state", w.state("bob"), "--group", gid, "--text", "x", "--out", w.file("x"))
	w.process("carol", gid, "c4")
	info = w.agree(gid, "alice", "carol")
	if identities(info.Members) != "0:alice 2:carol" {
		t.Fatalf("members %+v", info.Members)
	}

	// Dave joins with the tree out of band; without it the join fails.
	w.keyPackage("dave", "--last-resort")
	ok(t, "group", "add", "--state", w.state("alice"), "--group", gid, "--key-package", w.file("dave-kp"),
		"--commit-out", w.file("c5"), "--welcome-out", w.file("welcome2"), "--tree-out", w.file("tree5"))
	w.process("carol", gid, "c5")
	fails(t, "tree", "group", "join", "--state", w.state("dave"), "--welcome", w.file("welcome2"))
	var dj groupRep
	okJSON(t, &dj, "group", "join", "--state", w.state("dave"), "--welcome", w.file("welcome2"), "--tree", w.file("tree5"))
	if dj.Epoch != 5 || dj.OwnLeaf != 1 {
		t.Fatalf("dave joined %+v", dj)
	}
	info = w.agree(gid, "alice", "carol", "dave")
	w.send("dave", gid, "hi, I am dave", "m3")
	w.recv("alice", gid, "m3", "hi, I am dave")
	w.recv("carol", gid, "m3", "hi, I am dave")

	// Erin joins by external commit, from a GroupInfo whose tree travels
	// apart.
	ok(t, "group", "info", "--state", w.state("carol"), "--group", gid, "--out", w.file("gi-bare"), "--tree-out", w.file("tree6"))
	fails(t, "no ratchet tree", "group", "external-join", "--state", w.state("erin"), "--group-info", w.file("gi-bare"), "--commit-out", w.file("c6"))
	var ej groupRep
	okJSON(t, &ej, "group", "external-join", "--state", w.state("erin"), "--group-info", w.file("gi-bare"), "--tree", w.file("tree6"), "--commit-out", w.file("c6"))
	if ej.GroupID != gid || ej.Epoch != 6 || ej.OwnLeaf != 3 {
		t.Fatalf("external join %+v", ej)
	}
	for _, n := range []string{"alice", "carol", "dave"} {
		r := w.process(n, gid, "c6")
		if r.NewEpoch == nil || identities(r.NewEpoch.Added) != "3:erin" || r.Sender != "new_member_commit" {
			t.Fatalf("%s processed %+v", n, r)
		}
	}
	w.agree(gid, "alice", "carol", "dave", "erin")
	w.send("erin", gid, "hello from outside", "m4")
	w.recv("alice", gid, "m4", "hello from outside")
	w.recv("dave", gid, "m4", "hello from outside")
	// A GroupInfo with the tree inline, for inspect.
	ok(t, "group", "info", "--state", w.state("erin"), "--group", gid, "--out", w.file("gi"))

	// Dave is removed. His last-resort KeyPackage still opens the old
	// Welcome, but joining from it would wind his group back: refused.
	ok(t, "group", "commit", "--state", w.state("alice"), "--group", gid, "--remove", "1", "--commit-out", w.file("c7"))
	if r := w.process("dave", gid, "c7"); !r.NewEpoch.RemovedSelf {
		t.Fatalf("dave processed %+v", r)
	}
	fails(t, "left it at epoch", "group", "join", "--state", w.state("dave"), "--welcome", w.file("welcome2"), "--tree", w.file("tree5"))

	// Erin leaves by SelfRemove; Carol commits it without her.
	for _, n := range []string{"carol", "erin"} {
		if r := w.process(n, gid, "c7"); r.NewEpoch == nil {
			t.Fatalf("%s processed %+v", n, r)
		}
	}
	ok(t, "group", "leave", "--state", w.state("erin"), "--group", gid, "--out", w.file("leave"))
	fails(t, "self_remove_once_per_epoch", "group", "leave", "--state", w.state("erin"), "--group", gid, "--out", w.file("leave2"))
	for _, n := range []string{"alice", "carol"} {
		if r := w.process(n, gid, "leave"); r.Kind != "proposal" || r.ProposalType != "self_remove" || r.Sender != "member" {
			t.Fatalf("%s processed %+v", n, r)
		}
	}
	var lv changeRep
	okJSON(t, &lv, "group", "commit", "--state", w.state("carol"), "--group", gid, "--commit-out", w.file("c8"))
	if identities(lv.Removed) != "3:erin" {
		t.Fatalf("leave committed as %+v", lv)
	}
	if r := w.process("erin", gid, "c8"); r.NewEpoch == nil || !r.NewEpoch.RemovedSelf {
		t.Fatalf("erin processed %+v", r)
	}
	w.process("alice", gid, "c8")
	if info := w.agree(gid, "alice", "carol"); identities(info.Members) != "0:alice 2:carol" {
		t.Fatalf("members after leave %+v", info.Members)
	}

	t.Run("inspect", func(t *testing.T) { testInspect(t, w, gid) })
}

// testInspect decodes one file of each kind written by TestScenario.
func testInspect(t *testing.T, w *world, gid string) {
	inspect := func(file string, extra ...string) map[string]any {
		var r map[string]any
		okJSON(t, &r, append([]string{"inspect", w.file(file)}, extra...)...)
		return r
	}
	get := func(v any, path ...string) any {
		for _, p := range path {
			m, isMap := v.(map[string]any)
			if !isMap {
				t.Fatalf("no %q in %v", p, v)
			}
			v = m[p]
		}
		return v
	}
	kp := inspect("dave-kp")
	if get(kp, "wire_format") != "mls_key_package" || get(kp, "key_package", "validation") != "valid" ||
		get(kp, "key_package", "leaf_node", "credential", "identity_text") != "dave" {
		t.Errorf("key package: %v", kp)
	}
	// last_resort, then a GREASE extension (RFC 9420 section 13.5).
	if exts := get(kp, "key_package", "extensions").([]any); len(exts) != 2 || get(exts[0], "extension_type", "name") != "last_resort" ||
		!isGREASE(get(exts[1], "extension_type", "value").(float64)) {
		t.Errorf("key package extensions: %v", exts)
	}
	welcome := inspect("welcome1")
	if get(welcome, "wire_format") != "mls_welcome" || len(get(welcome, "welcome", "secrets").([]any)) != 2 {
		t.Errorf("welcome: %v", welcome)
	}
	commit := inspect("c3")
	if get(commit, "wire_format") != "mls_private_message" || get(commit, "private_message", "content_type") != "commit" ||
		get(commit, "private_message", "group_id") != gid {
		t.Errorf("commit: %v", commit)
	}
	// Bob's commit is public: its content shows.
	commit = inspect("c2")
	content := get(commit, "public_message", "content")
	if get(commit, "wire_format") != "mls_public_message" || get(content, "content_type") != "commit" ||
		get(content, "sender", "leaf_index") != 1.0 || get(content, "commit", "path", "leaf_node", "credential", "identity_text") != "bob" ||
		get(commit, "public_message", "auth", "confirmation_tag") == "" {
		t.Errorf("public commit: %v", commit)
	}
	app := inspect("m1")
	if get(app, "private_message", "content_type") != "application" || get(app, "private_message", "epoch") != 1.0 {
		t.Errorf("application message: %v", app)
	}
	gi := inspect("gi")
	if get(gi, "wire_format") != "mls_group_info" || get(gi, "group_info", "signature_check") != "valid" ||
		get(gi, "group_info", "ratchet_tree", "validation") != "valid" ||
		get(gi, "group_info", "ratchet_tree", "tree_hash_check") != "valid" ||
		get(gi, "group_info", "group_context", "group_id") != gid {
		t.Errorf("group info: %v", gi)
	}
	// A bare tree: leaf signatures of commit leaves need the group ID.
	tree := inspect("tree5")
	if get(tree, "type") != "ratchet_tree" || !strings.HasPrefix(get(tree, "ratchet_tree", "validation").(string), "unchecked") {
		t.Errorf("tree: %v", tree)
	}
	tree = inspect("tree5", "--group-id", gid)
	if get(tree, "ratchet_tree", "validation") != "valid" {
		t.Errorf("tree with group ID: %v", tree)
	}
	for _, n := range get(tree, "ratchet_tree", "nodes").([]any) {
		if get(n, "leaf_node") != nil && get(n, "signature_check") != "valid" {
			t.Errorf("leaf %v", n)
		}
	}
	// The wrong group ID makes the update/commit leaves fail.
	tree = inspect("tree5", "--group-id", "00")
	if !strings.HasPrefix(get(tree, "ratchet_tree", "validation").(string), "invalid") {
		t.Errorf("tree with the wrong group ID: %v", tree)
	}
}

func TestSuites(t *testing.T) {
	var rep struct {
		Profile string `json:"profile"`
		Suites  []struct {
			Code         uint16 `json:"code"`
			Name         string `json:"name"`
			KEM          string `json:"kem"`
			AEAD         string `json:"aead"`
			Hash         string `json:"hash"`
			Signature    string `json:"signature"`
			FIPSApproved bool   `json:"fips_approved"`
		} `json:"suites"`
	}
	okJSON(t, &rep, "suites")
	want := ciphersuite.Suites()
	if rep.Profile != ciphersuite.ProfileDefault || len(rep.Suites) != len(want) {
		t.Fatalf("suites: profile %q, %d suites, want %d", rep.Profile, len(rep.Suites), len(want))
	}
	for i, s := range rep.Suites {
		if s.Code != uint16(want[i].ID) || s.Name != want[i].Name || s.KEM != want[i].KEM.String() ||
			s.AEAD != want[i].AEAD.String() || s.Hash != want[i].Hash.String() ||
			s.Signature != want[i].Signature.String() || s.FIPSApproved != want[i].FIPSApproved {
			t.Errorf("suite %d: %+v, want %+v", i, s, want[i])
		}
	}
	if table := ok(t, "suites", "--table"); !strings.Contains(table, "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519") {
		t.Errorf("table:\n%s", table)
	}
	// Every profile is honored through MLS_SUITE_PROFILE.
	for _, p := range ciphersuite.Profiles() {
		out, errOut, err := run([]string{ciphersuite.ProfileEnv + "=" + p}, "suites")
		if err != nil {
			t.Fatalf("profile %s: %v %s", p, err, errOut)
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Profile != p {
			t.Errorf("profile %s: reported %q (%v)", p, rep.Profile, err)
		}
	}
	_, errOut, err := run([]string{ciphersuite.ProfileEnv + "=no-such-profile"}, "suites")
	if err == nil || !strings.HasPrefix(errOut, "mls: ") {
		t.Errorf("unknown profile: %v %q", err, errOut)
	}
}

func TestErrors(t *testing.T) {
	w := newWorld(t, "alice")
	var g groupRep
	okJSON(t, &g, "group", "create", "--state", w.state("alice"))
	if len(g.GroupID) != 64 {
		t.Fatalf("random group ID %q", g.GroupID)
	}
	garbage := w.file("garbage")
	if err := os.WriteFile(garbage, []byte("\x00\x01this is not MLS"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.keyPackage("alice")

	fails(t, "unknown command", "frobnicate")
	fails(t, "unknown subcommand", "group", "frobnicate")
	fails(t, "unknown flag --frob", "group", "info", "--state", w.state("alice"), "--group", g.GroupID, "--frob")
	fails(t, "unexpected argument \"extra\"", "group", "info", "--state", w.state("alice"), "extra", "--group", g.GroupID)
	fails(t, "--group is required", "group", "info", "--state", w.state("alice"))
	fails(t, "no client in state folder", "group", "info", "--state", w.state("nobody"), "--group", g.GroupID)
	fails(t, "no client in state folder", "keypackage", "--state", w.state("nobody"), "--out", w.file("x"))
	fails(t, "already holds client", "init", "--state", w.state("alice"), "--identity", "mallory")
	fails(t, "no group 00aa", "group", "info", "--state", w.state("alice"), "--group", "00aa")
	fails(t, "not hex", "group", "info", "--state", w.state("alice"), "--group", "xyz")
	fails(t, "already holds group", "group", "create", "--state", w.state("alice"), "--group-id", g.GroupID)
	fails(t, "not an MLSMessage", "group", "join", "--state", w.state("alice"), "--welcome", garbage)
	fails(t, "not a ratchet tree", "group", "join", "--state", w.state("alice"), "--welcome", w.file("alice-kp"), "--tree", garbage)
	fails(t, "not a mls_welcome", "group", "join", "--state", w.state("alice"), "--welcome", w.file("alice-kp"))
	fails(t, "not an MLSMessage", "group", "process", "--state", w.state("alice"), "--group", g.GroupID, "--in", garbage)
	fails(t, "neither an MLSMessage", "inspect", garbage)
	fails(t, "no such file", "inspect", w.file("missing"))
	fails(t, "--suite", "keypackage", "--state", w.state("alice"), "--suite", "banana", "--out", w.file("x"))
	fails(t, "unsupported", "keypackage", "--state", w.state("alice"), "--suite", "0x7777", "--out", w.file("x"))
	fails(t, "--length", "group", "export", "--state", w.state("alice"), "--group", g.GroupID, "--label", "l", "--length", "0")

	// A damaged state file is reported, not used.
	groupFile := filepath.Join(w.state("alice"), "groups", g.GroupID)
	good, err := os.ReadFile(groupFile)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(good)
	bad[len(bad)/2] ^= 1
	if err := os.WriteFile(groupFile, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	fails(t, "corrupt", "group", "info", "--state", w.state("alice"), "--group", g.GroupID)
	if err := os.WriteFile(groupFile, good, 0o600); err != nil {
		t.Fatal(err)
	}
	// An output that cannot be written fails the command before anything
	// is saved.
	fails(t, "", "send", "--state", w.state("alice"), "--group", g.GroupID, "--text", "x", "--out", filepath.Join(w.dir, "no", "such", "dir"))

	// --help prints the usage and succeeds.
	for _, args := range [][]string{{"--help"}, {"group", "--help"}, {"group", "add", "--help"}, {"inspect", "-h"}, {"suites", "--help"}} {
		if out := ok(t, args...); !strings.HasPrefix(out, "usage: mls") {
			t.Errorf("mls %v: %q", args, out)
		}
	}

	// One command at a time per state folder.
	var st *dirstore.Store
	st, err = dirstore.Open(w.state("alice"), nil)
	if err != nil {
		t.Fatal(err)
	}
	fails(t, "in use", "group", "info", "--state", w.state("alice"), "--group", g.GroupID)
	st.Close()
	ok(t, "group", "info", "--state", w.state("alice"), "--group", g.GroupID)
}

// TestInputLimits: every file the tool reads whole is bounded, so a huge
// file or an endless device fails at once with a clear error instead of
// exhausting memory.
func TestInputLimits(t *testing.T) {
	start := time.Now()
	fails(t, "/dev/zero: input larger than the limit of 64 MiB (set MLS_MAX_INPUT", "inspect", "/dev/zero")
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("mls inspect /dev/zero took %v", d)
	}

	w := newWorld(t, "alice")
	var g groupRep
	okJSON(t, &g, "group", "create", "--state", w.state("alice"))
	big := w.file("big")
	if err := os.WriteFile(big, make([]byte, 1001), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"MLS_MAX_INPUT=1000"}
	for _, args := range [][]string{
		{"inspect", big},
		{"group", "process", "--state", w.state("alice"), "--group", g.GroupID, "--in", big},
		{"send", "--state", w.state("alice"), "--group", g.GroupID, "--in", big, "--out", w.file("x")},
		{"group", "join", "--state", w.state("alice"), "--welcome", big},
	} {
		_, errOut, err := run(env, args...)
		if err == nil || !strings.Contains(errOut, big+": input larger than the limit of 1000 bytes") {
			t.Errorf("mls %s with MLS_MAX_INPUT=1000: %v, %q", strings.Join(args, " "), err, errOut)
		}
	}
	// At the limit the file is read (and refused for what it holds).
	if err := os.WriteFile(big, make([]byte, 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, _ := run(env, "inspect", big); !strings.Contains(errOut, "neither an MLSMessage") {
		t.Errorf("a file at the limit: %q", errOut)
	}
}

// isGREASE reports whether v is a GREASE code point of RFC 9420 section
// 13.5: 0x?A?A with the same nibble twice, 0xFAFA excluded.
func isGREASE(v float64) bool {
	x := uint16(v)
	return float64(x) == v && x&0x0F0F == 0x0A0A && x>>12 == x>>4&0xF && x != 0xFAFA
}

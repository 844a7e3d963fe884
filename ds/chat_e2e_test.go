package ds_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbormls/mls/ds"
	"github.com/arbormls/mls/ds/sqlite"
)

// The end-to-end tests run the mls command-line tool, built from the
// library module, against a server in this process.

// cli is the mls binary working in one folder, where the state folders
// are, against one server.
type cli struct {
	t      *testing.T
	bin    string
	dir    string
	url    string
	faults *faults
}

// faults sits in front of the server and breaks the next commit request
// when asked: "lose-answer" lets the server take it and answers 502,
// "drop" answers 502 without passing it on.
type faults struct {
	h    http.Handler
	mu   sync.Mutex
	next string
}

func (f *faults) set(mode string) { f.mu.Lock(); f.next = mode; f.mu.Unlock() }

func (f *faults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	mode := ""
	if strings.HasSuffix(r.URL.Path, "/commit") {
		mode, f.next = f.next, ""
	}
	f.mu.Unlock()
	switch mode {
	case "lose-answer":
		f.h.ServeHTTP(httptest.NewRecorder(), r)
		fallthrough
	case "drop":
		http.Error(w, "bad gateway", http.StatusBadGateway)
	default:
		f.h.ServeHTTP(w, r)
	}
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "mls")
	build := exec.Command("go", "build", "-o", bin, "./cmd/mls")
	build.Dir = ".." // the library module
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building mls: %v\n%s", err, out)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "mlsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	srv := ds.NewServer(st, slog.New(slog.DiscardHandler))
	srv.MaxWait = 5 * time.Second
	// mlsd's default limits, as the README's server runs with.
	srv.Limits = ds.Limits{ClientRate: 20, ClientBurst: 40, IPRate: 100, IPBurst: 200, MaxStreams: 8}
	f := &faults{h: srv}
	ts := httptest.NewServer(f)
	t.Cleanup(func() { ts.Close(); st.Close() })
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o700); err != nil {
		t.Fatal(err)
	}
	return &cli{t: t, bin: bin, dir: work, url: ts.URL, faults: f}
}

func (c *cli) command(args ...string) *exec.Cmd {
	cmd := exec.Command(c.bin, args...)
	cmd.Dir = c.dir
	return cmd
}

// run runs mls, which must succeed, and returns its standard output.
func (c *cli) run(args ...string) []byte {
	c.t.Helper()
	var stderr bytes.Buffer
	cmd := c.command(args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		c.t.Fatalf("mls %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// runJSON runs mls and decodes its report into v.
func (c *cli) runJSON(v any, args ...string) {
	c.t.Helper()
	out := c.run(args...)
	if err := json.Unmarshal(out, v); err != nil {
		c.t.Fatalf("mls %s: report is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// fails runs mls, which must fail with an error containing want.
func (c *cli) fails(want string, args ...string) {
	c.t.Helper()
	var stderr bytes.Buffer
	cmd := c.command(args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err == nil {
		c.t.Fatalf("mls %s succeeded, want %q\n%s", strings.Join(args, " "), want, out)
	}
	if !strings.Contains(stderr.String(), want) {
		c.t.Fatalf("mls %s: error %q does not contain %q", strings.Join(args, " "), stderr.String(), want)
	}
}

// join registers user (state folder of the same name) and publishes.
func (c *cli) join(users ...string) {
	c.t.Helper()
	for _, u := range users {
		c.run("ds", "register", "--state", u, "--server", c.url, "--user", u)
		c.run("ds", "publish", "--state", u, "--count", "2")
	}
}

type dsEvent struct {
	Kind    string   `json:"kind"`
	Group   string   `json:"group"`
	From    string   `json:"from"`
	Text    string   `json:"text"`
	Epoch   uint64   `json:"epoch"`
	Added   []string `json:"added"`
	Members []string `json:"members"`
	Error   string   `json:"error"`
}

type dsReport struct {
	Epoch  uint64    `json:"epoch"`
	Added  []string  `json:"added"`
	Events []dsEvent `json:"events"`
}

func (c *cli) sync(user string) []dsEvent {
	c.t.Helper()
	var r dsReport
	c.runJSON(&r, "ds", "sync", "--state", user)
	for _, e := range r.Events {
		if e.Kind == "error" {
			c.t.Fatalf("%s's sync: %+v", user, e)
		}
	}
	return r.Events
}

// info is the group's state as mls group info reports it.
func (c *cli) info(user, group string) (epoch uint64, auth string) {
	c.t.Helper()
	var r struct {
		Epoch              uint64 `json:"epoch"`
		EpochAuthenticator string `json:"epoch_authenticator"`
	}
	c.runJSON(&r, "group", "info", "--state", user, "--group", fmt.Sprintf("%x", group))
	return r.Epoch, r.EpochAuthenticator
}

// agree checks the users are in the same epoch with the same epoch
// authenticator, and returns the epoch.
func (c *cli) agree(group string, users ...string) uint64 {
	c.t.Helper()
	e0, a0 := c.info(users[0], group)
	for _, u := range users[1:] {
		if e, a := c.info(u, group); e != e0 || a != a0 {
			c.t.Fatalf("%s is in epoch %d (%s), %s in %d (%s)", users[0], e0, a0, u, e, a)
		}
	}
	return e0
}

// chat is a running mls chat.
type chat struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	mu    sync.Mutex
	err   bytes.Buffer
}

func (c *cli) chat(name string, args ...string) *chat {
	c.t.Helper()
	ch := &chat{t: c.t, name: name, cmd: c.command(args...), lines: make(chan string, 100)}
	ch.cmd.Stderr = (*lockedWriter)(ch)
	var err error
	if ch.stdin, err = ch.cmd.StdinPipe(); err != nil {
		c.t.Fatal(err)
	}
	stdout, err := ch.cmd.StdoutPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	if err := ch.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			ch.lines <- s.Text()
		}
		close(ch.lines)
	}()
	c.t.Cleanup(func() {
		ch.stdin.Close()
		ch.cmd.Process.Kill()
		ch.cmd.Wait()
	})
	return ch
}

type lockedWriter chat

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err.Write(p)
}

func (ch *chat) stderr() string {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.err.String()
}

// expect checks the next lines of the chat's output are want, in order.
func (ch *chat) expect(want ...string) {
	ch.t.Helper()
	for _, w := range want {
		select {
		case got, ok := <-ch.lines:
			if !ok {
				ch.t.Fatalf("%s's chat ended; want %q; stderr:\n%s", ch.name, w, ch.stderr())
			}
			if got != w {
				ch.t.Fatalf("%s's chat printed %q, want %q; stderr:\n%s", ch.name, got, w, ch.stderr())
			}
		case <-time.After(15 * time.Second):
			ch.t.Fatalf("%s's chat: no %q after 15 s; stderr:\n%s", ch.name, w, ch.stderr())
		}
	}
}

func (ch *chat) say(line string) {
	ch.t.Helper()
	if _, err := io.WriteString(ch.stdin, line+"\n"); err != nil {
		ch.t.Fatal(err)
	}
}

// end closes the chat's input: it must exit with status 0, having printed
// nothing more and no error.
func (ch *chat) end() {
	ch.t.Helper()
	ch.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- ch.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			ch.t.Fatalf("%s's chat: %v\n%s", ch.name, err, ch.stderr())
		}
	case <-time.After(10 * time.Second):
		ch.t.Fatalf("%s's chat did not end with its input", ch.name)
	}
	for l := range ch.lines {
		ch.t.Errorf("%s's chat printed %q more", ch.name, l)
	}
	if e := ch.stderr(); e != "" {
		ch.t.Errorf("%s's chat wrote errors:\n%s", ch.name, e)
	}
}

// readmeChat returns the command blocks of the README's section "Chat
// through the Delivery Service": the server's, bob's and alice's.
func readmeChat(t *testing.T) [3][]string {
	t.Helper()
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(data), "\n## Chat through the Delivery Service\n")
	if !ok {
		t.Fatal("README.md has no section \"Chat through the Delivery Service\"")
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	var blocks [][]string
	for {
		var block string
		if _, sec, ok = strings.Cut(sec, "```sh\n"); !ok {
			break
		}
		block, sec, _ = strings.Cut(sec, "```")
		blocks = append(blocks, strings.Split(strings.TrimSpace(block), "\n"))
	}
	if len(blocks) != 3 {
		t.Fatalf("the README's chat section has %d sh blocks, want 3 (server, bob, alice)", len(blocks))
	}
	return [3][]string(blocks)
}

// readmeArgs turns a README command line into the tool's arguments, with
// the test's server in place of the default address.
func (c *cli) readmeArgs(line string) []string {
	c.t.Helper()
	rest, ok := strings.CutPrefix(line, "/tmp/mls ")
	if !ok || strings.ContainsAny(line, `"'$`) {
		c.t.Fatalf("README line %q is not a plain /tmp/mls command", line)
	}
	args := strings.Fields(rest)
	for i, a := range args {
		if a == "http://127.0.0.1:7420" {
			args[i] = c.url
		}
	}
	return args
}

// TestChatReadme runs the README's chat quickstart: bob registers,
// publishes and starts chat; alice registers, publishes, creates "team",
// invites bob and starts chat; lines typed at each show at the other, in
// order. Then alice leaves the chat and invites carol, whom bob's chat
// shows joining, and carol's message reaches bob.
func TestChatReadme(t *testing.T) {
	c := newCLI(t)
	blocks := readmeChat(t)
	if !slices.Equal(blocks[0], []string{"cd ds && go run ./cmd/mlsd"}) {
		t.Fatalf("the README starts the server with %q", blocks[0])
	}
	if blocks[1][0] != "go build -o /tmp/mls ./cmd/mls" {
		t.Fatalf("the README builds mls with %q", blocks[1][0])
	}
	bobCmds, aliceCmds := blocks[1][1:], blocks[2]
	var bob, alice *chat
	for _, l := range bobCmds[:len(bobCmds)-1] {
		c.run(c.readmeArgs(l)...)
	}
	bob = c.chat("bob", c.readmeArgs(bobCmds[len(bobCmds)-1])...)
	bob.expect("* waiting for an invitation to team")
	for _, l := range aliceCmds[:len(aliceCmds)-1] {
		c.run(c.readmeArgs(l)...)
	}
	alice = c.chat("alice", c.readmeArgs(aliceCmds[len(aliceCmds)-1])...)
	if !strings.Contains(bobCmds[len(bobCmds)-1], " chat ") || !strings.Contains(aliceCmds[len(aliceCmds)-1], " chat ") {
		t.Fatal("the README's blocks do not end with chat")
	}
	alice.expect("* members of team: alice, bob")
	bob.expect("* joined team: alice, bob")

	// Both type at once; each sees the other's lines in order.
	var wg sync.WaitGroup
	for _, p := range []struct {
		ch   *chat
		text string
	}{{alice, "hello bob"}, {bob, "hi alice"}} {
		wg.Go(func() {
			for i := range 5 {
				p.ch.say(fmt.Sprintf("%s %d", p.text, i))
			}
		})
	}
	wg.Wait()
	var fromAlice, fromBob []string
	for i := range 5 {
		fromAlice = append(fromAlice, fmt.Sprintf("alice: hello bob %d", i))
		fromBob = append(fromBob, fmt.Sprintf("bob: hi alice %d", i))
	}
	bob.expect(fromAlice...)
	alice.expect(fromBob...)

	// A message with a terminal escape sequence shows escaped.
	alice.say("\x1b[2J\u202eevil")
	bob.expect(`alice: \x1b[2J\u202eevil`)

	// alice quits; her state is saved, so she can invite from the command
	// line, and bob's chat shows carol joining.
	alice.end()
	c.join("carol")
	c.run("ds", "invite", "--state", "alice", "--group", "team", "carol")
	bob.expect("* carol joined")
	if ev := c.sync("carol"); len(ev) != 1 || ev[0].Kind != "joined" || !slices.Equal(ev[0].Members, []string{"alice", "bob", "carol"}) {
		t.Fatalf("carol's sync: %+v", ev)
	}
	c.run("ds", "send", "--state", "carol", "--group", "team", "hello", "all")
	bob.expect("carol: hello all")
	bob.say("welcome carol")
	// carol's and alice's inboxes get bob's line; alice's also carol's.
	deadline := time.Now().Add(10 * time.Second)
	var got []dsEvent
	for len(got) < 2 && time.Now().Before(deadline) {
		var r dsReport
		c.runJSON(&r, "ds", "sync", "--state", "alice", "--wait", "2s")
		got = append(got, r.Events...)
	}
	if len(got) != 2 || got[0].From != "carol" || got[0].Text != "hello all" || got[1].From != "bob" || got[1].Text != "welcome carol" {
		t.Fatalf("alice's sync: %+v", got)
	}
	bob.end()
	c.agree("team", "alice", "bob", "carol")
}

// TestCommitConflict has members commit for the same epoch: the loser's
// command processes the inbox, which holds the winner's commit, and
// commits again; every member ends in the same epoch.
func TestCommitConflict(t *testing.T) {
	c := newCLI(t)
	c.join("alice", "bob", "carol", "dave", "eve", "frank")
	// Registering again does nothing; with another server it is refused.
	var r1, r2 struct {
		ClientID string `json:"client_id"`
	}
	c.runJSON(&r1, "ds", "register", "--state", "alice", "--server", c.url, "--user", "alice")
	c.runJSON(&r2, "ds", "register", "--state", "alice", "--server", c.url, "--user", "alice")
	if r1.ClientID == "" || r1 != r2 {
		t.Fatalf("registering again: %+v, then %+v", r1, r2)
	}
	c.fails("is registered with", "ds", "register", "--state", "alice", "--server", "http://127.0.0.1:1", "--user", "alice")
	c.run("ds", "create", "--state", "alice", "--group", "team")
	c.run("ds", "invite", "--state", "alice", "--group", "team", "bob")
	c.sync("bob")

	// bob has not seen alice's commit adding carol when he commits.
	var ra, rb dsReport
	c.runJSON(&ra, "ds", "invite", "--state", "alice", "--group", "team", "carol")
	c.runJSON(&rb, "ds", "invite", "--state", "bob", "--group", "team", "dave")
	if ra.Epoch != 3 || rb.Epoch != 4 || !slices.Equal(rb.Added, []string{"dave"}) {
		t.Fatalf("alice's invite: %+v; bob's: %+v", ra, rb)
	}
	if len(rb.Events) != 1 || rb.Events[0].Kind != "commit" || !slices.Equal(rb.Events[0].Added, []string{"carol"}) {
		t.Fatalf("bob's invite did not process alice's commit before retrying: %+v", rb.Events)
	}
	for _, u := range []string{"alice", "carol", "dave"} {
		c.sync(u)
	}
	c.agree("team", "alice", "bob", "carol", "dave")

	// Two members commit at once: both invitations go through, one after
	// the other, whichever the server took first.
	var wg sync.WaitGroup
	reports := map[string]*dsReport{"carol": {}, "dave": {}}
	for u, invitee := range map[string]string{"carol": "eve", "dave": "frank"} {
		wg.Go(func() { c.runJSON(reports[u], "ds", "invite", "--state", u, "--group", "team", invitee) })
	}
	wg.Wait()
	epochs := []uint64{reports["carol"].Epoch, reports["dave"].Epoch}
	slices.Sort(epochs)
	if !slices.Equal(epochs, []uint64{5, 6}) {
		t.Fatalf("concurrent invites ended in epochs %v, want 5 and 6", epochs)
	}
	for _, u := range []string{"alice", "bob", "carol", "dave", "eve", "frank"} {
		c.sync(u)
	}
	c.agree("team", "alice", "bob", "carol", "dave", "eve", "frank")

	// A group name taken at the server is refused, and leaves no group
	// behind: the name can be taken for another group later.
	c.join("grace")
	c.fails(`a group named "team" exists at the server already`, "ds", "create", "--state", "grace", "--group", "team")
	c.fails(`no group "team"`, "ds", "send", "--state", "grace", "--group", "team", "hi")
	c.fails("state folder", "ds", "create", "--state", "alice", "--group", "team")
}

// TestLostCommitAnswer loses the answer to a commit, or the commit itself:
// the commit stays pending and the next command settles it from the
// server's GroupInfo.
func TestLostCommitAnswer(t *testing.T) {
	c := newCLI(t)
	c.join("alice", "bob", "carol")
	c.run("ds", "create", "--state", "alice", "--group", "team")

	// The server takes the commit; alice does not hear it.
	c.faults.set("lose-answer")
	c.fails("outcome is unknown", "ds", "invite", "--state", "alice", "--group", "team", "bob")
	if ev := c.sync("bob"); len(ev) != 1 || ev[0].Kind != "joined" {
		t.Fatalf("bob's sync: %+v", ev)
	}
	// Sending settles the commit first: merged, so bob can read it.
	c.run("ds", "send", "--state", "alice", "--group", "team", "hello")
	if ev := c.sync("bob"); len(ev) != 1 || ev[0].Text != "hello" || ev[0].Epoch != 2 {
		t.Fatalf("bob's sync: %+v", ev)
	}

	// The commit never reaches the server: sync discards it, and the
	// invitation can be made again.
	c.faults.set("drop")
	c.fails("outcome is unknown", "ds", "invite", "--state", "alice", "--group", "team", "carol")
	c.sync("alice")
	if e, _ := c.info("alice", "team"); e != 2 {
		t.Fatalf("alice is in epoch %d after the dropped commit, want 2", e)
	}
	var r dsReport
	c.runJSON(&r, "ds", "invite", "--state", "alice", "--group", "team", "carol")
	if r.Epoch != 3 {
		t.Fatalf("invite after the dropped commit: %+v", r)
	}
	c.sync("bob")
	c.sync("carol")
	c.agree("team", "alice", "bob", "carol")
}

// TestLeave: a member leaves with a SelfRemove, which the next member to
// send commits; the leaver's sync reports its removal and its group ends.
func TestLeave(t *testing.T) {
	c := newCLI(t)
	c.join("alice", "bob", "carol")
	c.run("ds", "create", "--state", "alice", "--group", "team")
	c.run("ds", "invite", "--state", "alice", "--group", "team", "bob", "carol")
	c.sync("bob")
	c.sync("carol")
	c.run("ds", "leave", "--state", "bob", "--group", "team")
	c.fails("self_remove_once_per_epoch", "ds", "leave", "--state", "bob", "--group", "team")
	if evs := c.sync("carol"); len(evs) != 1 || evs[0].Kind != "proposal" || evs[0].From != "bob" {
		t.Fatalf("carol's sync: %+v", evs)
	}
	// Carol's message commits the SelfRemove first.
	c.run("ds", "send", "--state", "carol", "--group", "team", "bye", "bob")
	var r struct {
		Events []struct {
			Kind        string   `json:"kind"`
			Removed     []string `json:"removed"`
			RemovedSelf bool     `json:"removed_self"`
		} `json:"events"`
	}
	c.runJSON(&r, "ds", "sync", "--state", "bob")
	if len(r.Events) != 1 || r.Events[0].Kind != "commit" || !r.Events[0].RemovedSelf || !slices.Equal(r.Events[0].Removed, []string{"bob"}) {
		t.Fatalf("bob's sync: %+v", r.Events)
	}
	c.fails("no longer active", "ds", "send", "--state", "bob", "--group", "team", "still here?")
	evs := c.sync("alice")
	if len(evs) != 3 || evs[1].Kind != "commit" || evs[2].Text != "bye bob" {
		t.Fatalf("alice's sync: %+v", evs)
	}
	c.agree("team", "alice", "carol")
}

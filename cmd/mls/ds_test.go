package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/dsclient"
)

// The commands through a server are tested end to end, against mlsd, in
// ds/chat_e2e_test.go; these are the checks that need no server.

func TestDSErrors(t *testing.T) {
	dir := t.TempDir()
	alice := filepath.Join(dir, "alice")
	ok(t, "init", "--state", alice, "--identity", "alice")
	fails(t, "not registered with a server (run mls ds register)", "ds", "send", "--state", alice, "--group", "team", "hi")
	fails(t, "not registered", "ds", "sync", "--state", alice)
	fails(t, "not registered", "chat", "--state", alice, "--group", "team")
	fails(t, "no client in state folder", "ds", "publish", "--state", filepath.Join(dir, "nobody"))
	fails(t, `holds client "alice", not "bob"`, "ds", "register", "--state", alice, "--server", "http://127.0.0.1:1", "--user", "bob")
	fails(t, "not an http or https URL", "ds", "register", "--state", alice, "--server", "127.0.0.1:7420", "--user", "alice")
	fails(t, "--user must be", "ds", "register", "--state", alice, "--server", "http://127.0.0.1:1", "--user", "a/b")
	fails(t, "--server is required", "ds", "register", "--state", alice, "--user", "alice")
	// Nothing listens on port 1: the registration fails, and is tried
	// again with the same client ID next time.
	fails(t, "connect", "ds", "register", "--state", alice, "--server", "http://127.0.0.1:1", "--user", "alice")
	fails(t, "not registered", "ds", "publish", "--state", alice)
	// A registration that did not complete may be retried with other
	// flags; the client ID changes with the server.
	first := readInfo(t, alice).Server
	fails(t, "connect", "ds", "register", "--state", alice, "--server", "http://127.0.0.1:2", "--user", "alice")
	second := readInfo(t, alice).Server
	if first == nil || second == nil || second.URL != "http://127.0.0.1:2" || second.ClientID == first.ClientID || second.Registered {
		t.Fatalf("server info %+v, then %+v", first, second)
	}
	fails(t, "connect", "ds", "register", "--state", alice, "--server", "http://127.0.0.1:2", "--user", "alice")
	if third := readInfo(t, alice).Server; third.ClientID != second.ClientID {
		t.Fatal("a retry with the same flags changed the client ID")
	}

	fails(t, "no USER to invite", "ds", "invite", "--state", alice, "--group", "team")
	fails(t, "no TEXT to send", "ds", "send", "--state", alice, "--group", "team")
	fails(t, "not printable text", "ds", "create", "--state", alice, "--group", "a\x1bb")
	fails(t, "a group name is 1 to 127 bytes", "ds", "create", "--state", alice, "--group", strings.Repeat("g", 128))
	fails(t, "unknown subcommand", "ds", "depart")
	fails(t, "--group", "ds", "leave", "--state", alice)
	fails(t, "unexpected argument", "ds", "sync", "--state", alice, "extra")
	if out := ok(t, "ds", "--help"); !strings.Contains(out, "invite    --group NAME USER...") {
		t.Fatalf("ds --help:\n%s", out)
	}
	if out := ok(t, "chat", "--help"); !strings.Contains(out, "--group name") {
		t.Fatalf("chat --help:\n%s", out)
	}
}

func readInfo(t *testing.T, dir string) clientInfo {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, clientFile))
	if err != nil {
		t.Fatal(err)
	}
	var info clientInfo
	if err := json.Unmarshal(data, &info); err != nil {
		t.Fatal(err)
	}
	return info
}

func TestPrintEvent(t *testing.T) {
	cases := []struct {
		ev       event
		out, err string
	}{
		{event{Group: "team", Kind: "message", From: "bob", Text: "hi"}, "bob: hi\n", ""},
		{event{Group: "other", Kind: "message", From: "bob", Text: "hi"}, "[other] bob: hi\n", ""},
		{event{Group: "team", Kind: "message", From: "bob", DataHex: "00ff"}, "bob: (2 bytes of binary data)\n", ""},
		{event{Group: "team", Kind: "joined", Members: []string{"alice", "bob"}}, "* joined team: alice, bob\n", ""},
		{event{Group: "team", Kind: "commit", Added: []string{"carol"}, Removed: []string{"dave", "eve"}}, "* carol joined\n* dave left\n* eve left\n", ""},
		{event{Group: "team", Kind: "commit", RemovedSelf: true, Removed: []string{"alice"}}, "* alice left\n* you were removed from team\n", ""},
		{event{Group: "team", Kind: "commit"}, "", ""},
		{event{Group: "team", Kind: "proposal", From: "bob"}, "", ""},
		{event{Seq: 7, Group: "x", Kind: "error", Error: "bad\nline"}, "", "mls: [x] inbox message 7 skipped: bad\\x0aline\n"},
		// A name or text cannot forge a line or move the cursor.
		{event{Group: "team", Kind: "message", From: "bob\nalice", Text: "\x1b[1Ahi\u202e\u0085"}, "bob\\x0aalice: \\x1b[1Ahi\\u202e\\u0085\n", ""},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		printEvent(&out, &errOut, "team", c.ev)
		if out.String() != c.out || errOut.String() != c.err {
			t.Errorf("%+v: printed %q and %q, want %q and %q", c.ev, out.String(), errOut.String(), c.out, c.err)
		}
	}
	if got := sanitize("ok\tü \xff\uFFFD"); got != "ok\tü \\xff\uFFFD" {
		t.Errorf("sanitize = %q", got)
	}
}

func TestReadLines(t *testing.T) {
	in := "one\r\n\n   \ntwo\n" + strings.Repeat("x", maxLine+1) + "\nthree"
	lines := make(chan string)
	var errOut bytes.Buffer
	go readLines(strings.NewReader(in), lines, &errOut)
	var got []string
	for l := range lines {
		got = append(got, l)
	}
	if strings.Join(got, "|") != "one|two|three" {
		t.Fatalf("lines = %q", got)
	}
	if !strings.Contains(errOut.String(), "line longer than") {
		t.Fatalf("no warning for the long line: %q", errOut.String())
	}
}

// TestDSLongGroupIDSkipped: a message of a group whose ID is longer than
// the state folder holds is reported as an error event and skipped, and
// the inbox position moves past it; before, loading its group failed as
// a state error and stopped every later sync at that message. The limit
// is the one mlsd serves.
func TestDSLongGroupIDSkipped(t *testing.T) {
	if dirstoreMaxID != dsclient.MaxGroupIDLen {
		t.Fatalf("the state folder holds group IDs of %d bytes, mlsd serves %d", dirstoreMaxID, dsclient.MaxGroupIDLen)
	}
	state := filepath.Join(t.TempDir(), "alice")
	ok(t, "init", "--state", state, "--identity", "alice")
	cl, err := openState(state, true)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.close()
	s, err := newSession(cl, &serverInfo{URL: "http://127.0.0.1:1", ClientID: "alice-1", User: "alice", Suite: 1, Registered: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{dirstoreMaxID + 1, 255} {
		msg := &mls.MLSMessage{PrivateMessage: &mls.PrivateMessage{GroupID: bytes.Repeat([]byte{7}, n), Epoch: 1,
			ContentType: mls.ContentTypeApplication, EncryptedSenderData: []byte{1}, Ciphertext: []byte{2}}}
		data, err := msg.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		seq := uint64(n)
		evs, err := s.process(dsclient.InboxMessage{Seq: seq, Message: data})
		if err != nil {
			t.Fatalf("group ID of %d bytes stops the inbox: %v", n, err)
		}
		if len(evs) != 1 || evs[0].Kind != "error" || !strings.Contains(evs[0].Error, "at most 127") {
			t.Fatalf("group ID of %d bytes: events %+v", n, evs)
		}
		if s.srv.Seq != seq {
			t.Fatalf("position %d after the skipped message %d", s.srv.Seq, seq)
		}
	}
}

package ds_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ds"
	"github.com/arbormls/mls/ds/sqlite"
	"github.com/coder/websocket"
)

// dialInbox opens c's inbox WebSocket with a signed upgrade request; it
// returns the answer's status when the upgrade is refused.
func (c *client) dialInbox(after uint64, hc *http.Client) (*websocket.Conn, int, error) {
	c.e.t.Helper()
	path := fmt.Sprintf("/v1/inbox/ws?after=%d", after)
	req, err := http.NewRequest("GET", c.e.ts.URL+path, nil)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if err := ds.SignRequest(req, c.id, c.ident.SigningKey, nil); err != nil {
		c.e.t.Fatal(err)
	}
	return dialWS(c.e.ts.URL+path, req.Header, hc)
}

func dialWS(url string, h http.Header, hc *http.Client) (*websocket.Conn, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, strings.Replace(url, "http", "ws", 1), &websocket.DialOptions{HTTPHeader: h, HTTPClient: hc})
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	return conn, status, err
}

func (c *client) mustDialInbox(after uint64) *websocket.Conn {
	c.e.t.Helper()
	conn, st, err := c.dialInbox(after, nil)
	if err != nil {
		c.e.t.Fatalf("dial inbox of %s: %d %v", c.id, st, err)
	}
	c.e.t.Cleanup(func() { conn.CloseNow() })
	return conn
}

// wsReader reads a socket's frames in the background (a Read whose
// context ends closes the socket, so timeouts are kept out of Read).
type wsReader struct {
	t    *testing.T
	msgs chan ds.InboxMessage
	err  chan error
}

func readWS(t *testing.T, conn *websocket.Conn) *wsReader {
	r := &wsReader{t: t, msgs: make(chan ds.InboxMessage, 100), err: make(chan error, 1)}
	go func() {
		for {
			typ, data, err := conn.Read(context.Background())
			if err != nil {
				r.err <- err
				return
			}
			var m ds.InboxMessage
			if typ != websocket.MessageText || json.Unmarshal(data, &m) != nil {
				r.err <- fmt.Errorf("frame %v %q is not an InboxMessage", typ, data)
				return
			}
			r.msgs <- m
		}
	}()
	return r
}

// next returns the next n messages, failing after a few seconds.
func (r *wsReader) next(n int) []ds.InboxMessage {
	r.t.Helper()
	out := make([]ds.InboxMessage, 0, n)
	timeout := time.After(5 * time.Second)
	for len(out) < n {
		select {
		case m := <-r.msgs:
			out = append(out, m)
		case err := <-r.err:
			r.t.Fatalf("after %d of %d messages: %v", len(out), n, err)
		case <-timeout:
			r.t.Fatalf("got %d of %d messages", len(out), n)
		}
	}
	return out
}

// quiet checks nothing more arrives within d.
func (r *wsReader) quiet(d time.Duration) {
	r.t.Helper()
	select {
	case m := <-r.msgs:
		r.t.Fatalf("unexpected message, seq %d", m.Seq)
	case err := <-r.err:
		r.t.Fatalf("socket ended: %v", err)
	case <-time.After(d):
	}
}

// TestWebSocketPush has two clients hold inbox WebSockets while they make
// a group and talk through the commit and messages endpoints: each socket
// delivers exactly the messages sent to its client, in sequence order, and
// a reconnection after the last sequence number seen gets only what came
// later.
func TestWebSocketPush(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.client("alice-1", "alice"), e.client("bob-1", "bob")
	bob.publish(1, false)
	wsA, wsB := alice.mustDialInbox(0), bob.mustDialInbox(0)
	inA, inB := readWS(t, wsA), readWS(t, wsB)

	ga, err := mls.CreateGroup(alice.ident, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := ga.Commit(mls.CommitOptions{Add: []*mls.KeyPackage{parseKP(t, alice.claim("bob")[0].KeyPackage)}})
	if err != nil {
		t.Fatal(err)
	}
	if st, out := alice.do("POST", gpath(ga)+"/commit", ds.CommitBundle{Commit: marshal(t, pc.Commit), Welcome: marshal(t, pc.Welcome)}); st != 200 {
		t.Fatalf("commit: %d %s", st, out)
	}
	if _, err := ga.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	first := inB.next(1)[0]
	var w mls.MLSMessage
	if first.Seq != 1 || w.UnmarshalBinary(first.Message) != nil || w.Welcome == nil {
		t.Fatalf("bob's first pushed message: seq %d, not the Welcome", first.Seq)
	}
	var kb *mls.KeyPackageBundle
	for _, b := range bob.kps {
		kb = b
	}
	gb, err := mls.Join(bob.ident, &w, kb, nil, nil)
	if err != nil {
		t.Fatal(err)
	}

	// Interleaved sends from both sides.
	const rounds = 6
	for i := range rounds {
		from, to, g := alice, "to bob", ga
		if i%3 == 2 {
			from, to, g = bob, "to alice", gb
		}
		m, err := g.Send(fmt.Appendf(nil, "%s %d", to, i))
		if err != nil {
			t.Fatal(err)
		}
		if st, out := from.do("POST", gpath(g)+"/messages", marshal(t, m)); st != 200 {
			t.Fatalf("send %d: %d %s", i, st, out)
		}
	}
	check := func(name string, g *mls.Group, got []ds.InboxMessage, after uint64, want []string) {
		t.Helper()
		for i, m := range got {
			if m.Seq <= after {
				t.Fatalf("%s: message %d has seq %d, after %d", name, i, m.Seq, after)
			}
			after = m.Seq
			var msg mls.MLSMessage
			if err := msg.UnmarshalBinary(m.Message); err != nil {
				t.Fatal(err)
			}
			r, err := g.Process(&msg)
			if err != nil {
				t.Fatalf("%s: message %d: %v", name, i, err)
			}
			if string(r.Data) != want[i] {
				t.Fatalf("%s: message %d = %q, want %q", name, i, r.Data, want[i])
			}
		}
	}
	gotB := inB.next(4)
	check("bob", gb, gotB, 1, []string{"to bob 0", "to bob 1", "to bob 3", "to bob 4"})
	check("alice", ga, inA.next(2), 0, []string{"to alice 2", "to alice 5"})
	inB.quiet(300 * time.Millisecond)

	// An ack over the socket deletes up to its sequence number.
	ack, _ := json.Marshal(ds.WSAck{Ack: gotB[1].Seq})
	if err := wsB.Write(context.Background(), websocket.MessageText, ack); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		left := bob.inbox(0, "0s")
		if len(left) == 2 && left[0].Seq == gotB[2].Seq && left[1].Seq == gotB[3].Seq {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after ack %d over the socket, inbox holds %+v", gotB[1].Seq, left)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Reconnect after the last seq: only later messages come, none twice.
	wsB.Close(websocket.StatusNormalClosure, "")
	m, _ := ga.Send([]byte("after reconnect"))
	if st, _ := alice.do("POST", gpath(ga)+"/messages", marshal(t, m)); st != 200 {
		t.Fatal("send after reconnect")
	}
	wsB2 := bob.mustDialInbox(gotB[3].Seq)
	inB2 := readWS(t, wsB2)
	check("bob again", gb, inB2.next(1), gotB[3].Seq, []string{"after reconnect"})
	inB2.quiet(300 * time.Millisecond)

	// A frame that is not an ack ends the socket.
	if err := wsB2.Write(context.Background(), websocket.MessageText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-inB2.err:
		if websocket.CloseStatus(err) != websocket.StatusUnsupportedData {
			t.Fatalf("after a bad frame: %v, want close 1003", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("socket still open after a bad frame")
	}
}

// TestWebSocketUnauthenticated checks the upgrade request is authenticated
// like any other: unsigned, re-used, or signed for another query, it is
// refused with 401 and no socket is opened.
func TestWebSocketUnauthenticated(t *testing.T) {
	e := newEnv(t)
	alice := e.client("alice-1", "alice")
	if _, st, err := dialWS(e.ts.URL+"/v1/inbox/ws", nil, nil); err == nil || st != http.StatusUnauthorized {
		t.Fatalf("unsigned upgrade: %d %v, want 401", st, err)
	}
	req, _ := http.NewRequest("GET", e.ts.URL+"/v1/inbox/ws?after=0", nil)
	ds.SignRequest(req, alice.id, alice.ident.SigningKey, nil)
	if _, st, err := dialWS(e.ts.URL+"/v1/inbox/ws?after=7", req.Header, nil); err == nil || st != http.StatusUnauthorized {
		t.Fatalf("upgrade signed for another query: %d %v, want 401", st, err)
	}
	conn, st, err := dialWS(e.ts.URL+"/v1/inbox/ws?after=0", req.Header, nil)
	if err != nil {
		t.Fatalf("signed upgrade: %d %v", st, err)
	}
	conn.CloseNow()
	if _, st, err := dialWS(e.ts.URL+"/v1/inbox/ws?after=0", req.Header, nil); err == nil || st != http.StatusUnauthorized {
		t.Fatalf("replayed upgrade: %d %v, want 401", st, err)
	}
	conn, st, err = alice.dialInbox(0, &http.Client{})
	if err != nil {
		t.Fatalf("fresh signed upgrade: %d %v", st, err)
	}
	conn.CloseNow()
	if st, _ := alice.do("GET", "/v1/inbox/ws?after=x", nil); st != http.StatusBadRequest {
		t.Fatalf("bad after: %d, want 400", st)
	}
}

// TestWebSocketOtherServer has two servers share one SQLite file: a
// message delivered through one reaches a WebSocket held on the other
// (found by the poll tick, as nothing tells the second server).
func TestWebSocketOtherServer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ds.db")
	var envs [2]*env
	for i := range envs {
		st, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		srv := ds.NewServer(st, testLog(t))
		srv.AllowUnverified = true // its groups send PrivateMessage handshakes
		ts := httptest.NewServer(srv)
		t.Cleanup(func() { ts.Close(); st.Close() })
		envs[i] = &env{t: t, srv: srv, ts: ts, store: st}
	}
	alice, bob := envs[0].client("alice-1", "alice"), envs[0].client("bob-1", "bob")
	bob.publish(1, false)
	bob.e = envs[1]
	ws := bob.mustDialInbox(0)
	ga, _ := mls.CreateGroup(alice.ident, nil, nil)
	pc, err := ga.Commit(mls.CommitOptions{Add: []*mls.KeyPackage{parseKP(t, alice.claim("bob")[0].KeyPackage)}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if st, out := alice.do("POST", gpath(ga)+"/commit", ds.CommitBundle{Commit: marshal(t, pc.Commit), Welcome: marshal(t, pc.Welcome)}); st != 200 {
		t.Fatalf("commit: %d %s", st, out)
	}
	got := readWS(t, ws).next(1)
	if got[0].Seq != 1 || !bytes.Equal(got[0].Message, marshal(t, pc.Welcome)) {
		t.Fatalf("pushed %+v, want the Welcome as seq 1", got[0].Seq)
	}
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Fatalf("delivery through the other server pushed after %v", d)
	}
}

// TestWebSocketClientsGoAway checks that sockets whose clients close, drop
// the connection, or stop reading all end on the server: the open-socket
// gauge returns to zero and no goroutine is left behind.
func TestWebSocketClientsGoAway(t *testing.T) {
	e := newEnv(t)
	e.srv.WriteTimeout = 300 * time.Millisecond
	e.srv.PollInterval = 100 * time.Millisecond
	bob := e.client("bob-1", "bob")
	base := runtime.NumGoroutine()

	// A client with a tiny receive buffer that never reads: the server's
	// writes block once the socket buffers are full.
	slowTransport := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			c.(*net.TCPConn).SetReadBuffer(4096)
		}
		return c, err
	}}
	slow, st, err := bob.dialInbox(0, &http.Client{Transport: slowTransport})
	if err != nil {
		t.Fatalf("dial: %d %v", st, err)
	}
	closing := bob.mustDialInbox(0)
	dropping := bob.mustDialInbox(0)
	waitGauge(t, e, "mlsd_open_websockets", 3)

	closing.Close(websocket.StatusNormalClosure, "bye")
	dropping.CloseNow()
	waitGauge(t, e, "mlsd_open_websockets", 1)
	// 12 MiB of messages, more than the loopback buffers hold.
	big := bytes.Repeat([]byte{0xAB}, 1<<20)
	for range 12 {
		if err := e.store.Deliver(context.Background(), []string{"bob-1"}, big); err != nil {
			t.Fatal(err)
		}
	}
	waitGauge(t, e, "mlsd_open_websockets", 0)
	slow.CloseNow()
	slowTransport.CloseIdleConnections()
	http.DefaultClient.CloseIdleConnections()

	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before the sockets:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

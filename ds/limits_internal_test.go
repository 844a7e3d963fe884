package ds

import (
	"net/http"
	"testing"
	"time"
)

// TestLimiterSet checks the token bucket's refusal delay and that sweep
// drops only buckets that are full again.
func TestLimiterSet(t *testing.T) {
	var l limiterSet
	now := time.Now()
	for i := range 2 {
		if ok, _ := l.allow("a", 2, 2, now); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, d := l.allow("a", 2, 2, now)
	if ok || d != 500*time.Millisecond {
		t.Fatalf("over the burst: %v, %v; want refused for 500ms", ok, d)
	}
	// The refusal took no token: half a second later one is there.
	if ok, _ := l.allow("a", 2, 2, now.Add(500*time.Millisecond)); !ok {
		t.Fatal("refused after the announced delay")
	}
	if ok, _ := l.allow("b", 2, 2, now); !ok {
		t.Fatal("another key refused")
	}
	if ok, _ := l.allow("c", 0, 0, now); !ok {
		t.Fatal("rate 0 (no limit) refused")
	}
	l.sweep(now.Add(time.Second)) // "b" is full again, "a" not yet
	if n := l.size(); n != 1 {
		t.Fatalf("%d buckets after the first sweep, want 1", n)
	}
	l.sweep(now.Add(2 * time.Second))
	if n := l.size(); n != 0 {
		t.Fatalf("%d buckets after the second sweep, want 0", n)
	}
}

func TestRemoteIPKeysIPv6By64(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7:4000":             "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ff::1]:443":   "2001:db8:1:2::/64",
		"[2001:db8:1:3::1]:443":      "2001:db8:1:3::/64",
		"no port":                    "no port",
	} {
		if got := remoteIP(&http.Request{RemoteAddr: addr}); got != want {
			t.Errorf("remoteIP(%q) = %q, want %q", addr, got, want)
		}
	}
}

func TestParseWSAck(t *testing.T) {
	for frame, want := range map[string]bool{
		`{"ack":5}`:       true,
		` {"ack": 0} `:    true,
		`{}`:              false,
		`null`:            false,
		`{"foo":1}`:       false,
		`{"ack":5,"x":1}`: false,
		`{"ack":5}{}`:     false,
		`{"ack":-1}`:      false,
		`{"ack":"5"}`:     false,
	} {
		a, ok := parseWSAck([]byte(frame))
		if ok != want || (ok && a.Ack != map[string]uint64{`{"ack":5}`: 5, ` {"ack": 0} `: 0}[frame]) {
			t.Errorf("parseWSAck(%s) = %+v, %v; want ok=%v", frame, a, ok, want)
		}
	}
}

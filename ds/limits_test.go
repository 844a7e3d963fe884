package ds_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/arbormls/mls/ds"
)

// TestClientRateLimit checks the per-client token bucket: the burst
// passes, the next request gets 429 with a Retry-After, other clients are
// not affected, and after the wait the client is let in again.
func TestClientRateLimit(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.client("alice-1", "alice"), e.client("bob-1", "bob")
	e.srv.Limits = ds.Limits{ClientRate: 4, ClientBurst: 3}
	for i := range 3 {
		if st, _ := alice.do("GET", "/v1/keypackages/count", nil); st != 200 {
			t.Fatalf("request %d of the burst: %d", i, st)
		}
	}
	st, h, _ := alice.requestH("GET", "/v1/keypackages/count", nil, nil)
	if retry := h.Get("Retry-After"); st != http.StatusTooManyRequests || retry != "1" {
		t.Fatalf("over the burst: %d, Retry-After %q; want 429, 1", st, retry)
	}
	if st, _ := bob.do("GET", "/v1/keypackages/count", nil); st != 200 {
		t.Fatalf("another client: %d", st)
	}
	time.Sleep(300 * time.Millisecond) // > 1/4 s: one token back
	if st, _ := alice.do("GET", "/v1/keypackages/count", nil); st != 200 {
		t.Fatalf("after waiting: %d", st)
	}
	if v := scrape(t, e)[`mlsd_rate_limited_total{limit="client"}`]; v != 1 {
		t.Fatalf("client rate limited = %v, want 1", v)
	}
}

// TestIPRateLimit checks the per-address bucket, which applies before
// authentication and spares health checks and metrics.
func TestIPRateLimit(t *testing.T) {
	e := newEnv(t)
	alice := e.client("alice-1", "alice")
	e.srv.Limits = ds.Limits{IPRate: 0.5, IPBurst: 2}
	for range 2 {
		if st, _ := alice.do("GET", "/v1/keypackages/count", nil); st != 200 {
			t.Fatalf("within the burst: %d", st)
		}
	}
	resp, err := http.Get(e.ts.URL + "/v1/keypackages/count") // unsigned
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if secs, _ := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != http.StatusTooManyRequests || secs < 1 || secs > 2 {
		t.Fatalf("over the burst, unsigned: %d, Retry-After %q; want 429 within 2 s", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if resp, err := http.Get(e.ts.URL + p); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s under the IP limit: %v", p, err)
		} else {
			resp.Body.Close()
		}
	}
	if v := scrape(t, e)[`mlsd_rate_limited_total{limit="ip"}`]; v != 1 {
		t.Fatalf("ip rate limited = %v, want 1", v)
	}
}

// TestStreamLimit checks MaxStreams counts a client's long polls and
// WebSockets together, and frees a slot when one ends.
func TestStreamLimit(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.client("alice-1", "alice"), e.client("bob-1", "bob")
	e.srv.Limits = ds.Limits{MaxStreams: 1}
	done := make(chan []ds.InboxMessage)
	go func() { done <- bob.inbox(0, "4s") }()
	waitGauge(t, e, "mlsd_open_long_polls", 1)
	if st, _ := bob.do("GET", "/v1/inbox?wait=1s", nil); st != http.StatusTooManyRequests {
		t.Fatalf("second long poll: %d, want 429", st)
	}
	if _, st, err := bob.dialInbox(0, nil); err == nil || st != http.StatusTooManyRequests {
		t.Fatalf("WebSocket beside a long poll: %d %v, want 429", st, err)
	}
	if st, _ := bob.do("GET", "/v1/inbox", nil); st != 200 {
		t.Fatalf("an inbox read that does not wait: %d", st)
	}
	ws := alice.mustDialInbox(0) // another client's slot
	if err := e.store.Deliver(t.Context(), []string{"bob-1"}, []byte("m")); err != nil {
		t.Fatal(err)
	}
	if got := <-done; len(got) != 1 {
		t.Fatalf("long poll got %d messages", len(got))
	}
	ws2 := bob.mustDialInbox(1)
	if st, _ := bob.do("GET", "/v1/inbox?wait=1s", nil); st != http.StatusTooManyRequests {
		t.Fatalf("long poll beside a WebSocket: %d, want 429", st)
	}
	ws.CloseNow()
	ws2.CloseNow()
	if v := scrape(t, e)[`mlsd_rate_limited_total{limit="streams"}`]; v != 3 {
		t.Fatalf("streams limited = %v, want 3", v)
	}
}

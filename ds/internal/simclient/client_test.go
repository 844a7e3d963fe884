package simclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/ds"
	"github.com/arbormls/mls/ds/internal/simclient"
)

// request is what a fake server saw of one request.
type request struct {
	path, voucher string
	body          []byte
}

// fake starts a server that records each request and answers status with
// body.
func fake(t *testing.T, status int, body string) (*httptest.Server, *[]request) {
	t.Helper()
	var seen []request
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen = append(seen, request{r.URL.Path, r.Header.Get(ds.HeaderVoucher), b})
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(ts.Close)
	return ts, &seen
}

func newClient(t *testing.T, url, id string) *simclient.Client {
	t.Helper()
	c, err := simclient.NewClient(url, nil, id, "u", ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAnswered checks Answered and Conflict on an epoch conflict, another
// refusal, and no answer at all.
func TestAnswered(t *testing.T) {
	ctx := context.Background()
	conflict, _ := fake(t, http.StatusConflict, `{"error":"wrong epoch","epoch":7}`)
	c := newClient(t, conflict.URL, "a")
	_, err := c.PostMessage(ctx, []byte("g"), mustProtect(t, c))
	if e, ok := simclient.Conflict(err); !ok || e != 7 || !simclient.Answered(err) {
		t.Fatalf("409: Conflict = %d, %v; Answered = %v (%v)", e, ok, simclient.Answered(err), err)
	}

	refused, _ := fake(t, http.StatusBadRequest, `{"error":"no"}`)
	c.URL = refused.URL
	err = c.Ack(ctx, 1)
	if _, ok := simclient.Conflict(err); ok || err == nil || !simclient.Answered(err) {
		t.Fatalf("400: Conflict = %v, Answered = %v (%v)", ok, simclient.Answered(err), err)
	}

	gone, _ := fake(t, http.StatusOK, "")
	c.URL = gone.URL
	gone.Close()
	err = c.Ack(ctx, 1)
	if _, ok := simclient.Conflict(err); ok || err == nil || simclient.Answered(err) {
		t.Fatalf("closed server: Conflict = %v, Answered = %v (%v)", ok, simclient.Answered(err), err)
	}
	if !simclient.Answered(nil) {
		t.Fatal("success is not an answer")
	}
}

// mustProtect returns an application message of a new group of c.
func mustProtect(t *testing.T, c *simclient.Client) []byte {
	t.Helper()
	m := simclient.NewMember(c, nil)
	g, err := m.Create()
	if err != nil {
		t.Fatal(err)
	}
	msg, err := m.Protect(g.GroupID(), []byte("hi"))
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// TestFieldsPerRequest checks that URL and HTTP, changed between
// requests, are those used, and that posted messages reach the server as
// the bytes given.
func TestFieldsPerRequest(t *testing.T) {
	ctx := context.Background()
	s1, seen1 := fake(t, http.StatusOK, `{"delivered":1}`)
	s2, seen2 := fake(t, http.StatusOK, `{"epoch":1}`)
	c := newClient(t, s1.URL, "a")
	msg := mustProtect(t, c)
	if n, err := c.PostMessage(ctx, []byte("g"), msg); err != nil || n != 1 {
		t.Fatalf("PostMessage = %d, %v", n, err)
	}
	if len(*seen1) != 1 || !bytes.Equal((*seen1)[0].body, msg) {
		t.Fatalf("server 1 saw %d requests, or another message", len(*seen1))
	}

	m := simclient.NewMember(c, nil)
	g, err := m.Create()
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := m.PrepareCommit(g.GroupID(), mls.CommitOptions{Update: true, GroupInfo: true})
	if err != nil {
		t.Fatal(err)
	}
	c.URL = s2.URL
	var trips int
	c.HTTP = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		trips++
		return http.DefaultTransport.RoundTrip(r)
	})}
	if e, err := c.PostCommit(ctx, g.GroupID(), bundle); err != nil || e != 1 {
		t.Fatalf("PostCommit = %d, %v", e, err)
	}
	if trips != 1 || len(*seen1) != 1 || len(*seen2) != 1 {
		t.Fatalf("%d trips through the HTTP client; servers saw %d and %d requests", trips, len(*seen1), len(*seen2))
	}
	var want, got ds.CommitBundle
	if err := json.Unmarshal(bundle, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal((*seen2)[0].body, &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Commit, want.Commit) || !bytes.Equal(got.GroupInfo, want.GroupInfo) || got.Welcome != nil {
		t.Fatal("the server got another bundle than the one posted")
	}
}

// TestRegisterVoucher checks that a client with a Voucher registers
// vouched for by it, and one without unvouched.
func TestRegisterVoucher(t *testing.T) {
	ts, seen := fake(t, http.StatusCreated, "")
	first := newClient(t, ts.URL, "u-1")
	second := newClient(t, ts.URL, "u-2")
	second.Voucher = first
	for _, c := range []*simclient.Client{first, second} {
		if err := c.Register(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if len(*seen) != 2 || (*seen)[0].voucher != "" || (*seen)[1].voucher != "u-1" {
		t.Fatalf("voucher headers: %+v", *seen)
	}
}

// TestBadURL checks that a URL mlsd cannot have fails at once.
func TestBadURL(t *testing.T) {
	if _, err := simclient.NewClient("127.0.0.1:7420", nil, "a", "u", ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519); err == nil {
		t.Fatal("a URL without a scheme was taken")
	}
}

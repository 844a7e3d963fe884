package dsclient

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
)

const suite = ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519

// seen is a request as the stub server received it, after its signature
// checked out.
type seen struct {
	method, path, query, contentType, nonce string
	body                                    []byte
}

// stub is an mlsd stand-in: it verifies every request's signature with
// the client's public key, as the real server does, records the request
// and answers with the status and body registered for its method and
// path.
type stub struct {
	t    *testing.T
	pub  []byte
	mu   sync.Mutex
	reqs []seen
	// answers maps "METHOD path" to a status and a body.
	answers map[string]func(r *http.Request) (int, string)
	// header, if set, sets headers of every answer.
	header func(w http.ResponseWriter)
}

func (s *stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := s.verify(r, body); err != nil {
		s.t.Errorf("%s %s: %v", r.Method, r.URL.Path, err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, seen{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Content-Type"), r.Header.Get(HeaderNonce), body})
	s.mu.Unlock()
	a, ok := s.answers[r.Method+" "+r.URL.EscapedPath()]
	if !ok {
		http.NotFound(w, r)
		return
	}
	st, out := a(r)
	if s.header != nil {
		s.header(w)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(st)
	io.WriteString(w, out)
}

// verify checks the headers the way ds.SignatureAuth does.
func (s *stub) verify(r *http.Request, body []byte) error {
	if r.Header.Get(HeaderClient) != "alice-1" {
		return errors.New("wrong client header")
	}
	ts, nonce := r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderNonce)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > time.Minute {
		return errors.New("bad timestamp")
	}
	if len(nonce) < 16 {
		return errors.New("short nonce")
	}
	sig, err := base64.StdEncoding.DecodeString(r.Header.Get(HeaderSignature))
	if err != nil {
		return err
	}
	cs, _ := ciphersuite.Lookup(suite)
	return cs.VerifyWithLabel(s.pub, RequestLabel, RequestContent(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, ts, nonce, body), sig)
}

func (s *stub) all() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

func (s *stub) last() seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs[len(s.reqs)-1]
}

func answer(st int, body string) func(*http.Request) (int, string) {
	return func(*http.Request) (int, string) { return st, body }
}

func newStub(t *testing.T) (*stub, *Client, *mls.Identity) {
	t.Helper()
	id, err := mls.NewBasicIdentity(suite, "alice")
	if err != nil {
		t.Fatal(err)
	}
	s := &stub{t: t, pub: id.SigningKey.PublicKey(), answers: map[string]func(*http.Request) (int, string){}}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	// A path prefix checks that the client keeps the server URL's path.
	c, err := New(ts.URL+"/ds/", "alice-1", id.SigningKey)
	if err != nil {
		t.Fatal(err)
	}
	return s, c, id
}

func wire(t *testing.T, m *mls.MLSMessage) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRegisterPublishCountClaim(t *testing.T) {
	s, c, id := newStub(t)
	ctx := context.Background()

	s.answers["POST /ds/v1/clients"] = answer(201, `{"id":"alice-1"}`)
	if err := c.Register(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	var reg RegisterRequest
	if err := json.Unmarshal(s.last().body, &reg); err != nil {
		t.Fatal(err)
	}
	if reg.ID != "alice-1" || reg.User != "alice" || reg.Suite != uint16(suite) || !bytes.Equal(reg.SignatureKey, id.SigningKey.PublicKey()) {
		t.Fatalf("register body = %+v", reg)
	}

	kp, err := mls.NewKeyPackage(id, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.answers["POST /ds/v1/keypackages"] = answer(200, `{"count":7}`)
	n, err := c.PublishKeyPackages(ctx, []*mls.KeyPackage{kp.KeyPackage})
	if err != nil || n != 7 {
		t.Fatalf("publish = %d, %v; want 7", n, err)
	}
	var pub KeyPackagesRequest
	if err := json.Unmarshal(s.last().body, &pub); err != nil {
		t.Fatal(err)
	}
	if len(pub.KeyPackages) != 1 || !bytes.Equal(pub.KeyPackages[0], wire(t, &mls.MLSMessage{KeyPackage: kp.KeyPackage})) {
		t.Fatal("published body is not the KeyPackage's MLSMessage")
	}

	s.answers["GET /ds/v1/keypackages/count"] = answer(200, `{"count":3}`)
	if n, err := c.CountKeyPackages(ctx); err != nil || n != 3 {
		t.Fatalf("count = %d, %v", n, err)
	}

	// A user name with a slash stays one path element.
	kpJSON, _ := json.Marshal(wire(t, &mls.MLSMessage{KeyPackage: kp.KeyPackage}))
	s.answers["POST /ds/v1/users/b%2Fob/claim"] = answer(200, `{"key_packages":[{"client":"bob-1","key_package":`+string(kpJSON)+`,"last_resort":true},{"client":"bob-2","key_package":"AAEC"}]}`)
	claimed, err := c.Claim(ctx, "b/ob")
	if err != nil {
		t.Fatal(err)
	}
	if len(claimed) != 2 || claimed[0].Client != "bob-1" || !claimed[0].LastResort || claimed[1].LastResort {
		t.Fatalf("claim = %+v", claimed)
	}
	got, err := claimed[0].Parse()
	if err != nil || !bytes.Equal(got.Raw(), kp.KeyPackage.Raw()) {
		t.Fatalf("claimed KeyPackage does not parse back: %v", err)
	}
	if _, err := claimed[1].Parse(); err == nil || !strings.Contains(err.Error(), "bob-2") {
		t.Fatalf("malformed KeyPackage: %v, want an error naming the client", err)
	}
	if _, err := c.Claim(ctx, ""); err == nil {
		t.Fatal("empty user accepted")
	}
}

// group returns a group of alice and a pending commit adding bob, with a
// Welcome and a GroupInfo.
func group(t *testing.T, alice *mls.Identity) (*mls.Group, *mls.PendingCommit) {
	t.Helper()
	bob, _ := mls.NewBasicIdentity(suite, "bob")
	kp, err := mls.NewKeyPackage(bob, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := mls.CreateGroup(alice, nil, &mls.CreateOptions{GroupID: []byte("team?/")})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := g.Commit(mls.CommitOptions{Add: []*mls.KeyPackage{kp.KeyPackage}, GroupInfo: true})
	if err != nil {
		t.Fatal(err)
	}
	return g, pc
}

func TestCommitSendGroupInfo(t *testing.T) {
	s, c, id := newStub(t)
	ctx := context.Background()
	g, pc := group(t, id)
	gpath := "/ds/v1/groups/" + base64.RawURLEncoding.EncodeToString(g.GroupID())

	s.answers["POST "+gpath+"/commit"] = answer(200, `{"epoch":1}`)
	epoch, err := c.Commit(ctx, g.GroupID(), pc.Commit, pc.Welcome, pc.GroupInfo)
	if err != nil || epoch != 1 {
		t.Fatalf("commit = %d, %v", epoch, err)
	}
	var b CommitBundle
	if err := json.Unmarshal(s.last().body, &b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Commit, wire(t, pc.Commit)) || !bytes.Equal(b.Welcome, wire(t, pc.Welcome)) || !bytes.Equal(b.GroupInfo, wire(t, pc.GroupInfo)) {
		t.Fatal("commit bundle does not hold the messages given")
	}
	// Without Welcome and GroupInfo the fields are left out.
	if _, err := c.Commit(ctx, g.GroupID(), pc.Commit, nil, nil); err != nil {
		t.Fatal(err)
	}
	if body := string(s.last().body); strings.Contains(body, "welcome") || strings.Contains(body, "group_info") {
		t.Fatalf("empty fields sent: %s", body)
	}

	// Another commit won the epoch.
	s.answers["POST "+gpath+"/commit"] = answer(409, `{"error":"mls: ds: epoch conflict","epoch":4}`)
	_, err = c.Commit(ctx, g.GroupID(), pc.Commit, nil, nil)
	var conflict *ConflictError
	if !errors.As(err, &conflict) || conflict.Epoch != 4 {
		t.Fatalf("conflict = %v, want a *ConflictError with epoch 4", err)
	}
	var herr *Error
	if !errors.As(err, &herr) || herr.Status != 409 || herr.Message != "mls: ds: epoch conflict" {
		t.Fatalf("conflict does not unwrap to the 409 *Error: %+v", herr)
	}

	if _, err := g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	m, err := g.Send([]byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	s.answers["POST "+gpath+"/messages"] = answer(200, `{"delivered":2}`)
	if n, err := c.Send(ctx, g.GroupID(), m); err != nil || n != 2 {
		t.Fatalf("send = %d, %v", n, err)
	}
	if r := s.last(); r.contentType != ContentTypeMLS || !bytes.Equal(r.body, wire(t, m)) {
		t.Fatalf("message sent as %q, or not in its wire form", r.contentType)
	}
	s.answers["POST "+gpath+"/messages"] = answer(409, `{"error":"mls: ds: message epoch out of range","epoch":9}`)
	if _, err := c.Send(ctx, g.GroupID(), m); !errors.As(err, &conflict) || conflict.Epoch != 9 {
		t.Fatalf("stale message: %v", err)
	}

	s.answers["GET "+gpath+"/groupinfo"] = func(*http.Request) (int, string) { return 200, string(wire(t, pc.GroupInfo)) }
	gi, err := c.GroupInfo(ctx, g.GroupID())
	if err != nil || !bytes.Equal(wire(t, gi), wire(t, pc.GroupInfo)) {
		t.Fatalf("groupinfo: %v", err)
	}
	s.answers["GET "+gpath+"/groupinfo"] = func(*http.Request) (int, string) { return 200, string(wire(t, pc.Commit)) }
	if _, err := c.GroupInfo(ctx, g.GroupID()); err == nil {
		t.Fatal("a commit was taken for a GroupInfo")
	}
}

func TestInboxAck(t *testing.T) {
	s, c, _ := newStub(t)
	ctx := context.Background()
	s.answers["GET /ds/v1/inbox"] = answer(200, `{"messages":[{"seq":5,"message":"AAEC"},{"seq":6,"message":"AwQ="}]}`)
	msgs, err := c.Inbox(ctx, 4, 1500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].Seq != 5 || !bytes.Equal(msgs[1].Message, []byte{3, 4}) {
		t.Fatalf("inbox = %+v", msgs)
	}
	if q := s.last().query; q != "after=4&wait=1.5s" {
		t.Fatalf("query = %q", q)
	}
	if _, err := msgs[0].Parse(); err == nil {
		t.Fatal("malformed message parsed")
	}
	if _, err := c.Inbox(ctx, 0, 0); err != nil {
		t.Fatal(err)
	}
	if q := s.last().query; q != "after=0" {
		t.Fatalf("query without wait = %q", q)
	}
	// A page that does not go forward is refused: processing it could
	// skip or repeat messages.
	if _, err := c.Inbox(ctx, 5, 0); err == nil {
		t.Fatal("a page starting at the cursor was accepted")
	}
	s.answers["GET /ds/v1/inbox"] = answer(200, `{"messages":[{"seq":6},{"seq":5}]}`)
	if _, err := c.Inbox(ctx, 0, 0); err == nil {
		t.Fatal("a page out of order was accepted")
	}
	if _, err := c.Inbox(ctx, 0, -time.Second); err == nil {
		t.Fatal("negative wait accepted")
	}

	s.answers["POST /ds/v1/inbox/ack"] = answer(204, ``)
	if err := c.Ack(ctx, 6); err != nil {
		t.Fatal(err)
	}
	var ack AckRequest
	if err := json.Unmarshal(s.last().body, &ack); err != nil || ack.Seq != 6 {
		t.Fatalf("ack body %s", s.last().body)
	}
}

// TestLongPollCancel checks a long poll ends when its context does.
func TestLongPollCancel(t *testing.T) {
	s, c, _ := newStub(t)
	release := make(chan struct{})
	defer close(release)
	s.answers["GET /ds/v1/inbox"] = func(r *http.Request) (int, string) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return 200, `{"messages":[]}`
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Inbox(ctx, 0, 30*time.Second)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cancelled long poll returned after %v", d)
	}
}

func TestErrors(t *testing.T) {
	s, c, _ := newStub(t)
	ctx := context.Background()
	s.answers["GET /ds/v1/keypackages/count"] = answer(403, `{"error":"mls: ds: not a member"}`)
	_, err := c.CountKeyPackages(ctx)
	var herr *Error
	if !errors.As(err, &herr) || herr.Status != 403 || herr.Message != "mls: ds: not a member" {
		t.Fatalf("err = %v", err)
	}
	var conflict *ConflictError
	if errors.As(err, &conflict) {
		t.Fatal("a 403 is a conflict")
	}
	// A proxy's page: the first line, without control characters.
	s.answers["GET /ds/v1/keypackages/count"] = answer(502, "<html>bad\x1b[31m gateway\nmore</html>")
	if _, err := c.CountKeyPackages(ctx); !errors.As(err, &herr) || herr.Status != 502 || herr.Message != "<html>bad[31m gateway" {
		t.Fatalf("err = %#v", err)
	}
	// The server's own JSON error text is untrusted too: one printable line.
	s.answers["GET /ds/v1/keypackages/count"] = answer(500, `{"error":"\u001b]0;x\u0007\u001b[2Jalice: hi\nbob"}`)
	if _, err := c.CountKeyPackages(ctx); !errors.As(err, &herr) || herr.Message != "]0;x[2Jalice: hi" {
		t.Fatalf("err = %#v", err)
	}
	// A 409 without an epoch is a plain *Error.
	s.answers["POST /ds/v1/clients"] = answer(409, `{"error":"mls: ds: client id or signature key already registered"}`)
	if err := c.Register(ctx, "alice"); errors.As(err, &conflict) || !errors.As(err, &herr) || herr.Status != 409 {
		t.Fatalf("register conflict = %v", err)
	}
	// Unknown path: the mux's 404.
	if _, err := c.Inbox(ctx, 0, 0); !errors.As(err, &herr) || herr.Status != 404 {
		t.Fatalf("err = %v", err)
	}
	// A success whose body is not the JSON expected.
	s.answers["GET /ds/v1/keypackages/count"] = answer(200, `[1]`)
	if _, err := c.CountKeyPackages(ctx); err == nil || errors.As(err, &herr) {
		t.Fatalf("bad JSON answer: %v", err)
	}
	// An answer beyond MaxResponse.
	s.answers["GET /ds/v1/keypackages/count"] = answer(200, `{"count":1,"pad":"`+strings.Repeat("x", 100)+`"}`)
	c.MaxResponse = 64
	if _, err := c.CountKeyPackages(ctx); err == nil || !strings.Contains(err.Error(), "longer than 64 bytes") {
		t.Fatalf("large answer: %v", err)
	}
	// No server.
	c2, _ := New("http://127.0.0.1:1", "alice-1", c.key)
	if _, err := c2.CountKeyPackages(ctx); err == nil {
		t.Fatal("no error without a server")
	}
}

// TestRateLimit checks a 429 is sent again after the Retry-After asked,
// signed afresh, and given up on after three retries.
func TestRateLimit(t *testing.T) {
	s, c, _ := newStub(t)
	var waits []time.Duration
	c.sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	refusals := 2
	s.answers["GET /ds/v1/keypackages/count"] = func(r *http.Request) (int, string) {
		if refusals > 0 {
			refusals--
			return 429, `{"error":"mls: ds: too many requests from this client"}`
		}
		return 200, `{"count":4}`
	}
	retryAfter := []string{"2", "soon"}
	s.header = func(w http.ResponseWriter) {
		if len(retryAfter) > 0 {
			w.Header().Set("Retry-After", retryAfter[0])
			retryAfter = retryAfter[1:]
		}
	}
	if n, err := c.CountKeyPackages(context.Background()); err != nil || n != 4 {
		t.Fatalf("count = %d, %v", n, err)
	}
	// A Retry-After that is not a number of seconds counts as one second.
	if !slices.Equal(waits, []time.Duration{2 * time.Second, time.Second}) {
		t.Fatalf("waits = %v", waits)
	}
	nonces := map[string]bool{}
	for _, r := range s.all() {
		nonces[r.nonce] = true
	}
	if n := len(s.all()); n != 3 || len(nonces) != 3 {
		t.Fatalf("%d requests with %d nonces, want 3 and 3", n, len(nonces))
	}

	// Always refused: the fourth 429 is the error, with its wait.
	refusals = 100
	retryAfter = []string{"7", "7", "7", "7"}
	_, err := c.CountKeyPackages(context.Background())
	var herr *Error
	if !errors.As(err, &herr) || herr.Status != 429 || herr.RetryAfter != 7*time.Second {
		t.Fatalf("err = %#v", err)
	}
	if n := len(s.all()); n != 7 {
		t.Fatalf("%d requests, want 3 + 4", n)
	}
	// A cancelled context ends the waiting.
	c.sleep = nil
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.CountKeyPackages(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want the context's", err)
	}
}

func TestNew(t *testing.T) {
	id, _ := mls.NewBasicIdentity(suite, "alice")
	for _, u := range []string{"", "127.0.0.1:7420", "ftp://host", "http://", "http://u:p@host", "http://host/?q=1", "http://host/#f", "http://[::1"} {
		if _, err := New(u, "alice-1", id.SigningKey); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
	if _, err := New("http://host", "", id.SigningKey); err == nil {
		t.Error("empty client ID accepted")
	}
	if _, err := New("http://host", "a", nil); err == nil {
		t.Error("nil key accepted")
	}
	c, err := New("https://host:8443", "alice-1", id.SigningKey)
	if err != nil || c.ID() != "alice-1" {
		t.Fatalf("New: %v", err)
	}
}

// TestRequestContent checks that the length prefixes keep fields apart:
// moving bytes from one field to the next changes the content.
func TestRequestContent(t *testing.T) {
	a := RequestContent("GET", "/v1/inbox", "after=1", "100", "n", nil)
	for _, b := range [][]byte{
		RequestContent("GET", "/v1/inboxafter=1", "", "100", "n", nil),
		RequestContent("GET", "/v1/inbox", "after=11", "00", "n", nil),
		RequestContent("GET", "/v1/inbox", "after=1", "100", "n", []byte{0}),
	} {
		if bytes.Equal(a, b) {
			t.Fatalf("two requests share the content %x", a)
		}
	}
	// A nil body and an empty one are the same body.
	if !bytes.Equal(a, RequestContent("GET", "/v1/inbox", "after=1", "100", "n", []byte{})) {
		t.Fatal("nil and empty bodies differ")
	}
}

// TestRegisterDevice: the voucher's headers name it and carry its
// signature over the same request content as the new client's, also on a
// resend after 429 (signed afresh, with a new nonce).
func TestRegisterDevice(t *testing.T) {
	s, c, id := newStub(t)
	ctx := context.Background()
	voucher, err := mls.NewBasicIdentity(suite, "alice")
	if err != nil {
		t.Fatal(err)
	}
	cs, _ := ciphersuite.Lookup(suite)
	calls := 0
	s.answers["POST /ds/v1/clients"] = func(r *http.Request) (int, string) {
		calls++
		if r.Header.Get(HeaderVoucher) != "alice-0" {
			t.Errorf("voucher header %q", r.Header.Get(HeaderVoucher))
		}
		sig, err := base64.StdEncoding.DecodeString(r.Header.Get(HeaderVoucherSignature))
		content := RequestContent(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderNonce), s.last().body)
		if err != nil || cs.VerifyWithLabel(voucher.SigningKey.PublicKey(), RequestLabel, content, sig) != nil {
			t.Errorf("attempt %d: voucher signature does not verify: %v", calls, err)
		}
		if calls == 1 {
			return http.StatusTooManyRequests, `{"error":"slow down"}`
		}
		return http.StatusCreated, `{"id":"alice-1"}`
	}
	c.sleep = func(context.Context, time.Duration) error { return nil }
	if err := c.RegisterDevice(ctx, "alice", "alice-0", voucher.SigningKey); err != nil {
		t.Fatal(err)
	}
	reqs := s.all()
	if calls != 2 || len(reqs) != 2 || reqs[0].nonce == reqs[1].nonce {
		t.Fatalf("%d calls, requests %+v; want a resend with a new nonce", calls, reqs)
	}
	var reg RegisterRequest
	if err := json.Unmarshal(reqs[1].body, &reg); err != nil {
		t.Fatal(err)
	}
	if reg.ID != "alice-1" || reg.User != "alice" || !bytes.Equal(reg.SignatureKey, id.SigningKey.PublicKey()) {
		t.Fatalf("register body = %+v", reg)
	}
	if err := c.RegisterDevice(ctx, "alice", "", voucher.SigningKey); err == nil {
		t.Fatal("RegisterDevice without a voucher ID succeeded")
	}
}

package ds_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/ds"
	"github.com/arbormls/mls/ds/sqlite"
)

const suite = ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519

type env struct {
	t     *testing.T
	srv   *ds.Server
	ts    *httptest.Server
	store *sqlite.Store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ds.db"))
	if err != nil {
		t.Fatal(err)
	}
	srv := ds.NewServer(st, testLog(t))
	srv.AllowUnverified = true // its groups send PrivateMessage handshakes
	srv.MaxWait = 5 * time.Second
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { ts.Close(); st.Close() })
	return &env{t: t, srv: srv, ts: ts, store: st}
}

// testLog is a logger whose lines show only for a failing test (or -v).
func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

type client struct {
	e     *env
	id    string
	user  string
	ident *mls.Identity
	kps   map[string]*mls.KeyPackageBundle // by ref
}

// request sends a request signed by c and returns status and body.
func (c *client) request(method, path string, body []byte, mutate func(*http.Request)) (int, []byte) {
	c.e.t.Helper()
	st, _, out := c.requestH(method, path, body, mutate)
	return st, out
}

// requestH is request returning the answer's header too.
func (c *client) requestH(method, path string, body []byte, mutate func(*http.Request)) (int, http.Header, []byte) {
	c.e.t.Helper()
	req, err := http.NewRequest(method, c.e.ts.URL+path, bytes.NewReader(body))
	if err != nil {
		c.e.t.Fatal(err)
	}
	if err := ds.SignRequest(req, c.id, c.ident.SigningKey, body); err != nil {
		c.e.t.Fatal(err)
	}
	if mutate != nil {
		mutate(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out
}

func (c *client) do(method, path string, v any) (int, []byte) {
	c.e.t.Helper()
	var body []byte
	switch v := v.(type) {
	case nil:
	case []byte:
		body = v
	default:
		var err error
		if body, err = json.Marshal(v); err != nil {
			c.e.t.Fatal(err)
		}
	}
	return c.request(method, path, body, nil)
}

func (e *env) client(id, user string) *client {
	e.t.Helper()
	ident, err := mls.NewBasicIdentity(suite, id)
	if err != nil {
		e.t.Fatal(err)
	}
	c := &client{e: e, id: id, user: user, ident: ident, kps: map[string]*mls.KeyPackageBundle{}}
	st, out := c.do("POST", "/v1/clients", ds.RegisterRequest{ID: id, User: user, Suite: uint16(suite), SignatureKey: ident.SigningKey.PublicKey()})
	if st != http.StatusCreated {
		e.t.Fatalf("register %s: %d %s", id, st, out)
	}
	return c
}

// publish makes n KeyPackages (and a last-resort one if lastResort) and
// publishes them; it returns the count the server reports.
func (c *client) publish(n int, lastResort bool) int {
	c.e.t.Helper()
	var req ds.KeyPackagesRequest
	for i := 0; i < n+1; i++ {
		if i == n && !lastResort {
			break
		}
		b, err := mls.NewKeyPackage(c.ident, &mls.KeyPackageOptions{LastResort: i == n})
		if err != nil {
			c.e.t.Fatal(err)
		}
		ref, _ := b.KeyPackage.Ref()
		c.kps[string(ref)] = b
		data, err := (&mls.MLSMessage{KeyPackage: b.KeyPackage}).MarshalBinary()
		if err != nil {
			c.e.t.Fatal(err)
		}
		req.KeyPackages = append(req.KeyPackages, data)
	}
	st, out := c.do("POST", "/v1/keypackages", req)
	if st != http.StatusOK {
		c.e.t.Fatalf("publish: %d %s", st, out)
	}
	var r struct{ Count int }
	json.Unmarshal(out, &r)
	return r.Count
}

func (c *client) claim(user string) []ds.ClaimedKeyPackage {
	c.e.t.Helper()
	st, out := c.do("POST", "/v1/users/"+user+"/claim", nil)
	if st != http.StatusOK {
		c.e.t.Fatalf("claim: %d %s", st, out)
	}
	var r struct {
		KeyPackages []ds.ClaimedKeyPackage `json:"key_packages"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		c.e.t.Fatal(err)
	}
	return r.KeyPackages
}

func (c *client) inbox(after uint64, wait string) []ds.InboxMessage {
	c.e.t.Helper()
	st, out := c.do("GET", fmt.Sprintf("/v1/inbox?after=%d&wait=%s", after, wait), nil)
	if st != http.StatusOK {
		c.e.t.Fatalf("inbox: %d %s", st, out)
	}
	var r struct{ Messages []ds.InboxMessage }
	if err := json.Unmarshal(out, &r); err != nil {
		c.e.t.Fatal(err)
	}
	return r.Messages
}

func marshal(t *testing.T, m *mls.MLSMessage) []byte {
	t.Helper()
	if m == nil {
		return nil
	}
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gpath(g *mls.Group) string {
	return "/v1/groups/" + base64.RawURLEncoding.EncodeToString(g.GroupID())
}

func parseKP(t *testing.T, data []byte) *mls.KeyPackage {
	t.Helper()
	var m mls.MLSMessage
	if err := m.UnmarshalBinary(data); err != nil || m.KeyPackage == nil {
		t.Fatalf("claimed data is not a KeyPackage: %v", err)
	}
	return m.KeyPackage
}

// TestGroupFlow runs a whole exchange with real MLS objects: register,
// publish, claim, a commit adding bob with a Welcome and a GroupInfo, bob
// joins from his inbox, messages both ways, ack, and the GroupInfo fetch.
func TestGroupFlow(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.client("alice-1", "alice"), e.client("bob-1", "bob")
	if n := bob.publish(3, true); n != 3 {
		t.Fatalf("count after publish = %d, want 3", n)
	}
	claimed := alice.claim("bob")
	if len(claimed) != 1 || claimed[0].Client != "bob-1" || claimed[0].LastResort {
		t.Fatalf("claim = %+v", claimed)
	}
	st, out := bob.do("GET", "/v1/keypackages/count", nil)
	if st != 200 || !bytes.Contains(out, []byte(`"count":2`)) {
		t.Fatalf("count = %d %s, want 2", st, out)
	}

	// Public handshakes, so the server sees the senders' leaves.
	cfg := &mls.Config{PublicHandshake: true}
	ga, err := mls.CreateGroup(alice.ident, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := ga.Commit(mls.CommitOptions{Add: []*mls.KeyPackage{parseKP(t, claimed[0].KeyPackage)}, GroupInfo: true})
	if err != nil {
		t.Fatal(err)
	}
	bundle := ds.CommitBundle{Commit: marshal(t, pc.Commit), Welcome: marshal(t, pc.Welcome), GroupInfo: marshal(t, pc.GroupInfo)}
	if st, out := alice.do("POST", gpath(ga)+"/commit", bundle); st != 200 || !bytes.Contains(out, []byte(`"epoch":1`)) {
		t.Fatalf("commit: %d %s", st, out)
	}
	if _, err := ga.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	// The same bundle again is for an epoch that is over.
	if st, out := alice.do("POST", gpath(ga)+"/commit", bundle); st != http.StatusConflict || !bytes.Contains(out, []byte(`"epoch":1`)) {
		t.Fatalf("replayed commit: %d %s", st, out)
	}

	msgs := bob.inbox(0, "0s")
	if len(msgs) != 1 {
		t.Fatalf("bob's inbox has %d messages, want the Welcome", len(msgs))
	}
	var welcome mls.MLSMessage
	if err := welcome.UnmarshalBinary(msgs[0].Message); err != nil || welcome.Welcome == nil {
		t.Fatal("bob's first message is not a Welcome")
	}
	var bundleKP *mls.KeyPackageBundle
	for _, b := range bob.kps {
		if !b.KeyPackage.IsLastResort() && bytes.Equal(b.KeyPackage.Raw(), parseKP(t, claimed[0].KeyPackage).Raw()) {
			bundleKP = b
		}
	}
	gb, err := mls.Join(bob.ident, &welcome, bundleKP, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}

	// bob -> alice, then alice -> bob, in order.
	for i := range 3 {
		m, err := gb.Send([]byte(fmt.Sprint("hello ", i)))
		if err != nil {
			t.Fatal(err)
		}
		if st, out := bob.do("POST", gpath(gb)+"/messages", marshal(t, m)); st != 200 {
			t.Fatalf("send: %d %s", st, out)
		}
	}
	got := alice.inbox(0, "0s")
	if len(got) != 3 {
		t.Fatalf("alice got %d messages, want 3", len(got))
	}
	for i, m := range got {
		var msg mls.MLSMessage
		if err := msg.UnmarshalBinary(m.Message); err != nil {
			t.Fatal(err)
		}
		r, err := ga.Process(&msg)
		if err != nil {
			t.Fatal(err)
		}
		if string(r.Data) != fmt.Sprint("hello ", i) {
			t.Fatalf("message %d = %q", i, r.Data)
		}
		if i > 0 && m.Seq <= got[i-1].Seq {
			t.Fatal("inbox sequence numbers do not increase")
		}
	}
	if st, _ := alice.do("POST", "/v1/inbox/ack", ds.AckRequest{Seq: got[1].Seq}); st != http.StatusNoContent {
		t.Fatalf("ack: %d", st)
	}
	if left := alice.inbox(0, "0s"); len(left) != 1 || left[0].Seq != got[2].Seq {
		t.Fatalf("after ack: %+v", left)
	}

	// GroupInfo: members only, and it is the one committed.
	st, out = bob.do("GET", gpath(ga)+"/groupinfo", nil)
	if st != 200 || !bytes.Equal(out, bundle.GroupInfo) {
		t.Fatalf("groupinfo: %d", st)
	}
	carol := e.client("carol-1", "carol")
	if st, _ := carol.do("GET", gpath(ga)+"/groupinfo", nil); st != http.StatusForbidden {
		t.Fatalf("non-member groupinfo: %d, want 403", st)
	}
	// A non-member cannot send into the group.
	m, _ := gb.Send([]byte("x"))
	if st, _ := carol.do("POST", gpath(ga)+"/messages", marshal(t, m)); st != http.StatusForbidden {
		t.Fatalf("non-member send: %d, want 403", st)
	}
	// A commit to the messages endpoint is refused.
	pc2, err := ga.Commit(mls.CommitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := alice.do("POST", gpath(ga)+"/messages", marshal(t, pc2.Commit)); st != http.StatusBadRequest {
		t.Fatalf("commit as message: %d, want 400", st)
	}
	// A message whose group is not the path's is refused.
	if st, _ := alice.do("POST", "/v1/groups/b3RoZXI/messages", marshal(t, m)); st != http.StatusBadRequest {
		t.Fatalf("wrong group: %d, want 400", st)
	}

	// The server follows the group: the verified tree holds the leaves.
	if _, v, err := e.store.ObserverState(context.Background(), ga.GroupID()); err != nil || v != 1 {
		t.Fatalf("observer state version %d, %v; want 1", v, err)
	}
	// bob cannot pass off alice's signed proposal as his own.
	if err := ga.DiscardPendingCommit(); err != nil {
		t.Fatal(err)
	}
	prop, err := ga.ProposeUpdate()
	if err != nil {
		t.Fatal(err)
	}
	if prop.PublicMessage == nil {
		t.Fatal("proposal is not a PublicMessage")
	}
	if st, _ := bob.do("POST", gpath(ga)+"/messages", marshal(t, prop)); st != http.StatusForbidden {
		t.Fatalf("proposal of another leaf: %d, want 403", st)
	}
	if st, _ := alice.do("POST", gpath(ga)+"/messages", marshal(t, prop)); st != 200 {
		t.Fatalf("alice's own proposal: %d, want 200", st)
	}
	// alice removes bob; the new GroupInfo's tree drops him from the
	// server's member set, and he gets the commit that removes him.
	pc3, err := ga.Commit(mls.CommitOptions{Remove: []mls.LeafIndex{1}, GroupInfo: true, IgnorePending: true})
	if err != nil {
		t.Fatal(err)
	}
	if st, out := alice.do("POST", gpath(ga)+"/commit", ds.CommitBundle{Commit: marshal(t, pc3.Commit), GroupInfo: marshal(t, pc3.GroupInfo)}); st != 200 {
		t.Fatalf("remove commit: %d %s", st, out)
	}
	if last := bob.inbox(0, "0s"); !bytes.Equal(last[len(last)-1].Message, marshal(t, pc3.Commit)) {
		t.Fatal("the removed member did not get the commit removing him")
	}
	m, _ = gb.Send([]byte("still here?"))
	if st, _ := bob.do("POST", gpath(ga)+"/messages", marshal(t, m)); st != http.StatusForbidden {
		t.Fatalf("removed member send: %d, want 403", st)
	}
	if ms, _ := e.store.Members(context.Background(), ga.GroupID()); len(ms) != 1 || ms[0] != "alice-1" {
		t.Fatalf("members after removal = %v", ms)
	}
}

// TestLongPoll checks a waiting inbox request wakes on delivery.
func TestLongPoll(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.client("alice-1", "alice"), e.client("bob-1", "bob")
	bob.publish(1, false)
	ga, _ := mls.CreateGroup(alice.ident, nil, nil)
	pc, err := ga.Commit(mls.CommitOptions{Add: []*mls.KeyPackage{parseKP(t, alice.claim("bob")[0].KeyPackage)}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan []ds.InboxMessage)
	start := time.Now()
	go func() { done <- bob.inbox(0, "4s") }()
	time.Sleep(200 * time.Millisecond)
	if st, out := alice.do("POST", gpath(ga)+"/commit", ds.CommitBundle{Commit: marshal(t, pc.Commit), Welcome: marshal(t, pc.Welcome)}); st != 200 {
		t.Fatalf("commit: %d %s", st, out)
	}
	msgs := <-done
	if len(msgs) != 1 {
		t.Fatalf("long poll returned %d messages", len(msgs))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("long poll took %v, did not wake on delivery", d)
	}
	// With nothing to deliver it waits for the time asked.
	start = time.Now()
	if msgs := bob.inbox(msgs[0].Seq, "1500ms"); len(msgs) != 0 {
		t.Fatal("unexpected message")
	}
	if d := time.Since(start); d < 1400*time.Millisecond {
		t.Fatalf("empty long poll returned after %v", d)
	}
}

// TestClaimRace claims one user's KeyPackages from 20 goroutines: every
// ordinary KeyPackage is handed out at most once, and the last-resort one
// is returned, repeatedly, once they are gone.
func TestClaimRace(t *testing.T) {
	e := newEnv(t)
	bob := e.client("bob-1", "bob")
	bob.publish(10, true)
	claimers := make([]*client, 20)
	for i := range claimers {
		claimers[i] = e.client(fmt.Sprint("c", i), fmt.Sprint("u", i))
	}
	var mu sync.Mutex
	seen := map[string]int{}
	lastResort := 0
	var wg sync.WaitGroup
	for _, c := range claimers {
		wg.Go(func() {
			for _, kp := range c.claim("bob") {
				mu.Lock()
				if kp.LastResort {
					lastResort++
					if !parseKP(t, kp.KeyPackage).IsLastResort() {
						t.Error("last_resort flag on an ordinary KeyPackage")
					}
				} else {
					seen[string(kp.KeyPackage)]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != 10 || lastResort != 10 {
		t.Fatalf("%d distinct ordinary, %d last resort; want 10 and 10", len(seen), lastResort)
	}
	for _, n := range seen {
		if n != 1 {
			t.Fatal("a KeyPackage was claimed twice")
		}
	}
	st, out := bob.do("GET", "/v1/keypackages/count", nil)
	if st != 200 || !bytes.Contains(out, []byte(`"count":0`)) {
		t.Fatalf("count = %s", out)
	}
}

// TestCommitRace has every member of a group submit a commit for the same
// epoch at once: exactly one is accepted, the others get 409 with the new
// epoch.
func TestCommitRace(t *testing.T) {
	e := newEnv(t)
	const n = 6
	cs := make([]*client, n)
	for i := range cs {
		cs[i] = e.client(fmt.Sprint("m", i), fmt.Sprint("user", i))
		if i > 0 {
			cs[i].publish(1, false)
		}
	}
	g0, pc := groupOfAll(t, cs)
	if st, out := cs[0].do("POST", gpath(g0)+"/commit", ds.CommitBundle{Commit: marshal(t, pc.Commit), Welcome: marshal(t, pc.Welcome)}); st != 200 {
		t.Fatalf("commit: %d %s", st, out)
	}
	statuses, outs := raceCommits(t, cs, joinAll(t, cs, g0))
	ok := 0
	for i, st := range statuses {
		switch st {
		case 200:
			ok++
		case http.StatusConflict:
			var r struct{ Epoch uint64 }
			if json.Unmarshal(outs[i], &r) != nil || r.Epoch != 2 {
				t.Fatalf("conflict answer %s, want epoch 2", outs[i])
			}
		default:
			t.Fatalf("commit %d: %d %s", i, st, outs[i])
		}
	}
	if ok != 1 {
		t.Fatalf("%d commits accepted, want exactly 1", ok)
	}
	if ep, _ := e.store.Epoch(context.Background(), g0.GroupID()); ep != 2 {
		t.Fatalf("epoch = %d, want 2", ep)
	}
}

// TestAuthFailures checks each way a request's authentication can fail.
func TestAuthFailures(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.client("alice-1", "alice"), e.client("bob-1", "bob")
	cases := []struct {
		name   string
		mutate func(*http.Request)
	}{
		{"bad signature", func(r *http.Request) {
			sig, _ := base64.StdEncoding.DecodeString(r.Header.Get(ds.HeaderSignature))
			sig[0] ^= 1
			r.Header.Set(ds.HeaderSignature, base64.StdEncoding.EncodeToString(sig))
		}},
		{"other client's id", func(r *http.Request) { r.Header.Set(ds.HeaderClient, "bob-1") }},
		{"unknown client", func(r *http.Request) { r.Header.Set(ds.HeaderClient, "nobody") }},
		{"stale timestamp", func(r *http.Request) {
			// Re-signed, so only the timestamp is wrong.
			r.Header.Set(ds.HeaderTimestamp, fmt.Sprint(time.Now().Add(-10*time.Minute).Unix()))
		}},
		{"no headers", func(r *http.Request) { r.Header = http.Header{} }},
	}
	for _, c := range cases {
		if st, _ := alice.request("GET", "/v1/inbox", nil, c.mutate); st != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", c.name, st)
		}
	}
	// A stale but correctly signed request.
	srv := e.srv
	srv.Auth = &ds.SignatureAuth{Store: e.store, Now: func() time.Time { return time.Now().Add(5 * time.Minute) }}
	if st, _ := alice.do("GET", "/v1/inbox", nil); st != http.StatusUnauthorized {
		t.Errorf("signed stale request: %d, want 401", st)
	}
	srv.Auth = &ds.SignatureAuth{Store: e.store}

	// A replayed request: same headers twice.
	var saved http.Header
	if st, _ := alice.request("GET", "/v1/inbox", nil, func(r *http.Request) { saved = r.Header.Clone() }); st != 200 {
		t.Fatalf("first request: %d", st)
	}
	if st, _ := alice.request("GET", "/v1/inbox", nil, func(r *http.Request) { r.Header = saved }); st != http.StatusUnauthorized {
		t.Errorf("replayed nonce: %d, want 401", st)
	}
	// A signature over another path or body does not carry over.
	if st, _ := alice.request("GET", "/v1/keypackages/count", nil, func(r *http.Request) {
		r.URL.Path = "/v1/inbox"
	}); st != http.StatusUnauthorized {
		t.Errorf("path changed: %d, want 401", st)
	}
	// Registration must be signed by the key registered.
	ident, _ := mls.NewBasicIdentity(suite, "mallory")
	body, _ := json.Marshal(ds.RegisterRequest{ID: "mallory-1", User: "mallory", Suite: uint16(suite), SignatureKey: ident.SigningKey.PublicKey()})
	mallory := &client{e: e, id: "mallory-1", ident: bob.ident}
	if st, _ := mallory.do("POST", "/v1/clients", body); st != http.StatusUnauthorized {
		t.Errorf("registration signed by another key: %d, want 401", st)
	}
	// Publishing another client's KeyPackage is refused.
	b, _ := mls.NewKeyPackage(bob.ident, nil)
	data, _ := (&mls.MLSMessage{KeyPackage: b.KeyPackage}).MarshalBinary()
	if st, _ := alice.do("POST", "/v1/keypackages", ds.KeyPackagesRequest{KeyPackages: [][]byte{data}}); st != http.StatusBadRequest {
		t.Errorf("foreign KeyPackage: %d, want 400", st)
	}
}

func TestBodyTooLarge(t *testing.T) {
	e := newEnv(t)
	alice := e.client("alice-1", "alice")
	e.srv.MaxBody = 1024
	if st, _ := alice.do("POST", "/v1/keypackages", make([]byte, 2048)); st != http.StatusRequestEntityTooLarge {
		t.Fatalf("large body: %d, want 413", st)
	}
}

// groupOfAll has cs[0] create a group and commit (not yet sent) adding a
// claimed KeyPackage of every other client's user.
func groupOfAll(t *testing.T, cs []*client) (*mls.Group, *mls.PendingCommit) {
	t.Helper()
	g0, err := mls.CreateGroup(cs[0].ident, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var adds []*mls.KeyPackage
	for _, c := range cs[1:] {
		adds = append(adds, parseKP(t, cs[0].claim(c.user)[0].KeyPackage))
	}
	pc, err := g0.Commit(mls.CommitOptions{Add: adds})
	if err != nil {
		t.Fatal(err)
	}
	return g0, pc
}

// joinAll merges g0's accepted commit and joins every other client of cs
// from the Welcome in its inbox; it returns the groups of all, in order.
func joinAll(t *testing.T, cs []*client, g0 *mls.Group) []*mls.Group {
	t.Helper()
	if _, err := g0.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	groups := []*mls.Group{g0}
	for i, c := range cs[1:] {
		msgs := c.inbox(0, "0s")
		var w mls.MLSMessage
		if len(msgs) != 1 || w.UnmarshalBinary(msgs[0].Message) != nil {
			t.Fatalf("member %d has no Welcome", i+1)
		}
		var kb *mls.KeyPackageBundle
		for _, b := range c.kps {
			kb = b
		}
		g, err := mls.Join(c.ident, &w, kb, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		groups = append(groups, g)
	}
	return groups
}

// raceCommits has every client send a commit for the groups' epoch at
// once; it returns the statuses and bodies of the answers.
func raceCommits(t *testing.T, cs []*client, groups []*mls.Group) ([]int, [][]byte) {
	t.Helper()
	bodies := make([][]byte, len(cs))
	for i, g := range groups {
		pc, err := g.Commit(mls.CommitOptions{Update: true})
		if err != nil {
			t.Fatal(err)
		}
		bodies[i], _ = json.Marshal(ds.CommitBundle{Commit: marshal(t, pc.Commit)})
	}
	statuses := make([]int, len(cs))
	outs := make([][]byte, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() { statuses[i], outs[i] = c.do("POST", gpath(groups[0])+"/commit", bodies[i]) })
	}
	wg.Wait()
	return statuses, outs
}

// TestMalformed checks malformed requests get 400, not a panic or a 500.
func TestMalformed(t *testing.T) {
	e := newEnv(t)
	alice := e.client("alice-1", "alice")
	g := "/v1/groups/Z3JvdXA"
	cases := []struct {
		method, path string
		body         []byte
	}{
		{"POST", g + "/messages", []byte("not MLS")},
		{"POST", g + "/messages", nil},
		{"POST", g + "/commit", []byte("{")},
		{"POST", g + "/commit", []byte(`{"commit":"AAEC"}`)},
		{"POST", "/v1/groups/!!/commit", []byte(`{}`)},
		{"POST", "/v1/keypackages", []byte(`{"key_packages":["AAEC"]}`)},
		{"POST", "/v1/keypackages", []byte(`{"key_packages":[]}`)},
		{"POST", "/v1/inbox/ack", []byte(`{"seq":"x"}`)},
		{"GET", "/v1/inbox?after=-1", nil},
		{"GET", "/v1/inbox?wait=soon", nil},
	}
	for _, c := range cases {
		if st, out := alice.do(c.method, c.path, c.body); st != http.StatusBadRequest {
			t.Errorf("%s %s %q: %d %s, want 400", c.method, c.path, c.body, st, out)
		}
	}
}

// Package storetest is the behaviour test suite every ds.Store must pass.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/arbormls/mls/ds"
)

// Run runs the suite; open returns a fresh, empty store for each test.
func Run(t *testing.T, open func(t *testing.T) ds.Store) {
	tests := []struct {
		name string
		f    func(t *testing.T, s ds.Store)
	}{
		{"Clients", testClients},
		{"Vouchers", testVouchers},
		{"FirstClientRace", testFirstClientRace},
		{"ClientCapRace", testClientCapRace},
		{"Nonces", testNonces},
		{"KeyPackages", testKeyPackages},
		{"ClaimRace", testClaimRace},
		{"Commits", testCommits},
		{"CommitRace", testCommitRace},
		{"Inbox", testInbox},
		{"SendToGroup", testSendToGroup},
		{"SendDuringCommits", testSendDuringCommits},
		{"GC", testGC},
		{"OneCopy", testOneCopy},
		{"Quotas", testQuotas},
		{"LogCollect", testLogCollect},
		{"Observers", testObservers},
		{"Reset", testReset},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tc.f(t, s)
		})
	}
}

var ctx = context.Background()

// send appends data to group g's log from sender, at epoch with window.
func send(s ds.Store, g []byte, sender string, epoch, window uint64, data []byte) (int, error) {
	return s.SendToGroup(ctx, &ds.GroupMessage{GroupID: g, Sender: sender, Epoch: epoch, Window: window, Data: data})
}

func mustClient(t *testing.T, s ds.Store, id, user string) {
	t.Helper()
	if err := s.CreateClient(ctx, &ds.Client{ID: id, User: user, Suite: 1, SignatureKey: []byte("key of " + id)}); err != nil {
		t.Fatal(err)
	}
}

// mustDevice registers another client of user, vouched for by voucher.
func mustDevice(t *testing.T, s ds.Store, id, user, voucher string) {
	t.Helper()
	if err := s.CreateClient(ctx, &ds.Client{ID: id, User: user, Suite: 1, SignatureKey: []byte("key of " + id), VouchedBy: voucher}); err != nil {
		t.Fatal(err)
	}
}

func testVouchers(t *testing.T, s ds.Store) {
	mustClient(t, s, "a1", "a")
	mustClient(t, s, "b1", "b")
	create := func(id, voucher string) error {
		return s.CreateClient(ctx, &ds.Client{ID: id, User: "a", Suite: 1, SignatureKey: []byte("key of " + id), VouchedBy: voucher})
	}
	if err := create("a2", ""); !errors.Is(err, ds.ErrVoucherRequired) {
		t.Fatalf("second client without voucher: %v", err)
	}
	if err := create("a2", "b1"); !errors.Is(err, ds.ErrBadVoucher) {
		t.Fatalf("voucher of another user: %v", err)
	}
	if err := create("a2", "nobody"); !errors.Is(err, ds.ErrBadVoucher) {
		t.Fatalf("unknown voucher: %v", err)
	}
	if err := s.CreateClient(ctx, &ds.Client{ID: "c1", User: "c", Suite: 1, SignatureKey: []byte("key of c1"), VouchedBy: "a1"}); !errors.Is(err, ds.ErrBadVoucher) {
		t.Fatalf("first client of a user with a voucher of another: %v", err)
	}
	// The refused registrations left nothing behind.
	if _, err := s.Client(ctx, "a2"); !errors.Is(err, ds.ErrNotFound) {
		t.Fatalf("refused client stored: %v", err)
	}
	if err := create("a2", "a1"); err != nil {
		t.Fatal(err)
	}
	c, err := s.Client(ctx, "a2")
	if err != nil || c.User != "a" || c.VouchedBy != "a1" {
		t.Fatalf("Client = %+v, %v", c, err)
	}
	if c, err := s.Client(ctx, "a1"); err != nil || c.VouchedBy != "" {
		t.Fatalf("first client = %+v, %v", c, err)
	}
	// A repeated registration is ErrExists whatever its voucher.
	if err := create("a2", ""); !errors.Is(err, ds.ErrExists) {
		t.Fatalf("repeated registration: %v", err)
	}
	// A vouched client vouches in turn; up to MaxClientsPerUser.
	for i := 3; i <= ds.MaxClientsPerUser; i++ {
		if err := create(fmt.Sprint("a", i), fmt.Sprint("a", i-1)); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
	}
	if err := create("one-too-many", "a1"); !errors.Is(err, ds.ErrTooManyClients) {
		t.Fatalf("client %d: %v", ds.MaxClientsPerUser+1, err)
	}
	kps, err := s.ClaimKeyPackages(ctx, "a")
	if err != nil || len(kps) != 0 {
		t.Fatalf("claim of a user without KeyPackages: %v, %v", kps, err)
	}
}

// testFirstClientRace: registrations of many clients of one new user at
// once, none vouched for: exactly one becomes the user's first client.
func testFirstClientRace(t *testing.T, s ds.Store) {
	ok := registerAtOnce(t, s, 16, "r", "racer", "", ds.ErrVoucherRequired)
	if ok != 1 {
		t.Fatalf("%d first clients of one user", ok)
	}
}

// testClientCapRace: vouched registrations at once for a user a few short
// of MaxClientsPerUser: exactly as many as fit are accepted.
func testClientCapRace(t *testing.T, s ds.Store) {
	const free = 3
	mustClient(t, s, "u0", "u")
	for i := 1; i < ds.MaxClientsPerUser-free; i++ {
		mustDevice(t, s, fmt.Sprint("u", i), "u", "u0")
	}
	if ok := registerAtOnce(t, s, 12, "late", "u", "u0", ds.ErrTooManyClients); ok != free {
		t.Fatalf("%d registrations accepted, %d places were free", ok, free)
	}
}

// registerAtOnce registers n clients prefix0, prefix1, ... of user (vouched
// for by voucher, if any) from n goroutines released together, and returns
// how many were accepted; a refusal other than refused fails the test.
func registerAtOnce(t *testing.T, s ds.Store, n int, prefix, user, voucher string, refused error) int {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			id := fmt.Sprint(prefix, i)
			errs[i] = s.CreateClient(ctx, &ds.Client{ID: id, User: user, Suite: 1, SignatureKey: []byte("key of " + id), VouchedBy: voucher})
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, refused):
			t.Errorf("%s%d: %v", prefix, i, err)
		}
	}
	return ok
}

func testClients(t *testing.T, s ds.Store) {
	mustClient(t, s, "a1", "a")
	c, err := s.Client(ctx, "a1")
	if err != nil || c.User != "a" || c.Suite != 1 || string(c.SignatureKey) != "key of a1" {
		t.Fatalf("Client = %+v, %v", c, err)
	}
	if err := s.CreateClient(ctx, &ds.Client{ID: "a1", User: "x", Suite: 1, SignatureKey: []byte("other")}); !errors.Is(err, ds.ErrExists) {
		t.Fatalf("duplicate id: %v", err)
	}
	if err := s.CreateClient(ctx, &ds.Client{ID: "a2", User: "x", Suite: 1, SignatureKey: []byte("key of a1")}); !errors.Is(err, ds.ErrExists) {
		t.Fatalf("duplicate signature key: %v", err)
	}
	if _, err := s.Client(ctx, "nobody"); !errors.Is(err, ds.ErrNotFound) {
		t.Fatalf("unknown client: %v", err)
	}
}

func testNonces(t *testing.T, s ds.Store) {
	mustClient(t, s, "a1", "a")
	exp := time.Now().Add(time.Minute)
	if err := s.UseNonce(ctx, "a1", "n1", exp); err != nil {
		t.Fatal(err)
	}
	if err := s.UseNonce(ctx, "a1", "n1", exp); !errors.Is(err, ds.ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	if err := s.UseNonce(ctx, "a1", "n2", exp); err != nil {
		t.Fatal(err)
	}
	// An expired nonce is forgotten (its timestamp is refused anyway).
	if err := s.UseNonce(ctx, "a1", "old", time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.UseNonce(ctx, "a1", "old", exp); err != nil {
		t.Fatalf("expired nonce: %v", err)
	}
}

func kps(client string, n int, lastResort bool) []ds.KeyPackage {
	var out []ds.KeyPackage
	for i := range n {
		out = append(out, ds.KeyPackage{Ref: []byte(fmt.Sprintf("%s-ref-%d", client, i)), ClientID: client, Data: []byte(fmt.Sprintf("%s-kp-%d", client, i))})
	}
	if lastResort {
		out = append(out, ds.KeyPackage{Ref: []byte(client + "-ref-lr"), ClientID: client, Data: []byte(client + "-kp-lr"), LastResort: true})
	}
	return out
}

func testKeyPackages(t *testing.T, s ds.Store) {
	mustClient(t, s, "b1", "b")
	mustDevice(t, s, "b2", "b", "b1")
	mustClient(t, s, "c1", "c")
	if err := s.AddKeyPackages(ctx, kps("b1", 2, true)); err != nil {
		t.Fatal(err)
	}
	if err := s.AddKeyPackages(ctx, kps("b2", 1, false)); err != nil {
		t.Fatal(err)
	}
	// Publishing the same again changes nothing.
	if err := s.AddKeyPackages(ctx, kps("b1", 2, true)); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.CountKeyPackages(ctx, "b1"); n != 2 {
		t.Fatalf("count = %d, want 2", n)
	}
	got, err := s.ClaimKeyPackages(ctx, "b")
	if err != nil || len(got) != 2 || got[0].ClientID != "b1" || string(got[0].Data) != "b1-kp-0" || got[1].ClientID != "b2" {
		t.Fatalf("first claim = %+v, %v", got, err)
	}
	got, _ = s.ClaimKeyPackages(ctx, "b")
	if len(got) != 1 || string(got[0].Data) != "b1-kp-1" {
		t.Fatalf("second claim = %+v (b2 has nothing left)", got)
	}
	for range 3 {
		got, _ = s.ClaimKeyPackages(ctx, "b")
		if len(got) != 1 || !got[0].LastResort || string(got[0].Data) != "b1-kp-lr" {
			t.Fatalf("claim after exhaustion = %+v, want the last resort", got)
		}
	}
	if n, _ := s.CountKeyPackages(ctx, "b1"); n != 0 {
		t.Fatalf("count = %d, want 0", n)
	}
	if got, _ := s.ClaimKeyPackages(ctx, "nobody"); len(got) != 0 {
		t.Fatal("claim for an unknown user returned KeyPackages")
	}
	if owner, err := s.KeyPackageOwner(ctx, []byte("b2-ref-0")); err != nil || owner != "b2" {
		t.Fatalf("owner = %q, %v", owner, err)
	}
	if _, err := s.KeyPackageOwner(ctx, []byte("nope")); !errors.Is(err, ds.ErrNotFound) {
		t.Fatalf("unknown ref: %v", err)
	}
}

func testClaimRace(t *testing.T, s ds.Store) {
	mustClient(t, s, "b1", "b")
	mustDevice(t, s, "b2", "b", "b1")
	if err := s.AddKeyPackages(ctx, kps("b1", 15, true)); err != nil {
		t.Fatal(err)
	}
	if err := s.AddKeyPackages(ctx, kps("b2", 15, true)); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			got, err := s.ClaimKeyPackages(ctx, "b")
			if err != nil {
				t.Error(err)
				return
			}
			if len(got) != 2 {
				t.Errorf("claim returned %d KeyPackages, want one per client", len(got))
			}
			mu.Lock()
			for _, kp := range got {
				if !kp.LastResort {
					seen[string(kp.Data)]++
				}
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(seen) != 30 {
		t.Fatalf("%d ordinary KeyPackages claimed, want all 30", len(seen))
	}
	for kp, n := range seen {
		if n != 1 {
			t.Fatalf("%s claimed %d times", kp, n)
		}
	}
}

func testCommits(t *testing.T, s ds.Store) {
	for _, id := range []string{"a", "b", "c", "x"} {
		mustClient(t, s, id, id)
	}
	g := []byte("group")
	if _, err := s.Epoch(ctx, g); !errors.Is(err, ds.ErrNotFound) {
		t.Fatalf("unknown group: %v", err)
	}
	if _, _, err := s.AcceptCommit(ctx, &ds.Commit{GroupID: g, Epoch: 3, Sender: "a", Commit: []byte("c")}); !errors.Is(err, ds.ErrNotFound) {
		t.Fatalf("commit to an unknown group past epoch 0: %v", err)
	}
	e, to, err := s.AcceptCommit(ctx, &ds.Commit{GroupID: g, Epoch: 0, Sender: "a", Commit: []byte("c0"), Welcome: []byte("w0"), NewMembers: []string{"b"}, GroupInfo: []byte("gi1")})
	if err != nil || e != 1 || fmt.Sprint(to) != "[b]" {
		t.Fatalf("first commit: %d, delivered to %v, %v", e, to, err)
	}
	var conflict *ds.EpochConflictError
	if _, _, err := s.AcceptCommit(ctx, &ds.Commit{GroupID: g, Epoch: 0, Sender: "x", Commit: []byte("c0'")}); !errors.As(err, &conflict) || conflict.Current != 1 {
		t.Fatalf("second creation: %v", err)
	}
	if ms, _ := s.Members(ctx, g); fmt.Sprint(ms) != "[a b]" {
		t.Fatalf("members = %v", ms)
	}
	if _, _, err := s.AcceptCommit(ctx, &ds.Commit{GroupID: g, Epoch: 1, Sender: "x", Commit: []byte("c1")}); !errors.Is(err, ds.ErrNotMember) {
		t.Fatalf("commit by a non-member: %v", err)
	}
	if ep, _ := s.Epoch(ctx, g); ep != 1 {
		t.Fatalf("a refused commit moved the epoch to %d", ep)
	}
	// An external commit brings its sender in; a removal takes one out.
	// The removed member receives the commit too.
	if e, to, err := s.AcceptCommit(ctx, &ds.Commit{GroupID: g, Epoch: 1, Sender: "c", External: true, Commit: []byte("c1"), Removed: []string{"b"}}); err != nil || e != 2 || len(to) != 0 {
		t.Fatalf("external commit: %d, delivered to %v, %v", e, to, err)
	}
	if ms, _ := s.Members(ctx, g); fmt.Sprint(ms) != "[a c]" {
		t.Fatalf("members = %v", ms)
	}
	if ok, _ := s.IsMember(ctx, g, "b"); ok {
		t.Fatal("removed member still a member")
	}
	if _, known, err := s.Leaf(ctx, g, "a"); err != nil || known {
		t.Fatalf("leaf known before any tree: %v, %v", known, err)
	}
	// A commit with the tree's leaves replaces the member set.
	if e, _, err := s.AcceptCommit(ctx, &ds.Commit{GroupID: g, Epoch: 2, Sender: "a", Commit: []byte("c2"), Leaves: map[string]uint32{"a": 0, "x": 3}}); err != nil || e != 3 {
		t.Fatalf("commit with leaves: %d, %v", e, err)
	}
	if ms, _ := s.Members(ctx, g); fmt.Sprint(ms) != "[a x]" {
		t.Fatalf("members = %v", ms)
	}
	if leaf, known, err := s.Leaf(ctx, g, "x"); err != nil || !known || leaf != 3 {
		t.Fatalf("leaf of x = %d, %v, %v", leaf, known, err)
	}
	if _, _, err := s.Leaf(ctx, g, "c"); !errors.Is(err, ds.ErrNotMember) {
		t.Fatalf("leaf of a non-member: %v", err)
	}
	if id, err := s.ClientByKey(ctx, []byte("key of x")); err != nil || id != "x" {
		t.Fatalf("ClientByKey = %q, %v", id, err)
	}
	if _, err := s.ClientByKey(ctx, []byte("nobody's")); !errors.Is(err, ds.ErrNotFound) {
		t.Fatalf("ClientByKey of an unknown key: %v", err)
	}
	if gi, err := s.LatestGroupInfo(ctx, g); err != nil || string(gi) != "gi1" {
		t.Fatalf("group info = %q, %v", gi, err)
	}
	// b got the Welcome, then the external commit; a got only the latter.
	if m, _ := s.Inbox(ctx, "b", 0, 10); len(m) != 2 || string(m[0].Data) != "w0" || string(m[1].Data) != "c1" {
		t.Fatalf("b's inbox = %+v", m)
	}
	if m, _ := s.Inbox(ctx, "a", 0, 10); len(m) != 1 || string(m[0].Data) != "c1" {
		t.Fatalf("a's inbox = %+v", m)
	}
	// c got a's commit c2, but not its own external commit c1.
	if m, _ := s.Inbox(ctx, "c", 0, 10); len(m) != 1 || string(m[0].Data) != "c2" {
		t.Fatalf("c's inbox = %+v", m)
	}
}

func testCommitRace(t *testing.T, s ds.Store) {
	const n = 12
	g := []byte("raced")
	var members []string
	for i := range n {
		id := fmt.Sprint("m", i)
		mustClient(t, s, id, id)
		members = append(members, id)
	}
	if _, _, err := s.AcceptCommit(ctx, &ds.Commit{GroupID: g, Sender: "m0", Commit: []byte("c"), Welcome: []byte("w"), NewMembers: members[1:]}); err != nil {
		t.Fatal(err)
	}
	for round := uint64(1); round <= 3; round++ {
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for _, m := range members {
			wg.Go(func() {
				_, _, err := s.AcceptCommit(ctx, &ds.Commit{GroupID: g, Epoch: round, Sender: m, Commit: []byte(m)})
				var conflict *ds.EpochConflictError
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					won++
				case errors.As(err, &conflict):
					if conflict.Current != round+1 {
						t.Errorf("conflict names epoch %d, want %d", conflict.Current, round+1)
					}
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if won != 1 {
			t.Fatalf("round %d: %d commits won, want 1", round, won)
		}
	}
	if ep, _ := s.Epoch(ctx, g); ep != 4 {
		t.Fatalf("epoch = %d, want 4", ep)
	}
}

func testSendToGroup(t *testing.T, s ds.Store) {
	for _, id := range []string{"a", "b", "c", "x"} {
		mustClient(t, s, id, id)
	}
	g := []byte("group")
	if _, err := send(s, g, "a", 0, 3, []byte("m")); !errors.Is(err, ds.ErrNotFound) {
		t.Fatalf("unknown group: %v", err)
	}
	if _, _, err := s.AcceptCommit(ctx, &ds.Commit{GroupID: g, Epoch: 0, Sender: "a", Commit: []byte("c0"), Welcome: []byte("w"), NewMembers: []string{"b", "c"}}); err != nil {
		t.Fatal(err)
	}
	for e := uint64(1); e < 5; e++ {
		if _, _, err := s.AcceptCommit(ctx, &ds.Commit{GroupID: g, Epoch: e, Sender: "a", Commit: []byte("c")}); err != nil {
			t.Fatal(err)
		}
	}
	to, err := send(s, g, "b", 5, 3, []byte("now"))
	if err != nil || to != 2 {
		t.Fatalf("send at the current epoch: %v, %v", to, err)
	}
	if _, err := send(s, g, "b", 2, 3, []byte("old")); err != nil {
		t.Fatalf("send 3 epochs back: %v", err)
	}
	var conflict *ds.EpochConflictError
	for _, e := range []uint64{1, 6} {
		if _, err := send(s, g, "b", e, 3, []byte("out")); !errors.As(err, &conflict) || conflict.Current != 5 {
			t.Fatalf("send at epoch %d: %v", e, err)
		}
	}
	if _, err := send(s, g, "x", 5, 3, []byte("x")); !errors.Is(err, ds.ErrNotMember) {
		t.Fatalf("send by a non-member: %v", err)
	}
	m, _ := s.Inbox(ctx, "c", 0, 100)
	if last := m[len(m)-2:]; string(last[0].Data) != "now" || string(last[1].Data) != "old" {
		t.Fatalf("c's inbox ends with %q, %q", last[0].Data, last[1].Data)
	}
	if m, _ := s.Inbox(ctx, "b", 0, 100); string(m[len(m)-1].Data) != "c" {
		t.Fatal("the sender got its own message")
	}
}

// testSendDuringCommits: messages sent while commits advance the epoch
// reach every recipient before any commit that leaves them more than the
// window behind: the epoch check and the delivery are one transaction.
func testSendDuringCommits(t *testing.T, s ds.Store) {
	const window = 1
	for _, id := range []string{"a", "b", "r"} {
		mustClient(t, s, id, id)
	}
	g := []byte("group")
	if _, _, err := s.AcceptCommit(ctx, &ds.Commit{GroupID: g, Epoch: 0, Sender: "a", Commit: []byte("c:1"), Welcome: []byte("c:1"), NewMembers: []string{"b", "r"}}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for e := uint64(1); e < 40; e++ {
			if _, _, err := s.AcceptCommit(ctx, &ds.Commit{GroupID: g, Epoch: e, Sender: "a", Commit: fmt.Appendf(nil, "c:%d", e+1)}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	accepted := 0
	wg.Go(func() {
		for range 200 {
			e, err := s.Epoch(ctx, g)
			if err != nil {
				t.Error(err)
				return
			}
			// Send at the epoch just read, as a client does; a commit may
			// land before the send.
			_, err = send(s, g, "b", e, window, fmt.Appendf(nil, "m:%d", e))
			var conflict *ds.EpochConflictError
			if err == nil {
				accepted++
			} else if !errors.As(err, &conflict) {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	m, err := s.Inbox(ctx, "r", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	epoch, got := uint64(0), 0
	for _, msg := range m {
		var kind byte
		var v uint64
		if _, err := fmt.Sscanf(string(msg.Data), "%c:%d", &kind, &v); err != nil {
			t.Fatalf("inbox entry %q: %v", msg.Data, err)
		}
		switch kind {
		case 'c':
			epoch = v
		case 'm':
			got++
			if v > epoch || epoch-v > window {
				t.Fatalf("message of epoch %d delivered at epoch %d", v, epoch)
			}
		}
	}
	if got != accepted || accepted == 0 {
		t.Fatalf("r got %d messages, %d accepted", got, accepted)
	}
}

func testInbox(t *testing.T, s ds.Store) {
	mustClient(t, s, "a", "a")
	mustClient(t, s, "b", "b")
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 10 {
				if err := s.Deliver(ctx, []string{"a", "b"}, []byte(fmt.Sprintf("%d-%d", w, i))); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for _, c := range []string{"a", "b"} {
		m, err := s.Inbox(ctx, c, 0, 100)
		if err != nil || len(m) != 40 {
			t.Fatalf("%s: %d messages, %v", c, len(m), err)
		}
		last := map[byte]int{}
		for i := range m {
			if m[i].Seq != uint64(i+1) {
				t.Fatalf("%s: seq %d at %d; one delivery to both is one number, so both read 1, 2, 3, ...", c, m[i].Seq, i)
			}
			var w, k int
			fmt.Sscanf(string(m[i].Data), "%d-%d", &w, &k)
			if k < last[byte(w)] {
				t.Fatal("one sender's messages out of order")
			}
			last[byte(w)] = k
		}
	}
	if err := s.Ack(ctx, "a", 30); err != nil {
		t.Fatal(err)
	}
	m, _ := s.Inbox(ctx, "a", 0, 100)
	if len(m) != 10 || m[0].Seq != 31 {
		t.Fatalf("after ack: %d messages from %d", len(m), m[0].Seq)
	}
	if m, _ := s.Inbox(ctx, "a", 35, 2); len(m) != 2 || m[0].Seq != 36 {
		t.Fatalf("paged read: %+v", m)
	}
	if m, _ := s.Inbox(ctx, "b", 0, 100); len(m) != 40 {
		t.Fatal("ack of a touched b's inbox")
	}
	if err := s.Deliver(ctx, []string{"nobody"}, []byte("x")); !errors.Is(err, ds.ErrNotFound) {
		t.Fatalf("delivery to an unknown client: %v", err)
	}
	// A page stops after the message that reaches MaxInboxPageBytes.
	mustClient(t, s, "big", "big")
	big := make([]byte, ds.MaxInboxPageBytes*3/4)
	for range 3 {
		if err := s.Deliver(ctx, []string{"big"}, big); err != nil {
			t.Fatal(err)
		}
	}
	m, err := s.Inbox(ctx, "big", 0, 100)
	if err != nil || len(m) != 2 {
		t.Fatalf("large messages: %d in a page, %v; want 2", len(m), err)
	}
	if rest, _ := s.Inbox(ctx, "big", m[1].Seq, 100); len(rest) != 1 || rest[0].Seq <= m[1].Seq {
		t.Fatal("the rest of the large messages")
	}
}

// testObservers checks the observer state of a verified group: stored by
// the creating commit and by every commit with one, raised in version by
// each change, and replaced by PutObserverState only from the version it
// read (a proposal cached while a commit landed is refused).
func testObservers(t *testing.T, s ds.Store) {
	mustClient(t, s, "a", "a")
	g := []byte("observed")
	if _, _, err := s.ObserverState(ctx, g); !errors.Is(err, ds.ErrNotFound) {
		t.Fatalf("observer of an unknown group: %v", err)
	}
	if ok, err := s.PutObserverState(ctx, g, 0, []byte("x")); ok || err != nil {
		t.Fatalf("put without a group: %v, %v", ok, err)
	}
	if _, _, err := s.AcceptCommit(ctx, &ds.Commit{GroupID: g, Epoch: 0, Sender: "a", Commit: []byte("c0"), Observer: []byte("s1"), Tree: []byte("t1"), KeepTrees: 1}); err != nil {
		t.Fatal(err)
	}
	if tree, err := s.RatchetTree(ctx, g, 1); err != nil || string(tree) != "t1" {
		t.Fatalf("tree of epoch 1: %q, %v", tree, err)
	}
	state, v, err := s.ObserverState(ctx, g)
	if err != nil || string(state) != "s1" || v != 1 {
		t.Fatalf("after creation: %q, %d, %v", state, v, err)
	}
	if ok, err := s.PutObserverState(ctx, g, v, []byte("s1+p")); !ok || err != nil {
		t.Fatalf("put: %v, %v", ok, err)
	}
	if ok, err := s.PutObserverState(ctx, g, v, []byte("stale")); ok || err != nil {
		t.Fatalf("put from a stale version: %v, %v", ok, err)
	}
	if _, _, err := s.AcceptCommit(ctx, &ds.Commit{GroupID: g, Epoch: 1, Sender: "a", Commit: []byte("c1"), Observer: []byte("s2"), Tree: []byte("t2"), KeepTrees: 0}); err != nil {
		t.Fatal(err)
	}
	// KeepTrees 0 keeps only the new epoch's tree.
	if tree, err := s.RatchetTree(ctx, g, 2); err != nil || string(tree) != "t2" {
		t.Fatalf("tree of epoch 2: %q, %v", tree, err)
	}
	if _, err := s.RatchetTree(ctx, g, 1); !errors.Is(err, ds.ErrNotFound) {
		t.Fatalf("tree of epoch 1 beyond KeepTrees: %v", err)
	}
	// A refused commit leaves the state alone.
	var conflict *ds.EpochConflictError
	if _, _, err := s.AcceptCommit(ctx, &ds.Commit{GroupID: g, Epoch: 1, Sender: "a", Commit: []byte("c1'"), Observer: []byte("lost")}); !errors.As(err, &conflict) {
		t.Fatalf("second commit of epoch 1: %v", err)
	}
	if state, v, err := s.ObserverState(ctx, g); err != nil || string(state) != "s2" || v != 3 {
		t.Fatalf("after the commit: %q, %d, %v", state, v, err)
	}
}

// testReset checks a reset commit (Commit.Reset): it replaces the commits
// after its epoch, only when the group is past that epoch.
func testReset(t *testing.T, s ds.Store) {
	mustClient(t, s, "a", "a")
	mustClient(t, s, "b", "b")
	g := []byte("reset")
	for e := uint64(0); e < 3; e++ {
		if _, _, err := s.AcceptCommit(ctx, &ds.Commit{GroupID: g, Epoch: e, Sender: "a", Commit: []byte("c"), NewMembers: []string{"b"}}); err != nil {
			t.Fatal(err)
		}
	}
	e, _, err := s.AcceptCommit(ctx, &ds.Commit{GroupID: g, Epoch: 1, Sender: "b", External: true, Reset: true, Commit: []byte("r"), Leaves: map[string]uint32{"a": 0, "b": 1}})
	if err != nil || e != 2 {
		t.Fatalf("reset: %d, %v", e, err)
	}
	if ms, _ := s.Members(ctx, g); fmt.Sprint(ms) != "[a b]" {
		t.Fatalf("members after the reset: %v", ms)
	}
	if ep, _ := s.Epoch(ctx, g); ep != 2 {
		t.Fatalf("epoch after the reset %d, want 2", ep)
	}
	var conflict *ds.EpochConflictError
	if _, _, err := s.AcceptCommit(ctx, &ds.Commit{GroupID: g, Epoch: 2, Sender: "b", External: true, Reset: true, Commit: []byte("r2")}); !errors.As(err, &conflict) || conflict.Current != 2 {
		t.Fatalf("reset of the current epoch: %v", err)
	}
}

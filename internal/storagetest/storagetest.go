// Package storagetest checks that an mls.Storage keeps the promises of the
// interface: round trips, ErrNotFound, copies in and out, consume-once
// KeyPackages with last-resort ones surviving, the resumption PSK bound,
// concurrent use, groups saved and loaded through the store, and, for an
// mls.GroupRecordStore, batches of records applied all or none. The tests of each implementation run it.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
)

// NewStore returns a fresh, empty store that keeps resumptionEpochs
// epochs' resumption PSKs per group.
type NewStore func(t *testing.T, resumptionEpochs int) mls.Storage

// Run runs every check on stores made by newStore.
func Run(t *testing.T, newStore NewStore) {
	t.Run("GroupState", func(t *testing.T) { testGroupState(t, newStore(t, 0)) })
	t.Run("KeyPackage", func(t *testing.T) { testKeyPackage(t, newStore(t, 0)) })
	t.Run("ExternalPSK", func(t *testing.T) { testExternalPSK(t, newStore(t, 0)) })
	t.Run("ResumptionPSK", func(t *testing.T) { testResumptionPSK(t, newStore(t, 3)) })
	t.Run("EmptyID", func(t *testing.T) { testEmptyID(t, newStore(t, 0)) })
	t.Run("Canceled", func(t *testing.T) { testCanceled(t, newStore(t, 0)) })
	t.Run("ConcurrentTake", func(t *testing.T) { testConcurrentTake(t, newStore(t, 0)) })
	t.Run("ConcurrentUse", func(t *testing.T) { testConcurrentUse(t, newStore(t, 2)) })
	t.Run("GroupSave", func(t *testing.T) { testGroupSave(t, newStore(t, 0)) })
	if _, ok := newStore(t, 0).(mls.GroupRecordStore); ok {
		t.Run("GroupRecords", func(t *testing.T) { testGroupRecords(t, newStore(t, 0).(mls.GroupRecordStore)) })
	}
}

// Suite is the cipher suite of the KeyPackages the tests make.
const Suite = ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519

// NewBundle returns a fresh KeyPackageBundle for name, a last-resort one
// if lastResort is set.
func NewBundle(t testing.TB, name string, lastResort bool) *mls.KeyPackageBundle {
	t.Helper()
	id, err := mls.NewBasicIdentity(Suite, name)
	if err != nil {
		t.Fatal(err)
	}
	b, err := mls.NewKeyPackage(id, &mls.KeyPackageOptions{LastResort: lastResort})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustEqual fails unless got equals want.
func mustEqual(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s = %x, want %x", what, got, want)
	}
}

// mustNotFound fails unless err is mls.ErrNotFound.
func mustNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, mls.ErrNotFound) {
		t.Fatalf("%s: got error %v, want mls.ErrNotFound", what, err)
	}
}

// mustList fails unless list returns want.
func mustList(t *testing.T, what string, list func(context.Context) ([][]byte, error), want ...[]byte) {
	t.Helper()
	got, err := list(t.Context())
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if want == nil {
		want = [][]byte{}
	}
	if got == nil {
		got = [][]byte{}
	}
	if !slices.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("%s = %x, want %x", what, got, want)
	}
}

// value is a key-value API as the group state and external PSK halves of
// mls.Storage have it.
type value struct {
	put func(ctx context.Context, id, v []byte) error
	get func(ctx context.Context, id []byte) ([]byte, error)
	del func(ctx context.Context, id []byte) error
}

// testValues checks round trips, replacement, deletion, ErrNotFound and
// copy semantics of a key-value API.
func testValues(t *testing.T, kv value) {
	ctx := t.Context()
	a, b := []byte{0xaa, 0x01}, []byte{0x00, 0xbb, 0x02}
	mustNotFound(t, "get missing", func() error { _, err := kv.get(ctx, a); return err }())
	mustNotFound(t, "delete missing", kv.del(ctx, a))

	in := []byte("secret state A")
	if err := kv.put(ctx, a, in); err != nil {
		t.Fatal(err)
	}
	if err := kv.put(ctx, b, []byte{}); err != nil {
		t.Fatal(err)
	}
	in[0] = 'X' // the store copied it
	got, err := kv.get(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "get", got, []byte("secret state A"))
	got[0] = 'Y' // the store handed out a copy
	got, _ = kv.get(ctx, a)
	mustEqual(t, "get after changing a result", got, []byte("secret state A"))
	if got, err := kv.get(ctx, b); err != nil || len(got) != 0 {
		t.Fatalf("empty value: got %x, %v", got, err)
	}

	if err := kv.put(ctx, a, []byte("state A2")); err != nil {
		t.Fatal(err)
	}
	got, _ = kv.get(ctx, a)
	mustEqual(t, "get after replace", got, []byte("state A2"))

	if err := kv.del(ctx, a); err != nil {
		t.Fatal(err)
	}
	mustNotFound(t, "get deleted", func() error { _, err := kv.get(ctx, a); return err }())
	mustNotFound(t, "delete deleted", kv.del(ctx, a))
	if _, err := kv.get(ctx, b); err != nil {
		t.Fatalf("deleting one entry lost another: %v", err)
	}
}

func testGroupState(t *testing.T, s mls.Storage) {
	testValues(t, value{put: s.PutGroupState, get: s.GroupState, del: s.DeleteGroupState})
	ids := [][]byte{{0xff}, {0x01, 0x02}, {0x01}, {0x00, 0xff}}
	for _, id := range ids {
		if err := s.PutGroupState(t.Context(), id, id); err != nil {
			t.Fatal(err)
		}
	}
	mustList(t, "GroupIDs", s.GroupIDs, []byte{0x00, 0xbb, 0x02}, []byte{0x00, 0xff}, []byte{0x01}, []byte{0x01, 0x02}, []byte{0xff})
}

func testExternalPSK(t *testing.T, s mls.Storage) {
	testValues(t, value{put: s.PutExternalPSK, get: s.ExternalPSK, del: s.DeleteExternalPSK})
	psk := []byte("external psk")
	if err := s.PutExternalPSK(t.Context(), []byte("id"), psk); err != nil {
		t.Fatal(err)
	}
	got, err := mls.LookupPSK(t.Context(), s, &mls.PreSharedKeyID{PSKType: mls.PSKTypeExternal, PSKID: []byte("id"), PSKNonce: []byte{1}})
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "LookupPSK", got, psk)
	// A resumption PSK's group ID is looked up among resumption PSKs only.
	_, err = mls.LookupPSK(t.Context(), s, &mls.PreSharedKeyID{PSKType: mls.PSKTypeResumption, PSKGroupID: []byte("id")})
	mustNotFound(t, "LookupPSK of a resumption PSK", err)
	if _, err := mls.LookupPSK(t.Context(), s, &mls.PreSharedKeyID{PSKType: 7}); err == nil || errors.Is(err, mls.ErrNotFound) {
		t.Fatalf("LookupPSK with an invalid psktype: %v", err)
	}
}

// sameBundle fails unless got holds the KeyPackage and private keys of
// want.
func sameBundle(t *testing.T, got, want *mls.KeyPackageBundle) {
	t.Helper()
	g, err := got.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	w, err := want.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g, w) {
		t.Fatalf("bundle %v differs from the one stored, %v", got, want)
	}
	mustEqual(t, "Ref", got.Ref(), want.Ref())
}

func testKeyPackage(t *testing.T, s mls.Storage) {
	ctx := t.Context()
	once := NewBundle(t, "alice", false)
	last := NewBundle(t, "alice", true)
	mustNotFound(t, "KeyPackage of a missing ref", func() error { _, err := s.KeyPackage(ctx, once.Ref()); return err }())
	mustNotFound(t, "TakeKeyPackage of a missing ref", func() error { _, err := s.TakeKeyPackage(ctx, once.Ref()); return err }())
	mustNotFound(t, "DeleteKeyPackage of a missing ref", s.DeleteKeyPackage(ctx, once.Ref()))
	for _, b := range []*mls.KeyPackageBundle{once, last} {
		if err := s.PutKeyPackage(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	want := [][]byte{once.Ref(), last.Ref()}
	slices.SortFunc(want, bytes.Compare)
	mustList(t, "KeyPackageRefs", s.KeyPackageRefs, want...)

	// Lookups do not consume, and hand out copies.
	for range 2 {
		got, err := s.KeyPackage(ctx, once.Ref())
		if err != nil {
			t.Fatal(err)
		}
		sameBundle(t, got, once)
		clear(got.InitPrivateKey())
		clear(got.EncryptionPrivateKey())
		clear(got.Ref())
	}

	// An ordinary KeyPackage is taken once.
	got, err := s.TakeKeyPackage(ctx, once.Ref())
	if err != nil {
		t.Fatal(err)
	}
	sameBundle(t, got, once)
	mustNotFound(t, "second TakeKeyPackage", func() error { _, err := s.TakeKeyPackage(ctx, once.Ref()); return err }())
	mustNotFound(t, "KeyPackage after TakeKeyPackage", func() error { _, err := s.KeyPackage(ctx, once.Ref()); return err }())
	mustList(t, "KeyPackageRefs after TakeKeyPackage", s.KeyPackageRefs, last.Ref())

	// A last-resort one stays.
	for range 3 {
		got, err := s.TakeKeyPackage(ctx, last.Ref())
		if err != nil {
			t.Fatal(err)
		}
		sameBundle(t, got, last)
	}
	mustList(t, "KeyPackageRefs after taking the last resort", s.KeyPackageRefs, last.Ref())
	// Until it is deleted.
	if err := s.DeleteKeyPackage(ctx, last.Ref()); err != nil {
		t.Fatal(err)
	}
	mustNotFound(t, "TakeKeyPackage after DeleteKeyPackage", func() error { _, err := s.TakeKeyPackage(ctx, last.Ref()); return err }())
	mustList(t, "KeyPackageRefs at the end", s.KeyPackageRefs)

	// Putting again is fine, and so is deleting an ordinary one.
	if err := s.PutKeyPackage(ctx, once); err != nil {
		t.Fatal(err)
	}
	if err := s.PutKeyPackage(ctx, once); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteKeyPackage(ctx, once.Ref()); err != nil {
		t.Fatal(err)
	}
	mustList(t, "KeyPackageRefs after DeleteKeyPackage", s.KeyPackageRefs)

	for _, b := range []*mls.KeyPackageBundle{nil, {}, {KeyPackage: once.KeyPackage}} {
		if err := s.PutKeyPackage(ctx, b); err == nil {
			t.Fatalf("PutKeyPackage(%v) succeeded", b)
		}
	}
	mustList(t, "KeyPackageRefs after failed puts", s.KeyPackageRefs)
}

func testResumptionPSK(t *testing.T, s mls.Storage) { // keeps 3 epochs
	ctx := t.Context()
	g1, g2 := []byte("group 1"), []byte("group 2")
	psk := func(g []byte, epoch uint64) []byte { return fmt.Appendf(nil, "%s epoch %d", g, epoch) }
	get := func(g []byte, epoch uint64) ([]byte, error) { return s.ResumptionPSK(ctx, g, epoch) }
	mustNotFound(t, "missing group", func() error { _, err := get(g1, 0); return err }())
	if err := s.DeleteResumptionPSKs(ctx, g1); err != nil {
		t.Fatalf("DeleteResumptionPSKs of a group without any: %v", err)
	}

	for epoch := range uint64(6) {
		for _, g := range [][]byte{g1, g2} {
			in := psk(g, epoch)
			if err := s.PutResumptionPSK(ctx, g, epoch, in); err != nil {
				t.Fatal(err)
			}
			clear(in)
		}
	}
	// Epochs 0 to 2 were dropped as 3 to 5 came.
	for epoch := range uint64(6) {
		for _, g := range [][]byte{g1, g2} {
			got, err := get(g, epoch)
			if epoch < 3 {
				mustNotFound(t, fmt.Sprintf("%s epoch %d", g, epoch), err)
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			mustEqual(t, "resumption PSK", got, psk(g, epoch))
			clear(got)
		}
	}
	// The bound keeps the newest epochs: an older one goes at once.
	if err := s.PutResumptionPSK(ctx, g1, 1, psk(g1, 1)); err != nil {
		t.Fatal(err)
	}
	mustNotFound(t, "older epoch when full", func() error { _, err := get(g1, 1); return err }())
	// Replacing one keeps the others.
	if err := s.PutResumptionPSK(ctx, g1, 4, []byte("new")); err != nil {
		t.Fatal(err)
	}
	for epoch, want := range map[uint64][]byte{3: psk(g1, 3), 4: []byte("new"), 5: psk(g1, 5)} {
		got, err := get(g1, epoch)
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "after replace", got, want)
	}
	got, err := mls.LookupPSK(ctx, s, &mls.PreSharedKeyID{PSKType: mls.PSKTypeResumption, Usage: mls.ResumptionPSKUsageBranch, PSKGroupID: g2, PSKEpoch: 5})
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "LookupPSK", got, psk(g2, 5))

	if err := s.DeleteResumptionPSKs(ctx, g1); err != nil {
		t.Fatal(err)
	}
	for epoch := range uint64(6) {
		mustNotFound(t, "deleted group", func() error { _, err := get(g1, epoch); return err }())
	}
	if _, err := get(g2, 5); err != nil {
		t.Fatalf("deleting one group's PSKs lost another's: %v", err)
	}
	if err := s.PutResumptionPSK(ctx, g1, 9, []byte("again")); err != nil {
		t.Fatalf("PutResumptionPSK after DeleteResumptionPSKs: %v", err)
	}
}

func testEmptyID(t *testing.T, s mls.Storage) {
	ctx := t.Context()
	for name, err := range map[string]error{
		"PutGroupState":    s.PutGroupState(ctx, nil, []byte{1}),
		"DeleteGroupState": s.DeleteGroupState(ctx, []byte{}),
		"PutExternalPSK":   s.PutExternalPSK(ctx, nil, []byte{1}),
		"PutResumptionPSK": s.PutResumptionPSK(ctx, nil, 1, []byte{1}),
		"KeyPackage":       func() error { _, err := s.KeyPackage(ctx, nil); return err }(),
	} {
		if err == nil || errors.Is(err, mls.ErrNotFound) {
			t.Errorf("%s with an empty ID: %v", name, err)
		}
	}
}

func testCanceled(t *testing.T, s mls.Storage) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.PutGroupState(ctx, []byte{1}, []byte{1}); !errors.Is(err, context.Canceled) {
		t.Fatalf("PutGroupState with a canceled context: %v", err)
	}
	if _, err := s.KeyPackageRefs(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("KeyPackageRefs with a canceled context: %v", err)
	}
	mustNotFound(t, "GroupState after a canceled put", func() error { _, err := s.GroupState(t.Context(), []byte{1}); return err }())
}

// testConcurrentTake checks that of many concurrent takes of one ordinary
// KeyPackage exactly one succeeds, and that all of a last-resort one do.
func testConcurrentTake(t *testing.T, s mls.Storage) {
	ctx := t.Context()
	once := NewBundle(t, "bob", false)
	last := NewBundle(t, "bob", true)
	for _, b := range []*mls.KeyPackageBundle{once, last} {
		if err := s.PutKeyPackage(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	took := map[string]int{}
	for range n {
		for _, b := range []*mls.KeyPackageBundle{once, last} {
			wg.Go(func() {
				got, err := s.TakeKeyPackage(ctx, b.Ref())
				if errors.Is(err, mls.ErrNotFound) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				took[string(got.Ref())]++
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	if took[string(once.Ref())] != 1 || took[string(last.Ref())] != n {
		t.Fatalf("took the ordinary KeyPackage %d times, the last-resort one %d times; want 1 and %d",
			took[string(once.Ref())], took[string(last.Ref())], n)
	}
}

// testConcurrentUse runs every kind of call at once, for the race
// detector, and checks that each goroutine's own entries come back whole.
func testConcurrentUse(t *testing.T, s mls.Storage) { // keeps 2 epochs
	ctx := t.Context()
	shared := []byte("shared")
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			own := fmt.Appendf(nil, "worker %d", w)
			for i := range 20 {
				v := fmt.Appendf(nil, "%s value %d", own, i)
				for _, put := range []func(context.Context, []byte, []byte) error{s.PutGroupState, s.PutExternalPSK} {
					if err := put(ctx, own, v); err != nil {
						t.Error(err)
						return
					}
					if err := put(ctx, shared, v); err != nil {
						t.Error(err)
						return
					}
				}
				if err := s.PutResumptionPSK(ctx, shared, uint64(i), v); err != nil {
					t.Error(err)
					return
				}
				for _, get := range []func(context.Context, []byte) ([]byte, error){s.GroupState, s.ExternalPSK} {
					got, err := get(ctx, own)
					if err != nil || !bytes.Equal(got, v) {
						t.Errorf("worker %d: got %q, %v; want %q", w, got, err, v)
						return
					}
					if got, err := get(ctx, shared); err != nil || !bytes.HasPrefix(got, []byte("worker ")) {
						t.Errorf("shared entry: got %q, %v", got, err)
						return
					}
				}
				if _, err := s.GroupIDs(ctx); err != nil {
					t.Error(err)
				}
				if _, err := s.ResumptionPSK(ctx, shared, uint64(i)); err != nil && !errors.Is(err, mls.ErrNotFound) {
					t.Error(err)
				}
			}
			if err := s.DeleteGroupState(ctx, own); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	mustList(t, "GroupIDs", s.GroupIDs, shared)
}

// testGroupSave saves a real group after each step of a conversation and
// checks that the group loaded from the store has the same state.
func testGroupSave(t *testing.T, s mls.Storage) {
	ctx := t.Context()
	aliceID, err := mls.NewBasicIdentity(Suite, "alice")
	if err != nil {
		t.Fatal(err)
	}
	alice, err := mls.CreateGroup(aliceID, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	check := func(g *mls.Group) {
		t.Helper()
		if err := g.Save(ctx, s); err != nil {
			t.Fatal(err)
		}
		loaded, err := mls.LoadGroupFromStore(ctx, s, g.GroupID(), nil)
		if err != nil {
			t.Fatal(err)
		}
		want, err := g.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		got, err := loaded.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "group state loaded", got, want)
	}
	check(alice)
	for _, name := range []string{"bob", "carol", "dave"} {
		kp := NewBundle(t, name, false)
		if _, err := alice.Commit(mls.CommitOptions{Add: []*mls.KeyPackage{kp.KeyPackage}}); err != nil {
			t.Fatal(err)
		}
		check(alice) // with a pending commit
		if _, err := alice.MergePendingCommit(); err != nil {
			t.Fatal(err)
		}
		check(alice)
		for range 3 {
			if _, err := alice.Send([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			check(alice)
		}
	}
	for range 5 { // more commits than past epochs kept
		if _, err := alice.Commit(mls.CommitOptions{Update: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := alice.MergePendingCommit(); err != nil {
			t.Fatal(err)
		}
		check(alice)
	}
	mustList(t, "GroupIDs", s.GroupIDs, alice.GroupID())
	if err := s.DeleteGroupState(ctx, alice.GroupID()); err != nil {
		t.Fatal(err)
	}
	_, err = mls.LoadGroupFromStore(ctx, s, alice.GroupID(), nil)
	mustNotFound(t, "group deleted", err)
}

// records returns the records of groupID in s as "key=value" strings.
func records(t *testing.T, s mls.GroupRecordStore, groupID []byte) []string {
	t.Helper()
	recs, err := s.GroupRecords(t.Context(), groupID)
	if errors.Is(err, mls.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, fmt.Sprintf("%q=%q", r.Key, r.Value))
	}
	slices.Sort(out)
	return out
}

func mustRecords(t *testing.T, what string, s mls.GroupRecordStore, groupID []byte, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := records(t, s, groupID); !slices.Equal(got, want) {
		t.Fatalf("%s: records %v, want %v", what, got, want)
	}
}

// testGroupRecords checks batches of records: puts, deletes, replacing
// batches, copies, the whole state as the record "", and that a batch
// the store refuses changes nothing.
func testGroupRecords(t *testing.T, s mls.GroupRecordStore) {
	ctx := t.Context()
	id, other := []byte("group"), []byte("other")
	_, err := s.GroupRecords(ctx, id)
	mustNotFound(t, "records of a missing group", err)
	in := []byte("1")
	update := func(replace bool, recs ...mls.GroupRecord) error {
		return s.UpdateGroupRecords(ctx, id, &mls.GroupRecordBatch{Replace: replace, Records: recs})
	}
	if err := update(false, mls.GroupRecord{Key: "a", Value: in}, mls.GroupRecord{Key: "b", Value: []byte("2")}, mls.GroupRecord{Key: "e", Value: []byte{}}); err != nil {
		t.Fatal(err)
	}
	in[0] = 'X' // the store copied it
	mustRecords(t, "first batch", s, id, `"a"="1"`, `"b"="2"`, `"e"=""`)
	recs, _ := s.GroupRecords(ctx, id)
	recs[0].Value[0] = 'Y' // the store handed out a copy
	mustRecords(t, "after changing a result", s, id, `"a"="1"`, `"b"="2"`, `"e"=""`)
	if err := s.PutGroupState(ctx, other, []byte("whole")); err != nil {
		t.Fatal(err)
	}
	mustList(t, "GroupIDs", s.GroupIDs, id, other)

	// Puts and deletes, a missing record's deletion included.
	if err := update(false, mls.GroupRecord{Key: "a", Value: []byte("1b")}, mls.GroupRecord{Key: "b"}, mls.GroupRecord{Key: "c", Value: []byte("3")}, mls.GroupRecord{Key: "zz"}); err != nil {
		t.Fatal(err)
	}
	mustRecords(t, "second batch", s, id, `"a"="1b"`, `"c"="3"`, `"e"=""`)

	// Refused batches change nothing: checked before anything is applied.
	for _, bad := range [][]mls.GroupRecord{
		{{Key: "a", Value: []byte("no")}, {Key: "", Value: []byte("no")}},
		{{Key: "a", Value: []byte("no")}, {Key: string(make([]byte, mls.MaxGroupRecordKey+1)), Value: []byte("no")}},
		{{Key: "a", Value: []byte("no")}, {Key: "c"}, {Key: "a", Value: []byte("no")}},
	} {
		if err := update(false, bad...); err == nil {
			t.Fatal("an invalid batch was accepted")
		}
		if err := update(true, bad...); err == nil {
			t.Fatal("an invalid replacing batch was accepted")
		}
		mustRecords(t, "after a refused batch", s, id, `"a"="1b"`, `"c"="3"`, `"e"=""`)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.UpdateGroupRecords(canceled, id, &mls.GroupRecordBatch{Records: []mls.GroupRecord{{Key: "a", Value: []byte("no")}}}); err == nil {
		t.Fatal("a batch with a canceled context was accepted")
	}
	mustRecords(t, "after a canceled batch", s, id, `"a"="1b"`, `"c"="3"`, `"e"=""`)

	// A replacing batch is the group's whole state.
	if err := update(true, mls.GroupRecord{Key: "c", Value: []byte("3b")}, mls.GroupRecord{Key: "d", Value: []byte("4")}); err != nil {
		t.Fatal(err)
	}
	mustRecords(t, "replacing batch", s, id, `"c"="3b"`, `"d"="4"`)
	// The whole state is the record "", and replaces the records.
	if err := s.PutGroupState(ctx, id, []byte("whole")); err != nil {
		t.Fatal(err)
	}
	mustRecords(t, "whole state", s, id, `""="whole"`)
	if err := update(true, mls.GroupRecord{Key: "h", Value: []byte("5")}); err != nil {
		t.Fatal(err)
	}
	_, err = s.GroupState(ctx, id)
	mustNotFound(t, "whole state replaced by records", err)
	mustRecords(t, "other group", s, other, `""="whole"`)

	// Deleting every record deletes the group.
	if err := update(false, mls.GroupRecord{Key: "h"}); err != nil {
		t.Fatal(err)
	}
	mustList(t, "GroupIDs after deleting every record", s.GroupIDs, other)
	if err := update(false, mls.GroupRecord{Key: "h", Value: []byte("6")}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteGroupState(ctx, id); err != nil {
		t.Fatal(err)
	}
	mustRecords(t, "deleted group", s, id)
	mustNotFound(t, "deleting a deleted group", s.DeleteGroupState(ctx, id))
	if err := s.UpdateGroupRecords(ctx, nil, &mls.GroupRecordBatch{Records: []mls.GroupRecord{{Key: "a", Value: []byte("1")}}}); err == nil {
		t.Fatal("records under an empty group ID were accepted")
	}
}

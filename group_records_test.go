package mls

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
)

// countingStore is a GroupRecordStore in memory that keeps the batches
// written, and fails them while fail is set.
type countingStore struct {
	*MemoryStorage
	batches []*GroupRecordBatch
	fail    bool
}

func (c *countingStore) UpdateGroupRecords(ctx context.Context, groupID []byte, batch *GroupRecordBatch) error {
	if c.fail {
		return errors.New("mls: injected store failure")
	}
	keys := &GroupRecordBatch{Replace: batch.Replace}
	for _, r := range batch.Records {
		keys.Records = append(keys.Records, GroupRecord{Key: r.Key, Value: bytes.Clone(r.Value)})
	}
	c.batches = append(c.batches, keys)
	return c.MemoryStorage.UpdateGroupRecords(ctx, groupID, batch)
}

// checkSaved saves g to st and checks that the records st then holds are
// exactly those a full save to an empty store writes (no stale record, no
// consumed secret left behind), and load back as g's state. It returns
// the batch written.
func checkSaved(t *testing.T, g *Group, st *countingStore) *GroupRecordBatch {
	t.Helper()
	ctx := t.Context()
	n := len(st.batches)
	if err := g.Save(ctx, st); err != nil {
		t.Fatal(err)
	}
	var batch *GroupRecordBatch
	if len(st.batches) > n {
		batch = st.batches[len(st.batches)-1]
	} else {
		batch = &GroupRecordBatch{}
	}
	got, err := st.GroupRecords(ctx, g.GroupID())
	if err != nil {
		t.Fatal(err)
	}
	full := &countingStore{MemoryStorage: NewMemoryStorage()}
	saved := g.saved
	g.saved = nil
	if err := g.Save(ctx, full); err != nil {
		t.Fatal(err)
	}
	g.saved = saved
	want, err := full.GroupRecords(ctx, g.GroupID())
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("incremental saves left %d records, a full save %d (or other values)", len(got), len(want))
	}
	loaded, err := LoadGroupFromStore(ctx, st, g.GroupID(), nil)
	if err != nil {
		t.Fatalf("LoadGroupFromStore: %v", err)
	}
	if !bytes.Equal(marshalState(t, loaded), marshalState(t, g)) {
		t.Fatal("the group loaded from records differs from the group saved")
	}
	return batch
}

func batchKeys(b *GroupRecordBatch) string {
	var s []string
	for _, r := range b.Records {
		op := "put"
		if r.Value == nil {
			op = "del"
		}
		s = append(s, fmt.Sprintf("%s %q", op, r.Key))
	}
	return fmt.Sprint(b.Replace, s)
}

// TestGroupRecordsIncremental saves members to record stores after every
// step of a conversation and checks what each save writes: after a
// message, only the secret tree of its epoch; after a commit, the nodes
// it changed, never the whole tree; and that the records always equal a
// full save's.
func TestGroupRecordsIncremental(t *testing.T) {
	tg := newTestGroup(t, stateSuite, nil, "alice")
	tg.add("alice", "bob", "carol", "dave", "erin")
	stores := map[string]*countingStore{}
	saveAll := func() map[string]*GroupRecordBatch {
		out := map[string]*GroupRecordBatch{}
		for name, g := range tg.members {
			st := stores[name]
			if st == nil {
				st = &countingStore{MemoryStorage: NewMemoryStorage()}
				stores[name] = st
			}
			out[name] = checkSaved(t, g, st)
		}
		return out
	}
	first := saveAll()
	for name, b := range first {
		if !b.Replace {
			t.Fatalf("%s: first save is not a full one", name)
		}
	}
	// A message: the sender's and the receivers' secret trees only.
	msg := tg.send("bob", "hello")
	for _, name := range []string{"alice", "carol", "dave", "erin"} {
		tg.expectText(name, msg, "hello")
	}
	for name, b := range saveAll() {
		if got := batchKeys(b); got != batchKeys(&GroupRecordBatch{Records: []GroupRecord{{Key: "s", Value: []byte{}}}}) {
			t.Fatalf("%s: a message saved %s", name, got)
		}
	}
	// Nothing changed: nothing written.
	for name, b := range saveAll() {
		if len(b.Records) != 0 {
			t.Fatalf("%s: saving an unchanged group wrote %s", name, batchKeys(b))
		}
	}
	// Commits: the header, the path, the past epoch; more than
	// MaxPastEpochs of them, so that the oldest past epochs are deleted.
	for i := range DefaultMaxPastEpochs + 2 {
		tg.commit([]string{"carol", "alice", "erin", "bob", "dave"}[i], CommitOptions{Update: true}, nil)
		for name, b := range saveAll() {
			if b.Replace {
				t.Fatalf("%s: a commit saved the whole state", name)
			}
			nodes := 0
			for _, r := range b.Records {
				if r.Key[0] == 'n' {
					nodes++
				}
			}
			// 5 members: 8 leaves, a direct path of 3 nodes and the leaf.
			if nodes == 0 || nodes > 4 {
				t.Fatalf("%s: a commit saved %d tree nodes: %s", name, nodes, batchKeys(b))
			}
		}
	}
	// A late message of a past epoch: its past epoch record only.
	late := tg.send("dave", "late")
	tg.commit("alice", CommitOptions{Update: true}, nil)
	saveAll()
	tg.expectText("erin", late, "late")
	if b := checkSaved(t, tg.members["erin"], stores["erin"]); len(b.Records) != 1 || b.Records[0].Key[0] != 'p' {
		t.Fatalf("a late message saved %s", batchKeys(b))
	}
	// A pending commit is saved, then its record deleted once merged.
	pc, err := tg.members["bob"].Commit(CommitOptions{Update: true})
	if err != nil {
		t.Fatal(err)
	}
	// (and the secret tree, which encrypted it, and the header, whose
	// state extensions hold the pending epoch's exporter secret)
	if b := checkSaved(t, tg.members["bob"], stores["bob"]); batchKeys(b) != batchKeys(&GroupRecordBatch{Records: []GroupRecord{{Key: "c", Value: []byte{}}, {Key: "h", Value: []byte{}}, {Key: "s", Value: []byte{}}}}) {
		t.Fatalf("a pending commit saved %s", batchKeys(b))
	}
	if err := tg.members["bob"].DiscardPendingCommit(); err != nil {
		t.Fatal(err)
	}
	_ = pc
	if b := checkSaved(t, tg.members["bob"], stores["bob"]); batchKeys(b) != batchKeys(&GroupRecordBatch{Records: []GroupRecord{{Key: "c"}, {Key: "h", Value: []byte{}}}}) {
		t.Fatalf("a discarded pending commit saved %s", batchKeys(b))
	}
	// Removing members shrinks the tree: node records deleted.
	tg.commit("alice", CommitOptions{Remove: []LeafIndex{tg.leafOf("erin"), tg.leafOf("dave")}}, nil)
	delete(tg.members, "erin")
	delete(tg.members, "dave")
	saveAll()
	tg.chat()
	saveAll()
}

// TestGroupRecordsFailedSave checks that a save the store refused is
// followed by a full one, and that a group loaded from records saves
// incrementally, and from a whole state fully.
func TestGroupRecordsFailedSave(t *testing.T) {
	ctx := t.Context()
	tg := newTestGroup(t, stateSuite, nil, "alice")
	tg.add("alice", "bob")
	st := &countingStore{MemoryStorage: NewMemoryStorage()}
	alice := tg.members["alice"]
	checkSaved(t, alice, st)
	tg.chat()
	st.fail = true
	if err := alice.Save(ctx, st); err == nil {
		t.Fatal("the injected failure was not reported")
	}
	st.fail = false
	if b := checkSaved(t, alice, st); !b.Replace {
		t.Fatalf("the save after a failed one wrote %s", batchKeys(b))
	}
	g, err := LoadGroupFromStore(ctx, st, alice.GroupID(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tg.members["alice"] = g
	tg.chat()
	if b := checkSaved(t, g, st); b.Replace || len(b.Records) != 1 {
		t.Fatalf("a group loaded from records saved %s after a message", batchKeys(b))
	}
	// A whole state stored with PutGroupState loads, and the next save
	// replaces it by records.
	if err := st.PutGroupState(ctx, g.GroupID(), marshalState(t, g)); err != nil {
		t.Fatal(err)
	}
	g, err = LoadGroupFromStore(ctx, st, g.GroupID(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if b := checkSaved(t, g, st); !b.Replace {
		t.Fatalf("the first save after a whole state wrote %s", batchKeys(b))
	}
}

// TestGroupRecordsRejects checks that missing, stray and foreign records
// fail the load.
func TestGroupRecordsRejects(t *testing.T) {
	ctx := t.Context()
	tg := newTestGroup(t, stateSuite, nil, "alice")
	tg.add("alice", "bob", "carol")
	st := &countingStore{MemoryStorage: NewMemoryStorage()}
	alice := tg.members["alice"]
	checkSaved(t, alice, st)
	recs, err := st.GroupRecords(ctx, alice.GroupID())
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		without := append(append([]GroupRecord{}, recs[:i]...), recs[i+1:]...)
		if _, err := loadRecords(without, nil); !errors.Is(err, ErrMalformed) {
			t.Errorf("without record %q: %v", r.Key, err)
		}
	}
	for _, extra := range []GroupRecord{{Key: "x", Value: []byte{1}}, {Key: nodeRecordKey(1 << 20), Value: []byte{0}}, {Key: pastRecordKey(1 << 40), Value: []byte{}}, recs[len(recs)-1]} {
		if _, err := loadRecords(append(append([]GroupRecord{}, recs...), extra), nil); !errors.Is(err, ErrMalformed) {
			t.Errorf("with record %q: %v", extra.Key, err)
		}
	}
}

// FuzzLoadGroupRecords loads a group whose header record is the input,
// beside the other records of a real group: never a panic.
func FuzzLoadGroupRecords(f *testing.F) {
	tg := newTestGroup(f, stateSuite, nil, "alice")
	tg.add("alice", "bob")
	st := &countingStore{MemoryStorage: NewMemoryStorage()}
	alice := tg.members["alice"]
	if err := alice.Save(context.Background(), st); err != nil {
		f.Fatal(err)
	}
	recs, err := st.GroupRecords(context.Background(), alice.GroupID())
	if err != nil {
		f.Fatal(err)
	}
	h := -1
	for i, r := range recs {
		if r.Key == "h" {
			h = i
			f.Add(r.Value)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rs := append([]GroupRecord{}, recs...)
		rs[h] = GroupRecord{Key: "h", Value: data}
		if g, err := loadRecords(rs, nil); err == nil {
			g.eraseState()
		}
	})
}

// valueStore is a GroupRecordStore of a type that is not comparable.
type valueStore struct {
	m    *MemoryStorage
	_    []int
	last *int
}

func (v valueStore) PutGroupState(ctx context.Context, id, state []byte) error {
	return v.m.PutGroupState(ctx, id, state)
}
func (v valueStore) GroupState(ctx context.Context, id []byte) ([]byte, error) {
	return v.m.GroupState(ctx, id)
}
func (v valueStore) DeleteGroupState(ctx context.Context, id []byte) error {
	return v.m.DeleteGroupState(ctx, id)
}
func (v valueStore) GroupIDs(ctx context.Context) ([][]byte, error) { return v.m.GroupIDs(ctx) }
func (v valueStore) GroupRecords(ctx context.Context, id []byte) ([]GroupRecord, error) {
	return v.m.GroupRecords(ctx, id)
}
func (v valueStore) UpdateGroupRecords(ctx context.Context, id []byte, b *GroupRecordBatch) error {
	*v.last = len(b.Records)
	if !b.Replace {
		*v.last = -1
	}
	return v.m.UpdateGroupRecords(ctx, id, b)
}

// TestGroupRecordsUncomparableStore checks that a store of a type that is
// not comparable gets full saves, and no panic.
func TestGroupRecordsUncomparableStore(t *testing.T) {
	tg := newTestGroup(t, stateSuite, nil, "alice")
	tg.add("alice", "bob")
	s := valueStore{m: NewMemoryStorage(), last: new(int)}
	alice := tg.members["alice"]
	for range 2 {
		if err := alice.Save(t.Context(), s); err != nil {
			t.Fatal(err)
		}
		if *s.last < 0 {
			t.Fatal("an incremental save to a store it cannot recognize")
		}
	}
	if _, err := LoadGroupFromStore(t.Context(), s, alice.GroupID(), nil); err != nil {
		t.Fatal(err)
	}
}

package mls

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/arbormls/mls/internal/codec"
)

// The group state as records (GroupRecordStore).
//
// Group.Save splits the state of group_state.go into records, so that a
// save writes only those that changed:
//
//	"h"            the header: "ARBR", uint16 version = 1, then
//	               opaque pre<V>     identity, own_leaf, group_state, GroupContext (as in GroupState)
//	               uint32 leaf_count
//	               uint32 node_width the nodes below it have records when not blank
//	               opaque secrets<V> optional<TreePrivateState>, EpochSecretsState
//	               opaque hashes<V>  interim_transcript_hash<V>, confirmation_tag<V>
//	               opaque tail<V>    optional<ReInit> reinit, optional<ResumeState> resume,
//	                                 StateExtension extensions<V> (as in GroupState version 2)
//	               uint64 past<V>    the epochs of the "p" records, newest first
//	"n" uint32 x   node x of the ratchet tree, optional<Node> (present); blank nodes have none
//	"s"            ProtectionState of the current epoch (its secret tree)
//	"q"            CachedProposal proposals<V>
//	"c"            PendingCommitState, when there is one
//	"p" uint64 e   PastEpochState of past epoch e
//
// Integers in keys are big-endian. Loading puts the records back together
// as a GroupState and checks it as LoadGroup does (tree hashes included),
// so that a missing, stale or stray record fails the load.
//
// What a save writes: after an application message sent or received, "s"
// (the current secret tree: O(log n) node secrets and the ratchets of the
// senders seen), or a "p" record for a message of a past epoch; after a
// commit, the nodes it changed (its path: O(log n)), "h", "s", "q", the
// new "p" record and the deletion of the oldest one. Dirty tracking
// compares the tree with the one last saved (chunks shared by
// copy-on-write are skipped unread) and the other records by SHA-256.
// Records holding consumed secrets (a secret tree's used node secrets and
// ratchet secrets, a dropped past epoch, a discarded pending commit) are
// overwritten or deleted in the same batch, so the deletion schedule
// holds in the store too.

const (
	groupRecordsMagic   = "ARBR"
	groupRecordsVersion = 1
	// maxRecordLeaves bounds the trees a record store holds (2^21, about
	// two million members, forty times the largest groups MLS is built
	// for). A header names the tree's width for free, while the blank
	// nodes it implies cost a load time: without this bound a header of
	// a few bytes could make loading build gigabytes (FuzzLoadGroupRecords
	// found one). Save refuses wider trees, so no store holds one.
	maxRecordLeaves = 1 << 21
)

// errRecordTreeTooWide is Save's error for a tree beyond maxRecordLeaves.
var errRecordTreeTooWide = fmt.Errorf("mls: a record store holds ratchet trees of at most %d leaves", maxRecordLeaves)

// savedRecords is what the group last wrote to (or loaded from) a
// GroupRecordStore, for the next Save to write only the differences.
type savedRecords struct {
	store GroupRecordStore
	tree  *RatchetTree // public clone of the tree saved
	sums  map[string][sha256.Size]byte
}

func nodeRecordKey(x NodeIndex) string {
	return "n" + string(binary.BigEndian.AppendUint32(nil, uint32(x)))
}

func pastRecordKey(epoch uint64) string {
	return "p" + string(binary.BigEndian.AppendUint64(nil, epoch))
}

// storedWidth is the width of t without its trailing blank nodes.
func storedWidth(t *RatchetTree) uint32 {
	w := t.width()
	for w > 0 && t.isBlank(NodeIndex(w-1)) {
		w--
	}
	return w
}

func encodeNode(t *RatchetTree, x NodeIndex) ([]byte, error) {
	b := codec.NewBuilder(256)
	t.addNode(b, x)
	return b.Bytes()
}

// otherRecords returns the records of g other than the tree nodes.
func (g *Group) otherRecords() ([]GroupRecord, error) {
	idBytes, err := g.id.MarshalBinary()
	if err != nil {
		return nil, err
	}
	defer clear(idBytes)
	build := func(f func(b *codec.Builder)) ([]byte, error) {
		b := codec.NewBuilder(256)
		f(b)
		return b.Bytes()
	}
	var recs []GroupRecord
	add := func(key string, f func(b *codec.Builder)) error {
		v, err := build(f)
		if err != nil {
			return err
		}
		recs = append(recs, GroupRecord{Key: key, Value: v})
		return nil
	}
	err = add("h", func(b *codec.Builder) {
		b.AddRaw([]byte(groupRecordsMagic))
		b.AddUint16(groupRecordsVersion)
		b.AddVector(func(b *codec.Builder) {
			b.AddOpaque(idBytes)
			b.AddUint32(uint32(g.self))
			b.AddUint8(uint8(g.state))
			b.AddRaw(g.gcBytes)
		})
		b.AddUint32(g.tree.n)
		b.AddUint32(storedWidth(g.tree))
		b.AddVector(func(b *codec.Builder) {
			b.AddOptional(g.tree.priv != nil, func(b *codec.Builder) { g.tree.priv.marshalState(b) })
			g.secrets.marshalState(b)
		})
		b.AddVector(func(b *codec.Builder) {
			b.AddOpaque(g.interim)
			b.AddOpaque(g.confirmationTag)
		})
		b.AddVector(func(b *codec.Builder) {
			addOptionalReInit(b, g.reinit)
			b.AddOptional(g.resumeFrom != nil, func(b *codec.Builder) { g.marshalResume(b) })
			b.AddVector(func(b *codec.Builder) {
				g.marshalRotation(b)
				g.marshalExporter(b)
			})
		})
		b.AddVector(func(b *codec.Builder) {
			for i := len(g.past) - 1; i >= 0; i-- {
				b.AddUint64(g.past[i].epoch)
			}
		})
	})
	if err == nil {
		err = add("s", g.pc.marshalState)
	}
	if err == nil {
		err = add("q", g.marshalProposals)
	}
	if err == nil && g.pending != nil {
		err = add("c", func(b *codec.Builder) { g.pending.marshalState(b, g.tree) })
	}
	newer := g.tree
	for i := len(g.past) - 1; i >= 0 && err == nil; i-- {
		p := g.past[i]
		err = add(pastRecordKey(p.epoch), func(b *codec.Builder) {
			b.AddUint64(p.epoch)
			p.pc.marshalState(b)
			p.tree.marshalChanges(b, newer)
			addOptionalSecret(b, p.resumptionPSK)
		})
		newer = p.tree
	}
	if err != nil {
		clearRecords(recs)
		return nil, err
	}
	return recs, nil
}

func clearRecords(recs []GroupRecord) {
	for _, r := range recs {
		clear(r.Value)
	}
}

// recordBatch returns the batch that brings the records of s from what g
// last saved there to g's state, and the record sums after it.
func (g *Group) recordBatch(s GroupRecordStore) (*GroupRecordBatch, map[string][sha256.Size]byte, error) {
	if uint64(storedWidth(g.tree)) > 2*maxRecordLeaves {
		return nil, nil, errRecordTreeTooWide
	}
	others, err := g.otherRecords()
	if err != nil {
		return nil, nil, err
	}
	prev := g.saved
	// A store of a type that is not comparable cannot be recognized: it
	// gets full saves (comparing it would panic).
	if prev != nil && (!reflect.TypeOf(s).Comparable() || !reflect.TypeOf(prev.store).Comparable() || prev.store != s) {
		prev = nil
	}
	batch := &GroupRecordBatch{Replace: prev == nil}
	sums := make(map[string][sha256.Size]byte, len(others))
	for _, r := range others {
		sum := sha256.Sum256(r.Value)
		sums[r.Key] = sum
		if old, ok := prev.sum(r.Key); ok && old == sum {
			clear(r.Value)
			continue
		}
		batch.Records = append(batch.Records, r)
	}
	if prev != nil {
		for key := range prev.sums {
			if _, ok := sums[key]; !ok {
				batch.Records = append(batch.Records, GroupRecord{Key: key})
			}
		}
		slices.SortFunc(batch.Records, func(a, b GroupRecord) int { return strings.Compare(a.Key, b.Key) })
	}
	t := g.tree
	w := storedWidth(t)
	if prev == nil {
		for x := range NodeIndex(w) {
			if t.isBlank(x) {
				continue
			}
			v, err := encodeNode(t, x)
			if err != nil {
				clearRecords(batch.Records)
				return nil, nil, err
			}
			batch.Records = append(batch.Records, GroupRecord{Key: nodeRecordKey(x), Value: v})
		}
		return batch, sums, nil
	}
	old := prev.tree
	oldW := storedWidth(old)
	for x := NodeIndex(0); uint32(x) < max(w, oldW); x++ {
		ci := int(x >> chunkShift)
		if x&(chunkNodes-1) == 0 && ci < len(t.chunks) && ci < len(old.chunks) && t.chunks[ci] == old.chunks[ci] &&
			uint32(x)+chunkNodes <= min(w, oldW) {
			x += chunkNodes - 1
			continue
		}
		inNew, inOld := uint32(x) < w && !t.isBlank(x), uint32(x) < oldW && !old.isBlank(x)
		switch {
		case inNew && (!inOld || !sameNode(t, old, x)):
			v, err := encodeNode(t, x)
			if err != nil {
				clearRecords(batch.Records)
				return nil, nil, err
			}
			batch.Records = append(batch.Records, GroupRecord{Key: nodeRecordKey(x), Value: v})
		case !inNew && inOld:
			batch.Records = append(batch.Records, GroupRecord{Key: nodeRecordKey(x)})
		}
	}
	return batch, sums, nil
}

func (p *savedRecords) sum(key string) ([sha256.Size]byte, bool) {
	if p == nil {
		return [sha256.Size]byte{}, false
	}
	s, ok := p.sums[key]
	return s, ok
}

// saveRecords writes the records of g that changed since it last saved
// to s.
func (g *Group) saveRecords(ctx context.Context, s GroupRecordStore) error {
	batch, sums, err := g.recordBatch(s)
	if err != nil {
		return err
	}
	defer clearRecords(batch.Records)
	// Until the store confirms, g no longer knows what s holds: a failed
	// save is followed by a full one.
	g.saved = nil
	if len(batch.Records) == 0 && !batch.Replace {
		g.saved = &savedRecords{store: s, tree: g.tree.publicClone(), sums: sums}
		return nil
	}
	if err := s.UpdateGroupRecords(ctx, g.gc.GroupID, batch); err != nil {
		return err
	}
	g.saved = &savedRecords{store: s, tree: g.tree.publicClone(), sums: sums}
	return nil
}

// loadRecords restores a group from its records (see LoadGroupFromStore).
func loadRecords(recs []GroupRecord, cfg *Config) (*Group, error) {
	byKey := make(map[string][]byte, len(recs))
	for _, r := range recs {
		if _, dup := byKey[r.Key]; dup {
			return nil, stateErr(errors.New("group record repeated"))
		}
		byKey[r.Key] = r.Value
	}
	if v, ok := byKey[""]; ok {
		if len(recs) != 1 {
			return nil, stateErr(errors.New("a whole group state beside group records"))
		}
		return LoadGroup(v, cfg)
	}
	state, err := assembleRecords(byKey)
	defer clear(state)
	if err != nil {
		return nil, stateErr(err)
	}
	return LoadGroup(state, cfg)
}

// assembleRecords puts the records back together as a GroupState.
func assembleRecords(byKey map[string][]byte) ([]byte, error) {
	h, ok := byKey["h"]
	if !ok || len(h) < len(groupRecordsMagic)+2 || string(h[:len(groupRecordsMagic)]) != groupRecordsMagic {
		return nil, errors.New("no group record header")
	}
	if v := binary.BigEndian.Uint16(h[len(groupRecordsMagic):]); v != groupRecordsVersion {
		return nil, fmt.Errorf("%w %d of group records (this version reads %d)", ErrUnknownStateVersion, v, groupRecordsVersion)
	}
	r := codec.NewReader(h[len(groupRecordsMagic)+2:])
	pre := r.ReadOpaqueShared()
	leaves, width := r.ReadUint32(), r.ReadUint32()
	secrets, hashes, tail := r.ReadOpaqueShared(), r.ReadOpaqueShared(), r.ReadOpaqueShared()
	var pastKeys []string
	r.ReadVectorFunc(func(r *codec.Reader) { pastKeys = append(pastKeys, pastRecordKey(r.ReadUint64())) })
	if err := r.Finish(); err != nil {
		return nil, err
	}
	past := 0
	s, q := byKey["s"], byKey["q"]
	if s == nil || q == nil {
		return nil, errors.New("missing group records")
	}
	for key := range byKey {
		switch {
		case key == "h" || key == "s" || key == "q" || key == "c":
		case len(key) == 5 && key[0] == 'n':
			if binary.BigEndian.Uint32([]byte(key[1:])) >= width {
				return nil, errors.New("a tree node record beyond the tree")
			}
		case len(key) == 9 && key[0] == 'p':
			past++
		default:
			return nil, errors.New("unknown group record")
		}
	}
	if uint64(width) > 2*uint64(maxRecordLeaves) {
		return nil, errors.New("tree too wide")
	}
	if past != len(pastKeys) {
		return nil, errors.New("past epoch records differ from the header's list")
	}
	for _, k := range pastKeys {
		if _, ok := byKey[k]; !ok {
			return nil, errors.New("missing past epoch record")
		}
	}
	b := codec.NewBuilder(len(h) + len(s) + len(q) + len(byKey["c"]) + 256*len(byKey))
	b.AddRaw([]byte(groupStateMagic))
	b.AddUint16(groupStateVersion)
	b.AddRaw(pre)
	b.AddUint32(leaves)
	b.AddVector(func(b *codec.Builder) {
		for x := range NodeIndex(width) {
			if v, ok := byKey[nodeRecordKey(x)]; ok {
				b.AddRaw(v)
			} else {
				b.AddUint8(0)
			}
		}
	})
	b.AddRaw(secrets)
	b.AddRaw(s)
	b.AddRaw(hashes)
	b.AddRaw(q)
	c, ok := byKey["c"]
	b.AddOptional(ok, func(b *codec.Builder) { b.AddRaw(c) })
	b.AddVector(func(b *codec.Builder) {
		for _, k := range pastKeys {
			b.AddRaw(byKey[k])
		}
	})
	b.AddRaw(tail)
	return b.Bytes()
}

// loadGroupRecords is LoadGroupFromStore for a GroupRecordStore. The
// group remembers the records it was loaded from, for its next Save.
func loadGroupRecords(ctx context.Context, s GroupRecordStore, groupID []byte, cfg *Config) (*Group, error) {
	recs, err := s.GroupRecords(ctx, groupID)
	if err != nil {
		return nil, err
	}
	defer clearRecords(recs)
	g, err := loadRecords(recs, cfg)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(g.gc.GroupID, groupID) {
		g.eraseState()
		return nil, stateErr(errors.New("the state stored under the group ID is of another group"))
	}
	if len(recs) == 1 && recs[0].Key == "" {
		return g, nil // the next Save replaces the whole state by records
	}
	sums := make(map[string][sha256.Size]byte, len(recs))
	for _, r := range recs {
		if r.Key[0] != 'n' {
			sums[r.Key] = sha256.Sum256(r.Value)
		}
	}
	g.saved = &savedRecords{store: s, tree: g.tree.publicClone(), sums: sums}
	return g, nil
}

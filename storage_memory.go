package mls

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// MemoryStorage is a Storage in memory, for tests and for clients that keep
// their state elsewhere. It is safe for concurrent use. It copies every
// value in and out, and zeroes the values it deletes or replaces, though Go
// may have left copies of them in memory it no longer uses.
//
// The zero value is ready to use; so is the value NewMemoryStorage returns.
type MemoryStorage struct {
	// ResumptionPSKEpochs is how many epochs' resumption PSKs are kept per
	// group; zero or less means DefaultResumptionPSKEpochs. Set it before
	// the storage is first used.
	ResumptionPSKEpochs int

	mu           sync.Mutex
	groups       map[string]map[string][]byte // group ID, record key
	keyPackages  map[string]storedBundle
	externalPSKs map[string][]byte
	resumption   map[string]map[uint64][]byte
}

// storedBundle is a KeyPackageBundle in its storage encoding.
type storedBundle struct {
	data       []byte
	lastResort bool
}

var (
	_ Storage          = (*MemoryStorage)(nil)
	_ GroupRecordStore = (*MemoryStorage)(nil)
)

// NewMemoryStorage returns an empty MemoryStorage that keeps
// DefaultResumptionPSKEpochs epochs' resumption PSKs per group.
func NewMemoryStorage() *MemoryStorage { return new(MemoryStorage) }

// begin checks ctx and that id is not empty (unless what is empty: the
// call takes no ID; what names the ID in the error), then locks m and
// makes its maps. The caller unlocks m.
func (m *MemoryStorage) begin(ctx context.Context, what string, id []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(id) == 0 && what != "" {
		return fmt.Errorf("mls: empty %s", what)
	}
	m.mu.Lock()
	if m.groups == nil {
		m.groups = make(map[string]map[string][]byte)
		m.keyPackages = make(map[string]storedBundle)
		m.externalPSKs = make(map[string][]byte)
		m.resumption = make(map[string]map[uint64][]byte)
	}
	return nil
}

// putValue stores a copy of value under key in mp, zeroing the value it
// replaces.
func putValue[K comparable](mp map[K][]byte, key K, value []byte) {
	clear(mp[key])
	mp[key] = bytes.Clone(value)
	if mp[key] == nil {
		mp[key] = []byte{} // a stored empty value is not a missing one
	}
}

// getValue returns a copy of the value stored under key in mp.
func getValue[K comparable](mp map[K][]byte, key K) ([]byte, error) {
	v, ok := mp[key]
	if !ok {
		return nil, ErrNotFound
	}
	return bytes.Clone(v), nil
}

// deleteValue zeroes and deletes the value stored under key in mp.
func deleteValue[K comparable](mp map[K][]byte, key K) error {
	v, ok := mp[key]
	if !ok {
		return ErrNotFound
	}
	clear(v)
	delete(mp, key)
	return nil
}

// sortedKeys returns the keys of mp as byte strings in bytewise order.
func sortedKeys[V any](mp map[string]V) [][]byte {
	keys := make([][]byte, 0, len(mp))
	for k := range mp {
		keys = append(keys, []byte(k))
	}
	slices.SortFunc(keys, bytes.Compare)
	return keys
}

// PutGroupState implements GroupStore: the state is the group's only
// record, of key "".
func (m *MemoryStorage) PutGroupState(ctx context.Context, groupID, state []byte) error {
	if state == nil {
		state = []byte{}
	}
	return m.UpdateGroupRecords(ctx, groupID, &GroupRecordBatch{Replace: true, Records: []GroupRecord{{Key: "", Value: state}}})
}

// GroupState implements GroupStore: the group's record of key "".
func (m *MemoryStorage) GroupState(ctx context.Context, groupID []byte) ([]byte, error) {
	if err := m.begin(ctx, "group ID", groupID); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	return getValue(m.groups[string(groupID)], "")
}

// DeleteGroupState implements GroupStore: it deletes every record of the
// group.
func (m *MemoryStorage) DeleteGroupState(ctx context.Context, groupID []byte) error {
	if err := m.begin(ctx, "group ID", groupID); err != nil {
		return err
	}
	defer m.mu.Unlock()
	recs, ok := m.groups[string(groupID)]
	if !ok {
		return ErrNotFound
	}
	for _, v := range recs {
		clear(v)
	}
	delete(m.groups, string(groupID))
	return nil
}

// GroupIDs implements GroupStore.
func (m *MemoryStorage) GroupIDs(ctx context.Context) ([][]byte, error) {
	if err := m.begin(ctx, "", nil); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	return sortedKeys(m.groups), nil
}

// UpdateGroupRecords implements GroupRecordStore. It checks the whole
// batch before changing anything, and applies it under its lock.
func (m *MemoryStorage) UpdateGroupRecords(ctx context.Context, groupID []byte, batch *GroupRecordBatch) error {
	if err := batch.Check(); err != nil {
		return err
	}
	if err := m.begin(ctx, "group ID", groupID); err != nil {
		return err
	}
	defer m.mu.Unlock()
	recs := m.groups[string(groupID)]
	if recs == nil {
		recs = make(map[string][]byte)
	}
	if batch.Replace {
		for k, v := range recs {
			clear(v)
			delete(recs, k)
		}
	}
	for _, r := range batch.Records {
		if r.Value == nil {
			deleteValue(recs, r.Key)
		} else {
			putValue(recs, r.Key, r.Value)
		}
	}
	if len(recs) == 0 {
		delete(m.groups, string(groupID))
	} else {
		m.groups[string(groupID)] = recs
	}
	return nil
}

// GroupRecords implements GroupRecordStore.
func (m *MemoryStorage) GroupRecords(ctx context.Context, groupID []byte) ([]GroupRecord, error) {
	if err := m.begin(ctx, "group ID", groupID); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	recs, ok := m.groups[string(groupID)]
	if !ok {
		return nil, ErrNotFound
	}
	out := make([]GroupRecord, 0, len(recs))
	for k, v := range recs {
		out = append(out, GroupRecord{Key: k, Value: bytes.Clone(v)})
	}
	slices.SortFunc(out, func(a, b GroupRecord) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// PutKeyPackage implements KeyPackageStore.
func (m *MemoryStorage) PutKeyPackage(ctx context.Context, b *KeyPackageBundle) error {
	if b == nil || b.KeyPackage == nil {
		return errors.New("mls: empty KeyPackageBundle")
	}
	data, err := b.MarshalBinary()
	if err != nil {
		return err
	}
	if err := m.begin(ctx, "KeyPackageRef", b.Ref()); err != nil {
		clear(data)
		return err
	}
	defer m.mu.Unlock()
	key := string(b.Ref())
	clear(m.keyPackages[key].data)
	m.keyPackages[key] = storedBundle{data: data, lastResort: b.KeyPackage.IsLastResort()}
	return nil
}

// KeyPackage implements KeyPackageStore.
func (m *MemoryStorage) KeyPackage(ctx context.Context, ref []byte) (*KeyPackageBundle, error) {
	return m.loadKeyPackage(ctx, ref, false)
}

// TakeKeyPackage implements KeyPackageStore.
func (m *MemoryStorage) TakeKeyPackage(ctx context.Context, ref []byte) (*KeyPackageBundle, error) {
	return m.loadKeyPackage(ctx, ref, true)
}

// loadKeyPackage returns the bundle stored under ref, deleting it if take
// is set and it is not a last-resort KeyPackage. It decodes outside the
// lock: the private-key check costs two scalar multiplications.
func (m *MemoryStorage) loadKeyPackage(ctx context.Context, ref []byte, take bool) (*KeyPackageBundle, error) {
	if err := m.begin(ctx, "KeyPackageRef", ref); err != nil {
		return nil, err
	}
	sb, ok := m.keyPackages[string(ref)]
	if !ok {
		m.mu.Unlock()
		return nil, ErrNotFound
	}
	data := bytes.Clone(sb.data)
	if take && !sb.lastResort {
		clear(sb.data)
		delete(m.keyPackages, string(ref))
	}
	m.mu.Unlock()
	defer clear(data)
	b := new(KeyPackageBundle)
	if err := b.UnmarshalBinary(data); err != nil {
		return nil, err
	}
	return b, nil
}

// DeleteKeyPackage implements KeyPackageStore.
func (m *MemoryStorage) DeleteKeyPackage(ctx context.Context, ref []byte) error {
	if err := m.begin(ctx, "KeyPackageRef", ref); err != nil {
		return err
	}
	defer m.mu.Unlock()
	sb, ok := m.keyPackages[string(ref)]
	if !ok {
		return ErrNotFound
	}
	clear(sb.data)
	delete(m.keyPackages, string(ref))
	return nil
}

// KeyPackageRefs implements KeyPackageStore.
func (m *MemoryStorage) KeyPackageRefs(ctx context.Context) ([][]byte, error) {
	if err := m.begin(ctx, "", nil); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	return sortedKeys(m.keyPackages), nil
}

// PutExternalPSK implements PSKStore.
func (m *MemoryStorage) PutExternalPSK(ctx context.Context, pskID, psk []byte) error {
	if err := m.begin(ctx, "psk_id", pskID); err != nil {
		return err
	}
	defer m.mu.Unlock()
	putValue(m.externalPSKs, string(pskID), psk)
	return nil
}

// ExternalPSK implements PSKStore.
func (m *MemoryStorage) ExternalPSK(ctx context.Context, pskID []byte) ([]byte, error) {
	if err := m.begin(ctx, "psk_id", pskID); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	return getValue(m.externalPSKs, string(pskID))
}

// DeleteExternalPSK implements PSKStore.
func (m *MemoryStorage) DeleteExternalPSK(ctx context.Context, pskID []byte) error {
	if err := m.begin(ctx, "psk_id", pskID); err != nil {
		return err
	}
	defer m.mu.Unlock()
	return deleteValue(m.externalPSKs, string(pskID))
}

// PutResumptionPSK implements PSKStore.
func (m *MemoryStorage) PutResumptionPSK(ctx context.Context, groupID []byte, epoch uint64, psk []byte) error {
	if err := m.begin(ctx, "group ID", groupID); err != nil {
		return err
	}
	defer m.mu.Unlock()
	epochs := m.resumption[string(groupID)]
	if epochs == nil {
		epochs = make(map[uint64][]byte)
		m.resumption[string(groupID)] = epochs
	}
	putValue(epochs, epoch, psk)
	limit := m.ResumptionPSKEpochs
	if limit <= 0 {
		limit = DefaultResumptionPSKEpochs
	}
	for len(epochs) > limit {
		oldest := epoch
		for e := range epochs {
			oldest = min(oldest, e)
		}
		deleteValue(epochs, oldest)
	}
	return nil
}

// ResumptionPSK implements PSKStore.
func (m *MemoryStorage) ResumptionPSK(ctx context.Context, groupID []byte, epoch uint64) ([]byte, error) {
	if err := m.begin(ctx, "group ID", groupID); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	return getValue(m.resumption[string(groupID)], epoch)
}

// DeleteResumptionPSKs implements PSKStore.
func (m *MemoryStorage) DeleteResumptionPSKs(ctx context.Context, groupID []byte) error {
	if err := m.begin(ctx, "group ID", groupID); err != nil {
		return err
	}
	defer m.mu.Unlock()
	for _, v := range m.resumption[string(groupID)] {
		clear(v)
	}
	delete(m.resumption, string(groupID))
	return nil
}

package mls

import (
	"bytes"
	"testing"
)

// TestMemoryStorageZeroes checks that the values MemoryStorage deletes,
// replaces or evicts are zeroed in place.
func TestMemoryStorageZeroes(t *testing.T) {
	ctx := t.Context()
	s := &MemoryStorage{ResumptionPSKEpochs: 1}
	id := []byte("id")
	zeroed := func(what string, v []byte) {
		t.Helper()
		if len(v) == 0 || !bytes.Equal(v, make([]byte, len(v))) {
			t.Errorf("%s: stored value %x not zeroed", what, v)
		}
	}

	s.PutGroupState(ctx, id, []byte("state 1"))
	old := s.groups[string(id)][""]
	s.PutGroupState(ctx, id, []byte("state 2"))
	zeroed("replaced group state", old)
	old = s.groups[string(id)][""]
	s.DeleteGroupState(ctx, id)
	zeroed("deleted group state", old)

	// Records replaced, deleted, or dropped by a Replace batch.
	s.UpdateGroupRecords(ctx, id, &GroupRecordBatch{Records: []GroupRecord{{Key: "a", Value: []byte("a1")}, {Key: "b", Value: []byte("b1")}, {Key: "c", Value: []byte("c1")}}})
	oldA, oldB, oldC := s.groups[string(id)]["a"], s.groups[string(id)]["b"], s.groups[string(id)]["c"]
	s.UpdateGroupRecords(ctx, id, &GroupRecordBatch{Records: []GroupRecord{{Key: "a", Value: []byte("a2")}, {Key: "b"}}})
	zeroed("replaced record", oldA)
	zeroed("deleted record", oldB)
	s.UpdateGroupRecords(ctx, id, &GroupRecordBatch{Replace: true, Records: []GroupRecord{{Key: "d", Value: []byte("d1")}}})
	zeroed("record dropped by a replacing batch", oldC)
	s.DeleteGroupState(ctx, id)

	s.PutExternalPSK(ctx, id, []byte("psk"))
	old = s.externalPSKs[string(id)]
	s.DeleteExternalPSK(ctx, id)
	zeroed("deleted external PSK", old)

	s.PutResumptionPSK(ctx, id, 1, []byte("epoch 1"))
	old = s.resumption[string(id)][1]
	s.PutResumptionPSK(ctx, id, 2, []byte("epoch 2"))
	zeroed("evicted resumption PSK", old)
	old = s.resumption[string(id)][2]
	s.DeleteResumptionPSKs(ctx, id)
	zeroed("deleted resumption PSKs", old)

	kp := newTestBundle(t, newTestIdentity(t, 1, "alice"), nil)
	s.PutKeyPackage(ctx, kp)
	old = s.keyPackages[string(kp.Ref())].data
	if _, err := s.TakeKeyPackage(ctx, kp.Ref()); err != nil {
		t.Fatal(err)
	}
	zeroed("taken KeyPackage", old)
	s.PutKeyPackage(ctx, kp)
	old = s.keyPackages[string(kp.Ref())].data
	s.PutKeyPackage(ctx, kp)
	zeroed("replaced KeyPackage", old)
	old = s.keyPackages[string(kp.Ref())].data
	s.DeleteKeyPackage(ctx, kp.Ref())
	zeroed("deleted KeyPackage", old)
}

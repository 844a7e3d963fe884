package mls

import (
	"context"
	"errors"
)

// GroupRecordStore is a GroupStore that keeps a group's state as named
// records, so that Group.Save writes only the records that changed: after
// an application message sent or received, the current epoch's secret
// tree; after a commit, the tree nodes it changed and the new epoch's
// secrets, not the whole ratchet tree (see group_records.go for the
// records). Group.Save and LoadGroupFromStore use it when the store has
// it, and the whole state (PutGroupState) otherwise.
//
// The records of a group are its state: PutGroupState stores the state
// as the single record of key "" (replacing every record of the group),
// GroupState returns that record, DeleteGroupState deletes every record of
// the group, and GroupIDs lists the groups that have any record.
//
// Record keys are not empty except "", and at most MaxGroupRecordKey
// bytes. Values are secret, like whole states.
type GroupRecordStore interface {
	GroupStore
	// UpdateGroupRecords applies batch to groupID's records atomically:
	// afterwards, and after a crash at any point, the store holds either
	// every change of the batch or none. A record replaced or deleted is
	// gone from the store as thoroughly as its medium allows (it may hold
	// a secret the group consumed).
	UpdateGroupRecords(ctx context.Context, groupID []byte, batch *GroupRecordBatch) error
	// GroupRecords returns every record of groupID, or ErrNotFound if
	// it has none.
	GroupRecords(ctx context.Context, groupID []byte) ([]GroupRecord, error)
}

// MaxGroupRecordKey bounds the length of a GroupRecord's key.
const MaxGroupRecordKey = 64

// GroupRecord is one record of a group's state.
type GroupRecord struct {
	Key   string
	Value []byte // nil in a GroupRecordBatch: delete the record
}

// GroupRecordBatch is a set of changes to a group's records, applied all
// or none.
type GroupRecordBatch struct {
	// Replace deletes every record of the group that Records does not
	// put: the batch is then the group's whole state.
	Replace bool
	// Records puts (Value not nil) or deletes (Value nil) records, each
	// key at most once. Deleting a missing record is no error.
	Records []GroupRecord
}

// Size returns the number of bytes the batch puts, keys included: what it
// writes, before the store's own overhead.
func (b *GroupRecordBatch) Size() int {
	n := 0
	for _, r := range b.Records {
		n += len(r.Key)
		if r.Value != nil {
			n += len(r.Value)
		}
	}
	return n
}

// Check reports whether the batch is well formed: keys of valid length
// (the empty key only in a Replace batch that puts it alone, as
// PutGroupState does), each at most once. Stores call it before applying
// anything.
func (b *GroupRecordBatch) Check() error {
	seen := make(map[string]bool, len(b.Records))
	for _, r := range b.Records {
		switch {
		case len(r.Key) > MaxGroupRecordKey:
			return errors.New("mls: group record key too long")
		case r.Key == "" && !(b.Replace && len(b.Records) == 1 && r.Value != nil):
			return errors.New("mls: empty group record key")
		case seen[r.Key]:
			return errors.New("mls: group record key repeated in a batch")
		}
		seen[r.Key] = true
	}
	return nil
}

package mls

import (
	"context"
	"errors"
	"fmt"
)

// ErrNotFound is returned by a Storage when nothing is stored under the
// key asked for. Callers test for it with errors.Is.
var ErrNotFound = errors.New("mls: not found")

// DefaultResumptionPSKEpochs is how many epochs' resumption PSKs a store
// keeps per group when not told otherwise. RFC 9420 section 8.6 asks the
// application for such a limit; a handful of recent epochs covers ReInit
// and branching, which use the current epoch's resumption_psk.
const DefaultResumptionPSKEpochs = 8

// Storage is where a client keeps what must outlive a process: the state of
// its groups, its unused KeyPackages with their private keys, and its
// pre-shared keys. Methods take a context because implementations may do
// I/O. Every implementation is safe for concurrent use, copies bytes in and
// out (a caller never aliases stored data), and reports a missing key with
// ErrNotFound.
//
// IDs (group IDs, KeyPackageRefs, psk_ids) must not be empty;
// implementations may also bound their length (package dirstore takes at
// most 127 bytes). Values are secret: implementations never put them in
// errors, and delete them as thoroughly as their medium allows.
//
// NewMemoryStorage returns an implementation in memory; package
// github.com/arbormls/mls/dirstore keeps one in a folder, and the module
// github.com/arbormls/mls/sqlitestore one in a SQLite file. The memory
// and SQLite stores are GroupRecordStores too, to which Group.Save writes
// only what changed since its last save.
type Storage interface {
	GroupStore
	KeyPackageStore
	PSKStore
}

// GroupStore keeps the serialized state of groups by group ID. The state is
// opaque to the store: the Group code writes it, format version included,
// and reads it back.
type GroupStore interface {
	// PutGroupState stores state for groupID, replacing the previous state.
	PutGroupState(ctx context.Context, groupID, state []byte) error
	// GroupState returns the state stored for groupID.
	GroupState(ctx context.Context, groupID []byte) ([]byte, error)
	// DeleteGroupState deletes the state stored for groupID.
	DeleteGroupState(ctx context.Context, groupID []byte) error
	// GroupIDs lists the IDs of the stored groups in bytewise order.
	GroupIDs(ctx context.Context) ([][]byte, error)
}

// KeyPackageStore keeps a client's KeyPackageBundles, private keys
// included, by KeyPackageRef, until they are used.
//
// A KeyPackage is used once (RFC 9420 section 16.8): to join from a
// Welcome, look the bundle up with KeyPackage, join, and after the join
// succeeded call TakeKeyPackage, so that a forged Welcome cannot burn a
// KeyPackage. Two concurrent calls of TakeKeyPackage for the same ref never
// both get an ordinary KeyPackage.
type KeyPackageStore interface {
	// PutKeyPackage stores b under b.Ref(), replacing a bundle stored
	// there.
	PutKeyPackage(ctx context.Context, b *KeyPackageBundle) error
	// KeyPackage returns the bundle stored under ref and leaves it stored.
	KeyPackage(ctx context.Context, ref []byte) (*KeyPackageBundle, error)
	// TakeKeyPackage returns the bundle stored under ref and deletes it,
	// private keys included, unless it is a last-resort KeyPackage
	// (KeyPackage.IsLastResort), which stays for later use.
	TakeKeyPackage(ctx context.Context, ref []byte) (*KeyPackageBundle, error)
	// DeleteKeyPackage deletes the bundle stored under ref, a last-resort
	// one too (to retire it when it expires).
	DeleteKeyPackage(ctx context.Context, ref []byte) error
	// KeyPackageRefs lists the refs of the stored bundles in bytewise
	// order.
	KeyPackageRefs(ctx context.Context) ([][]byte, error)
}

// PSKStore keeps pre-shared keys (RFC 9420 section 8.4): external PSKs by
// psk_id, and resumption PSKs by group ID and epoch. For each group a store
// keeps the resumption PSKs of a bounded number of epochs (by default
// DefaultResumptionPSKEpochs), those with the highest epoch numbers:
// storing one more deletes the oldest.
type PSKStore interface {
	// PutExternalPSK stores psk under pskID, replacing the previous value.
	PutExternalPSK(ctx context.Context, pskID, psk []byte) error
	// ExternalPSK returns the PSK stored under pskID.
	ExternalPSK(ctx context.Context, pskID []byte) ([]byte, error)
	// DeleteExternalPSK deletes the PSK stored under pskID.
	DeleteExternalPSK(ctx context.Context, pskID []byte) error
	// PutResumptionPSK stores psk as the resumption_psk of groupID's
	// epoch, then deletes the group's oldest ones beyond the store's
	// bound.
	PutResumptionPSK(ctx context.Context, groupID []byte, epoch uint64, psk []byte) error
	// ResumptionPSK returns the resumption_psk stored for groupID's epoch.
	ResumptionPSK(ctx context.Context, groupID []byte, epoch uint64) ([]byte, error)
	// DeleteResumptionPSKs deletes every resumption PSK stored for
	// groupID; it is no error if there is none.
	DeleteResumptionPSKs(ctx context.Context, groupID []byte) error
}

// LookupPSK returns the PSK that id names from s: an external PSK by its
// psk_id, a resumption PSK by its group ID and epoch. The psk_nonce and
// usage play no part in the lookup.
func LookupPSK(ctx context.Context, s PSKStore, id *PreSharedKeyID) ([]byte, error) {
	switch id.PSKType {
	case PSKTypeExternal:
		return s.ExternalPSK(ctx, id.PSKID)
	case PSKTypeResumption:
		return s.ResumptionPSK(ctx, id.PSKGroupID, id.PSKEpoch)
	default:
		return nil, fmt.Errorf("mls: invalid psktype %d", uint8(id.PSKType))
	}
}

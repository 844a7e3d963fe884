// Package ds is a Delivery Service for MLS (RFC 9750 section 5, RFC 9420):
// it stores clients and their KeyPackages, orders the commits of each group
// (one per epoch) and fans messages out to per-client inboxes. It sees no
// group secrets. It follows each verified group with an mls.PublicGroup
// and refuses every handshake a member would refuse; in groups whose
// handshakes are PrivateMessages (Server.AllowUnverified) it checks only
// what the wire form shows (README, "Delivery Service modes").
package ds

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Errors a Store returns, for handlers that branch on them.
var (
	// ErrNotFound: no such client, group or KeyPackage.
	ErrNotFound = errors.New("mls: ds: not found")
	// ErrExists: a client id already registered.
	ErrExists = errors.New("mls: ds: already exists")
	// ErrReplay: a request nonce seen before.
	ErrReplay = errors.New("mls: ds: replayed nonce")
	// ErrNotMember: the client is not a member of the group.
	ErrNotMember = errors.New("mls: ds: not a member of the group")
	// ErrVoucherRequired: a client registered without a voucher for a
	// user that already has clients.
	ErrVoucherRequired = errors.New("mls: ds: the user has clients, one of them must vouch for another")
	// ErrBadVoucher: the voucher of a registration is not a registered
	// client of the same user.
	ErrBadVoucher = errors.New("mls: ds: the voucher is not a client of the user")
	// ErrTooManyClients: the user has MaxClientsPerUser clients.
	ErrTooManyClients = errors.New("mls: ds: the user has the most clients allowed")
)

// MaxClientsPerUser bounds the clients of one user: a claim hands out a
// KeyPackage of each, so the bound also bounds a claim's answer.
const MaxClientsPerUser = 64

// EpochConflictError is returned by Store.AcceptCommit when the commit's
// epoch is not the group's current epoch: another commit won the race (or
// the sender is behind). Current is the epoch the group is in now.
type EpochConflictError struct {
	Current uint64
}

func (e *EpochConflictError) Error() string {
	return fmt.Sprintf("mls: ds: epoch conflict, group is at epoch %d", e.Current)
}

// Client is a registered client: one device of a user, known by the MLS
// signature key that signs its requests and its KeyPackages.
type Client struct {
	ID           string
	User         string
	Suite        uint16
	SignatureKey []byte
	// VouchedBy is the client of the same user that vouched for this
	// one's registration; empty for the user's first client.
	VouchedBy string
}

// KeyPackage is a published KeyPackage: Data is its MLSMessage encoding,
// Ref its KeyPackageRef (RFC 9420 section 5.2).
type KeyPackage struct {
	Ref        []byte
	ClientID   string
	Data       []byte
	LastResort bool
}

// Message is one entry of a client's inbox. Seq grows strictly with every
// message stored for any client, so a client's inbox is in Seq order.
type Message struct {
	Seq  uint64
	Data []byte
}

// Commit is a commit bundle the server accepted or refused as one unit.
type Commit struct {
	GroupID []byte
	// Epoch is the epoch the commit was sent in; it must be the group's
	// current epoch. A group unknown to the store is created by a commit
	// in epoch 0, with Sender as its first member.
	Epoch  uint64
	Sender string
	// External marks an external commit (RFC 9420 section 12.4.3.2): its
	// Sender joins the group by it and need not be a member before.
	External bool
	// Commit is the MLSMessage of the commit, for every member but Sender.
	Commit []byte
	// Welcome, when not nil, goes to the clients of NewMembers, which
	// then become members of the group.
	Welcome    []byte
	NewMembers []string
	// Removed are clients that leave the member set (as the server can
	// tell from a PublicMessage commit; see README).
	Removed []string
	// GroupInfo, when not nil, replaces the group's latest GroupInfo.
	GroupInfo []byte
	// Leaves, when not nil, is the whole member set of the new epoch, as
	// read from the ratchet tree of the bundle's GroupInfo: each client
	// registered here with its leaf index. It replaces the member set
	// (NewMembers and Removed are then only for delivery).
	Leaves map[string]uint32
	// Reset replaces the commits of an unverified group after Epoch (an
	// epoch before the current one) with this one, an external commit
	// against the group's last GroupInfo: the recovery of RFC 9750
	// section 5.3 from commits the members could not process (see
	// README). The condition is then that the group is past Epoch.
	Reset bool
	// Tree, when not nil, is the verified ratchet tree of the new epoch
	// (its wire form), kept with those of the KeepTrees epochs before for
	// joiners to fetch (Store.RatchetTree); older ones are deleted, and so
	// are any of the new epoch and later (a reset).
	Tree      []byte
	KeepTrees uint64
	// Observer, when not nil, is the state of the group's observer
	// (mls.PublicGroup.MarshalBinary) in the epoch the commit starts,
	// stored in the commit's transaction (see Store.ObserverState).
	Observer []byte
}

// MaxInboxPageBytes bounds the data of one inbox page (Store.Inbox).
const MaxInboxPageBytes = 4 << 20

// Store is the persistent state of the Delivery Service. Every rule that
// must hold across server processes (one commit per epoch, one claim per
// KeyPackage, one use per nonce) is enforced by the store's transactions,
// never by process memory. Implementations are safe for concurrent use.
type Store interface {
	// CreateClient registers c; ErrExists if its id or signature key is
	// taken. A user's first client has no VouchedBy; any later one must
	// have one, a client of the same user (ErrVoucherRequired,
	// ErrBadVoucher), and a user has at most MaxClientsPerUser clients
	// (ErrTooManyClients). These rules hold in the store's transaction,
	// so two registrations at once cannot both be a user's first client,
	// also through two server processes.
	CreateClient(ctx context.Context, c *Client) error
	// Client returns the client with id, or ErrNotFound.
	Client(ctx context.Context, id string) (*Client, error)
	// UseNonce records nonce of client until expires; ErrReplay if it was
	// recorded before and has not expired. Expired nonces may be purged.
	UseNonce(ctx context.Context, clientID, nonce string, expires time.Time) error

	// AddKeyPackages stores kps, all of one client. A KeyPackage already
	// stored (same Ref) is ignored.
	AddKeyPackages(ctx context.Context, kps []KeyPackage) error
	// CountKeyPackages returns how many unclaimed, non-last-resort
	// KeyPackages the client has.
	CountKeyPackages(ctx context.Context, clientID string) (int, error)
	// ClaimKeyPackages claims one KeyPackage for each client of user,
	// atomically: an ordinary one is marked claimed and never returned
	// again; a client with none left gets its last-resort KeyPackage,
	// which is never consumed. Clients with neither are left out.
	ClaimKeyPackages(ctx context.Context, user string) ([]KeyPackage, error)
	// KeyPackageOwner returns the client that published the KeyPackage
	// with ref, or ErrNotFound.
	KeyPackageOwner(ctx context.Context, ref []byte) (string, error)

	// Epoch returns the current epoch of a group, or ErrNotFound.
	Epoch(ctx context.Context, groupID []byte) (uint64, error)
	// IsMember reports whether the client is in the group's member set.
	IsMember(ctx context.Context, groupID []byte, clientID string) (bool, error)
	// Leaf returns the leaf index of a member, when the server knows it
	// (from a GroupInfo's ratchet tree); known is false otherwise.
	Leaf(ctx context.Context, groupID []byte, clientID string) (leaf uint32, known bool, err error)
	// ClientByKey returns the id of the client with the signature key, or
	// ErrNotFound.
	ClientByKey(ctx context.Context, signatureKey []byte) (string, error)
	// Members returns the group's member set, sorted.
	Members(ctx context.Context, groupID []byte) ([]string, error)
	// AcceptCommit applies c in one transaction, conditional on the
	// group's epoch being c.Epoch: it advances the epoch, updates the
	// member set, stores the GroupInfo and fills the inboxes. It returns
	// the new epoch and the clients it delivered to (sorted), or an
	// *EpochConflictError and changes nothing.
	AcceptCommit(ctx context.Context, c *Commit) (epoch uint64, recipients []string, err error)
	// LatestGroupInfo returns the last GroupInfo stored for the group, or
	// ErrNotFound.
	LatestGroupInfo(ctx context.Context, groupID []byte) ([]byte, error)

	// Deliver appends data to the inbox of each client of to.
	Deliver(ctx context.Context, to []string, data []byte) error
	// SendToGroup delivers data, an application message or proposal of
	// epoch from sender, to every other member of the group, in one
	// transaction that holds the group's epoch still: no commit lands
	// between the epoch check and the delivery, so every recipient gets
	// the message before any commit that would leave it more than window
	// epochs behind. It returns the recipients, sorted; an
	// *EpochConflictError with the current epoch when epoch is ahead of it
	// or more than window behind; ErrNotMember when sender is not in the
	// member set; ErrNotFound for an unknown group.
	SendToGroup(ctx context.Context, groupID []byte, sender string, epoch, window uint64, data []byte) ([]string, error)
	// Inbox returns up to limit messages of the client with Seq > after,
	// in order, and stops after the one that brings their size to
	// MaxInboxPageBytes or more.
	Inbox(ctx context.Context, clientID string, after uint64, limit int) ([]Message, error)
	// Ack deletes the client's messages with Seq <= upTo.
	Ack(ctx context.Context, clientID string, upTo uint64) error

	// Close releases the store.
	Close() error

	// ObserverState returns the state of the observer (mls.PublicGroup)
	// that follows a verified group, and its version, which every change
	// raises: a commit's (Commit.Observer) and PutObserverState's.
	// ErrNotFound for a group without one.
	ObserverState(ctx context.Context, groupID []byte) (state []byte, version uint64, err error)
	// PutObserverState replaces the group's observer state (a proposal
	// was cached) if its version is still version, and reports whether
	// it did: false when another request changed it first.
	PutObserverState(ctx context.Context, groupID []byte, version uint64, state []byte) (bool, error)
	// RatchetTree returns the verified ratchet tree of a group in epoch
	// (Commit.Tree), or ErrNotFound when it has none of that epoch.
	RatchetTree(ctx context.Context, groupID []byte, epoch uint64) ([]byte, error)
}

// GCOptions says what a Collector may delete.
type GCOptions struct {
	// Now is the time expiries are compared with.
	Now time.Time
	// InboxRetention, when not zero, is how long a message stays in an
	// inbox without being acknowledged; older ones are deleted. Zero keeps
	// them until acknowledged (a client that misses a commit falls out of
	// its group, so dropping one is an operator's choice).
	InboxRetention time.Duration
	// KeyPackageRetention, when not zero, is how long a claimed
	// KeyPackage is kept after its claim, and a last-resort KeyPackage
	// replaced by a newer one after it was last handed out: long enough
	// for the Welcome naming it to arrive (the server maps a Welcome's
	// KeyPackageRefs to clients).
	KeyPackageRetention time.Duration
}

// GCResult counts the rows a collection deleted.
type GCResult struct {
	Nonces, Inbox, KeyPackages int64
}

// Collector is a Store that can delete what has expired: nonces past
// their expiry, and per GCOptions old inbox messages and spent
// KeyPackages. Every deletion is a conditional statement, so several
// server processes may collect the same database at once.
type Collector interface {
	Collect(ctx context.Context, o GCOptions) (GCResult, error)
}

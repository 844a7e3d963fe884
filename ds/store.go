// Package ds is a Delivery Service for MLS (RFC 9750 section 5, RFC 9420):
// it stores clients and their KeyPackages, orders the commits of each group
// (one per epoch) and keeps each group's messages once, in a log its
// members read from their cursors; Welcomes go to per-client inboxes. It
// sees no group secrets. It follows each verified group with an
// mls.PublicGroup and refuses every handshake a member would refuse; in
// groups whose handshakes are PrivateMessages (Server.AllowUnverified) it
// checks only what the wire form shows (README, "Delivery Service modes").
package ds

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/arbormls/mls/dsclient"
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
	// ErrQuota: storing the message would exceed a Quota (the error
	// wrapping it names which).
	ErrQuota = errors.New("mls: ds: storage quota exceeded")
	// ErrGroupFull: the commit would make the group larger than
	// Quota.MaxMembers.
	ErrGroupFull = errors.New("mls: ds: the group would exceed its most members allowed")
)

// MaxGroupIDLen is the longest group id the server accepts, in bytes: the
// wire contract of dsclient.MaxGroupIDLen, which the mls client's state
// folder holds (dirstore.MaxIDLen), so no client is sent a message of a
// group it cannot store.
const MaxGroupIDLen = dsclient.MaxGroupIDLen

// Quota bounds what the store keeps for one group or one client; a zero
// field is unbounded. The counters are exact between collections: a
// delivery adds to them, a collection (Collector) recounts what is left.
type Quota struct {
	// MaxGroupBytes bounds the bytes of one group's log.
	MaxGroupBytes int64
	// MaxClientBytes bounds the bytes of the group messages one client
	// sent that are still stored.
	MaxClientBytes int64
	// MaxInboxBytes bounds one client's inbox of Welcomes and direct
	// deliveries.
	MaxInboxBytes int64
	// MaxMembers bounds the member set of a group.
	MaxMembers int
}

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

// Message is one entry of what a client reads: a message of one of its
// groups' logs or of its own inbox. Seq is the store's one sequence,
// handed out in commit order, so what a client reads is in Seq order and a
// message committed later never has a lower Seq than one already read.
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
	// Quota bounds the new members' inboxes (the Welcome) and, by
	// MaxMembers, the group's new member set.
	Quota Quota
}

// GroupMessage is an application message or proposal for a group's log.
type GroupMessage struct {
	GroupID []byte
	Sender  string
	// Epoch is the message's epoch; it must be the group's current one or
	// at most Window behind it.
	Epoch, Window uint64
	Data          []byte
	// Quota bounds the group's log and the bytes the sender has stored.
	Quota Quota
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
	// member set, stores the GroupInfo, appends the commit to the group's
	// log (once, for the members of the old epoch, removed ones included)
	// and the Welcome to the new members' inboxes. It returns the new
	// epoch and the clients whose inboxes got the Welcome (sorted), or an
	// *EpochConflictError and changes nothing; ErrGroupFull or ErrQuota
	// when c.Quota refuses it.
	AcceptCommit(ctx context.Context, c *Commit) (epoch uint64, recipients []string, err error)
	// LatestGroupInfo returns the last GroupInfo stored for the group, or
	// ErrNotFound.
	LatestGroupInfo(ctx context.Context, groupID []byte) ([]byte, error)

	// Deliver appends data to the inbox of each client of to.
	Deliver(ctx context.Context, to []string, data []byte) error
	// SendToGroup appends m to its group's log, one copy for every other
	// member, in one transaction that holds the group's epoch still: no
	// commit lands between the epoch check and the append, so every
	// member reads the message before any commit that would leave it
	// more than m.Window epochs behind. It returns the number of other
	// members; an *EpochConflictError with the current epoch when m.Epoch
	// is ahead of it or more than m.Window behind; ErrNotMember when the
	// sender is not in the member set; ErrNotFound for an unknown group;
	// ErrQuota when m.Quota refuses it.
	SendToGroup(ctx context.Context, m *GroupMessage) (int, error)
	// Inbox returns up to limit messages for the client with Seq > after
	// and above its cursor (the last Ack): its inbox and the entries of
	// its groups' logs from when it joined each group to when it left it,
	// but its own messages, in Seq order. It stops after the message that
	// brings their size to MaxInboxPageBytes or more.
	Inbox(ctx context.Context, clientID string, after uint64, limit int) ([]Message, error)
	// Ack moves the client's cursor to upTo (never back, never past what
	// was stored) and deletes its inbox messages up to there; the group
	// logs are trimmed by Collect once every member read an entry.
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
	// inbox or a group's log without being acknowledged; older ones are
	// deleted. Zero keeps them until acknowledged (a client that misses a
	// commit falls out of its group, so dropping one is an operator's
	// choice).
	InboxRetention time.Duration
	// GroupLogBytes, when not zero, is the most bytes a group's log keeps:
	// the oldest entries beyond it are deleted, read or not.
	GroupLogBytes int64
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
	// Log counts the group log entries deleted: read by every member,
	// or past the retention.
	Log int64
}

// Wake tells waiting readers what a delivery touched: the groups whose
// logs grew and the clients whose inboxes grew; All when the store cannot
// tell (it may have missed deliveries), so every waiter reads again.
type Wake struct {
	Groups  [][]byte
	Clients []string
	All     bool
}

// Waker is a Store that reports its deliveries, so that waiting long polls
// and WebSockets read the store only when something arrived.
type Waker interface {
	// Subscribe calls f after each delivery, until cancel is called. f
	// must not block.
	Subscribe(f func(Wake)) (cancel func())
	// WakesAcrossProcesses reports whether deliveries made by other
	// processes on the same database are reported too. When not, a
	// Server also reads again every PollInterval.
	WakesAcrossProcesses() bool
	// ClientGroups returns the groups whose logs the client reads: those
	// it is a member of, or left but has not read to the end.
	ClientGroups(ctx context.Context, clientID string) ([][]byte, error)
}

// Collector is a Store that can delete what has expired: nonces past
// their expiry, and per GCOptions old inbox messages and spent
// KeyPackages. Every deletion is a conditional statement, so several
// server processes may collect the same database at once.
type Collector interface {
	Collect(ctx context.Context, o GCOptions) (GCResult, error)
}

package mls

import (
	"crypto"

	"github.com/arbormls/mls/ciphersuite"
)

// Defaults of Config.
const (
	// DefaultPaddingBlock is the block size to which PrivateMessage
	// contents are padded when Config.PaddingBlock is zero: enough to hide
	// the exact length of short messages at a small cost.
	DefaultPaddingBlock = 32
	// DefaultMaxPastEpochs is how many past epochs a group keeps the
	// secret trees of, for application messages that arrive after the
	// commit that ended their epoch, when Config.MaxPastEpochs is zero.
	DefaultMaxPastEpochs = 3
)

// Config is the policy of a group, given once when the group is created
// or joined. The zero value (or a nil *Config) is usable: encrypted
// handshake messages, padding to DefaultPaddingBlock bytes, keys of
// DefaultMaxPastEpochs past epochs, the SecretTreeConfig defaults, the
// zero LifetimePolicy, and every credential accepted.
type Config struct {
	// PublicHandshake sends proposals and commits as PublicMessages
	// (signed and MACed, not encrypted) instead of PrivateMessages.
	//
	// The default is PrivateMessage: it hides the group's membership
	// changes, the members' credentials and the proposal contents from
	// the Delivery Service and from anyone who sees the traffic (RFC 9420
	// section 16.4.2). Choose PublicMessage when the Delivery Service must
	// read handshake messages, for example to track the ratchet tree or
	// to order commits by their contents (RFC 9750). Incoming handshake
	// messages are accepted in either form; external senders and joiners
	// always use PublicMessage.
	PublicHandshake bool

	// PaddingBlock pads the content of every PrivateMessage with zero bytes
	// to a multiple of this many bytes (RFC 9420 sections 6.3.1 and 15.1). Zero means
	// DefaultPaddingBlock, a negative value no padding; at most 65536.
	PaddingBlock int

	// MaxPastEpochs is how many epochs before the current one keep their
	// secret trees, so that application messages sent just before a commit
	// still decrypt (RFC 9420 section 15.3). Handshake messages are only ever
	// accepted in the current epoch. Zero means DefaultMaxPastEpochs, a
	// negative value none: older keys are deleted at once (section 9.2).
	MaxPastEpochs int

	// SecretTree bounds the out-of-order window and the forward distance
	// of the message ratchets.
	SecretTree SecretTreeConfig

	// Lifetimes is the policy for the lifetimes of key_package leaves
	// (RFC 9420 sections 7.2 and 7.3). Its zero value checks the
	// KeyPackages this client adds against the clock, as section 7.3
	// requires of what a client sends, and nothing else: no maximum
	// lifetime, and no clock check of leaves received from others (Add
	// proposals, ratchet trees joined), which may expire in transit.
	Lifetimes LifetimePolicy

	// NoGREASE turns off GREASE (RFC 9420 section 13.5) in what the group
	// makes: the random extension in the GroupInfos of its Welcomes and of
	// GroupInfo, and the GREASE values of the leaves that CreateGroup,
	// JoinExternal, ReInit and Branch make (KeyPackageOptions.NoGREASE).
	// GREASE is on by default, as section 13.5 recommends, so that peers
	// that wrongly refuse unknown values show up early.
	NoGREASE bool

	// BatchVerifyTree checks the leaf signatures of a ratchet tree joined
	// (by Welcome or external commit) in Ed25519 batches, about three times
	// faster: the bulk of joining a large group. It is off by default, and
	// should stay off unless every member of the group's deployment sets
	// it: batch verification also accepts Ed25519 signatures with a
	// small-order component, which single verification and other MLS
	// implementations reject, so a malicious member could craft a leaf that
	// splits members who batch-verify from those who do not (see
	// ciphersuite.Suite.BatchVerifyWithLabel). Other signature schemes
	// ignore it.
	BatchVerifyTree bool

	// CredentialValidator is the Authentication Service (RFC 9420 section
	// 5.3.1): the group calls it for every member of a tree it joins,
	// every KeyPackage added, every new leaf of an Update or a commit, and
	// every external sender. Nil accepts every credential, like
	// AcceptAllCredentials: a basic credential then proves nothing, so
	// set it in any real application.
	CredentialValidator CredentialValidator

	// Policy is the application's say over the proposals and commits the
	// group accepts and over what this client's commits carry; the zero
	// value accepts whatever RFC 9420 allows.
	Policy Policy

	// PSKs looks up pre-shared keys the group does not hold itself:
	// external PSKs, and resumption PSKs of other groups. The group
	// answers resumption PSKs of its own current and kept past epochs.
	// Nil means no such PSK is available.
	PSKs PSKLookup

	// Signers gives LoadGroup the crypto.Signer of a stored group whose
	// identity's signing key is one (Suite.SigningKeyFromSigner), from the
	// suite and the signature public key the state keeps in its place.
	// Nil refuses such a state with ErrExternalSigningKey.
	Signers func(suite ciphersuite.ID, publicKey []byte) (crypto.Signer, error)
}

// resolved returns a copy of c with the defaults filled in; c may be nil.
func (c *Config) resolved() Config {
	var r Config
	if c != nil {
		r = *c
	}
	// Negative values stay as they are, so that resolving is idempotent:
	// see padBlock and pastEpochs.
	if r.PaddingBlock == 0 {
		r.PaddingBlock = DefaultPaddingBlock
	}
	if r.MaxPastEpochs == 0 {
		r.MaxPastEpochs = DefaultMaxPastEpochs
	}
	if r.CredentialValidator == nil {
		r.CredentialValidator = AcceptAllCredentials
	}
	return r
}

// padBlock returns the padding block size of a resolved Config.
func (c *Config) padBlock() int { return max(c.PaddingBlock, 0) }

// pastEpochs returns how many past epochs a resolved Config keeps.
func (c *Config) pastEpochs() int { return max(c.MaxPastEpochs, 0) }

// handshakeWireFormat returns the wire format of the proposals and commits
// the group sends.
func (c *Config) handshakeWireFormat() WireFormat {
	if c.PublicHandshake {
		return WireFormatPublicMessage
	}
	return WireFormatPrivateMessage
}

// keyPackagePolicy returns the policy for KeyPackages: those this client
// adds (own) are always checked against the clock, received ones only when
// Lifetimes.CheckReceived is set. Credentials are checked separately, with
// the group's context.
func (c *Config) keyPackagePolicy(own bool) *ValidationPolicy {
	return &ValidationPolicy{Lifetimes: c.Lifetimes, Received: !own}
}

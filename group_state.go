package mls

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/codec"
	"github.com/arbormls/mls/internal/treemath"
)

// The group state format.
//
// Group.MarshalBinary writes the whole state of a client in a group, and
// LoadGroup reads it back, so that a client can stop and later continue
// the conversation where it left it. The bytes hold every secret the
// client has in the group: its private signature key, the private keys of
// the ratchet tree, the epoch secrets, the message keys of the current and
// past epochs. Anyone who reads them can read the group's messages and
// impersonate the client. Store them encrypted or in storage only the
// client can read, and never log them.
//
// The layout is an Arbor format, not an MLS message, in the TLS
// presentation language of RFC 9420 section 2.1 (vectors with varint
// lengths, optional<T> as a presence byte). GroupContext, Node, LeafNode,
// Proposal, Sender, MLSMessage, PreSharedKeyID and ReInit are the RFC 9420
// structs. Version 2, field by field (version 1, which LoadGroup still
// reads, ends before the extensions):
//
//	struct {
//	    opaque magic[4] = "ARBG";
//	    uint16 version = 2;
//	    opaque identity<V>;              // Identity.MarshalBinary: credential, signature private key (public key if a crypto.Signer)
//	    uint32 own_leaf;                 // this client's leaf
//	    uint8 group_state;               // 0 active, 1 removed by a commit, 2 closed by a ReInit
//	    GroupContext group_context;      // of the current epoch (RFC 9420 section 8.1)
//	    RatchetTreeState tree;           // the current tree, with this client's private keys
//	    EpochSecretsState secrets;       // the current epoch's secrets still held
//	    ProtectionState protection;      // the current epoch's message protection
//	    opaque interim_transcript_hash<V>;
//	    opaque confirmation_tag<V>;      // of the commit that started the epoch
//	    CachedProposal proposals<V>;     // received in the epoch, in arrival order
//	    optional<PendingCommitState> pending_commit;
//	    PastEpochState past_epochs<V>;   // newest first
//	    optional<ReInit> reinit;         // the ReInit that closed the group (RFC 9420 section 12.1.5)
//	    optional<ResumeState> resume;    // the group this new group resumes (ReInit or Branch)
//	    StateExtension extensions<V>;    // version 2: by increasing type, each at most once
//	} GroupState;
//
//	struct {
//	    uint16 type;                     // 1 rotation, 2 exporter tree, 3 pending exporter root
//	    opaque data<V>;
//	} StateExtension;
//
// A new identity of this client that a commit has not applied yet
// (CommitOptions.NewIdentity, Group.ProposeUpdateIdentity), present only
// then:
//
//	struct {
//	    optional<opaque identity<V>> pending_commit_identity;
//	    RotatedUpdate updates<V>;        // own cached Updates with a new identity
//	} RotationState;
//
//	struct {
//	    opaque proposal_ref<V>;
//	    opaque identity<V>;              // Identity.MarshalBinary
//	} RotatedUpdate;
//
// The current epoch's exporter tree (draft-ietf-mls-extensions-10 section
// 4.4, see Group.SafeExport), absent in an epoch restored from version 1:
// the node secrets still held, by increasing node index, none below
// another.
//
//	struct {
//	    ExporterNode nodes[];            // up to the end of the data
//	} ExporterState;
//
//	struct {
//	    uint32 node;                     // array index in the tree of 2^16 leaves
//	    opaque secret<V>;
//	} ExporterNode;
//
// The pending commit's application_export_secret (type 3) is its opaque
// secret<V>, present when a commit is pending.
//
// The ratchet tree (RFC 9420 sections 4 and 7) with the private keys this
// client holds (section 4.2):
//
//	struct {
//	    uint32 leaf_count;               // a power of two
//	    optional<Node> nodes<V>;         // the ratchet_tree of RFC 9420 section 12.4.3.3
//	    optional<TreePrivateState> private;
//	} RatchetTreeState;
//
//	struct {
//	    uint32 own_leaf;
//	    optional<opaque leaf_private_key<V>>;  // HPKE SerializePrivateKey
//	    NodePrivateKey parent_keys<V>;         // ascending node, on own_leaf's direct path
//	} TreePrivateState;
//
//	struct {
//	    uint32 node;
//	    opaque private_key<V>;
//	} NodePrivateKey;
//
// The trees of past epochs and of a pending commit differ from the
// current tree in a few nodes and are stored as the changes from another
// tree, so that the state holds one full tree:
//
//	struct {
//	    uint32 leaf_count;               // of this tree, a power of two
//	    NodeChange changes<V>;           // ascending node, inside this tree
//	} TreeDiff;
//
//	struct {
//	    uint32 node;
//	    optional<Node> value;            // absent: the node is blank in this tree
//	} NodeChange;
//
// A node is listed when its encoding differs from the other tree's, where
// nodes outside that tree count as blank.
//
// The key schedule (RFC 9420 section 8):
//
//	struct {
//	    optional<opaque secret<V>> secrets[11];
//	} EpochSecretsState;
//
// holds, in this order, joiner_secret, welcome_secret, sender_data_secret,
// encryption_secret, exporter_secret, external_secret, confirmation_key,
// membership_key, resumption_psk, epoch_authenticator and init_secret,
// each absent once erased (section 9.2): a restored group holds exactly
// what the original held, never a secret it deleted. The epoch_secret
// itself is never kept.
//
// Message protection (RFC 9420 section 6) and the secret tree (section 9)
// of an epoch:
//
//	struct {
//	    GroupContext group_context;
//	    optional<opaque membership_key<V>>;
//	    optional<opaque sender_data_secret<V>>;
//	    optional<SecretTreeState> secret_tree;
//	} ProtectionState;
//
//	struct {
//	    uint32 leaf_count;               // a power of two
//	    NodeSecret node_secrets<V>;      // ascending node: the node secrets not yet consumed
//	    LeafRatchets leaves<V>;          // ascending leaf: the leaves whose ratchets started
//	} SecretTreeState;
//
//	struct {
//	    uint32 node;
//	    opaque secret<V>;
//	} NodeSecret;
//
//	struct {
//	    uint32 leaf;
//	    RatchetState handshake;
//	    RatchetState application;
//	} LeafRatchets;
//
//	struct {
//	    optional<opaque ratchet_secret<V>>; // of generation next; absent once erased or exhausted
//	    uint64 next;                     // the next generation to use
//	    uint64 floor;                    // generations below it and not skipped are gone
//	    SkippedKey skipped<V>;           // ascending generation, below next
//	} RatchetState;
//
//	struct {
//	    uint32 generation;
//	    opaque key<V>;
//	    opaque nonce<V>;
//	} SkippedKey;
//
// Consumed generations are those below next that are not skipped keys, so
// a replay is still rejected after a restore.
//
// The proposals received (or sent) in the epoch, which commits include by
// reference:
//
//	struct {
//	    opaque proposal_ref<V>;
//	    Proposal proposal;
//	    Sender sender;
//	    optional<opaque update_private_key<V>>; // of this client's own Update
//	    optional<opaque sent_message<V>>;        // of this client's own proposal, to recognize its echo
//	} CachedProposal;
//
// The past epochs Config.MaxPastEpochs keeps, for application messages
// that arrive after the commit that ended their epoch, newest first:
//
//	struct {
//	    uint64 epoch;
//	    ProtectionState protection;      // its secret tree still decrypts late messages
//	    TreeDiff tree;                   // against the next newer epoch's tree (the current one for the newest)
//	    optional<opaque resumption_psk<V>>;
//	} PastEpochState;
//
// A commit this client created and has not yet merged or discarded, so
// that a client can commit, stop, and merge once the Delivery Service
// accepted the commit (or recognize its echo):
//
//	struct {
//	    opaque commit<V>;                // the MLSMessage as sent
//	    optional<MLSMessage> welcome;
//	    optional<MLSMessage> group_info;
//	    bool ratchet_tree_out_of_band;   // PendingCommit.RatchetTree is the next tree
//	    TreeDiff next_tree;              // against the current tree
//	    optional<TreePrivateState> next_private;
//	    GroupContext next_group_context;
//	    EpochSecretsState next_secrets;
//	    opaque next_interim_transcript_hash<V>;
//	    opaque next_confirmation_tag<V>;
//	    optional<ReInit> next_reinit;
//	    EpochChangeState change;         // what MergePendingCommit reports
//	} PendingCommitState;
//
//	struct {
//	    uint64 epoch;
//	    Sender committer;
//	    uint32 committer_leaf;
//	    uint32 added<V>;                 // leaves of the next tree
//	    RemovedMember removed<V>;        // struct { uint32 leaf; LeafNode leaf_node; }
//	    uint32 updated<V>;               // leaves of the next tree
//	    bool removed_self;
//	    PreSharedKeyID psks<V>;
//	    bool group_context_extensions;
//	    optional<ReInit> reinit;
//	} EpochChangeState;
//
// A group created by ReInit or Branch keeps of the group it resumes only
// what it uses: its ID and the resumption PSKs it held, which the first
// commit of the new group injects (RFC 9420 sections 11.2 and 11.3):
//
//	struct {
//	    uint8 usage;                     // ResumptionPSKUsage: reinit or branch
//	    opaque group_id<V>;              // of the group resumed
//	    EpochPSK psks<V>;                // newest first
//	} ResumeState;
//
//	struct {
//	    uint64 epoch;
//	    opaque resumption_psk<V>;
//	} EpochPSK;
//
// The Config is policy, not state: it is not stored, and LoadGroup takes
// it again. A smaller MaxPastEpochs or MaxSkippedKeys than before drops
// the oldest past epochs or skipped keys at load, as the group would have.
//
// The state grows with the group as its public ratchet tree does (one
// LeafNode per member and one ParentNode per non-blank parent: about 180
// bytes per member in a sparse tree of suite 1, 260 in a full one) plus a
// bounded amount per epoch kept: the secret tree leaves used, the skipped
// keys kept, and the tree nodes that changed.

const (
	groupStateMagic   = "ARBG"
	groupStateVersion = 2
)

// ErrUnknownStateVersion is returned by LoadGroup for a state of a format
// version this build does not read (written by a newer one).
var ErrUnknownStateVersion = errors.New("mls: unknown group state version")

// MarshalBinary returns the whole state of the group, secrets included, in
// a versioned format ("ARBG", version 1, then the fields documented at the
// top of group_state.go). LoadGroup restores it.
//
// The bytes are SECRET: they hold this client's private signature key and
// every key of the group it holds, enough to read the group's messages and
// to impersonate the client. Keep them encrypted or where only the client
// can read them, zero them after use, and never log them. Go may leave
// copies of intermediate buffers in memory it no longer uses.
//
// Save the state after every change (a processed message, a commit
// created or merged, a message sent): a restored older state would reuse
// message keys or accept messages again.
func (g *Group) MarshalBinary() ([]byte, error) {
	if g.state == stateErased {
		return nil, g.checkActive()
	}
	idBytes, err := g.id.MarshalBinary()
	if err != nil {
		return nil, err
	}
	defer clear(idBytes)
	// The public tree dominates; writing it first into its own buffer
	// sizes the final one, so that it is not copied (with the secrets)
	// as it grows.
	tb := codec.NewBuilder(1024)
	g.tree.marshalState(tb)
	treeBytes, err := tb.Bytes()
	if err != nil {
		return nil, err
	}
	b := codec.NewBuilder(len(treeBytes) + len(idBytes) + 1<<16)
	b.AddRaw([]byte(groupStateMagic))
	b.AddUint16(groupStateVersion)
	b.AddOpaque(idBytes)
	b.AddUint32(uint32(g.self))
	b.AddUint8(uint8(g.state))
	b.AddRaw(g.gcBytes)
	b.AddRaw(treeBytes)
	g.secrets.marshalState(b)
	g.pc.marshalState(b)
	b.AddOpaque(g.interim)
	b.AddOpaque(g.confirmationTag)
	g.marshalProposals(b)
	b.AddOptional(g.pending != nil, func(b *codec.Builder) { g.pending.marshalState(b, g.tree) })
	b.AddVector(func(b *codec.Builder) {
		newer := g.tree
		for i := len(g.past) - 1; i >= 0; i-- {
			p := g.past[i]
			b.AddUint64(p.epoch)
			p.pc.marshalState(b)
			p.tree.marshalChanges(b, newer)
			addOptionalSecret(b, p.resumptionPSK)
			newer = p.tree
		}
	})
	addOptionalReInit(b, g.reinit)
	b.AddOptional(g.resumeFrom != nil, func(b *codec.Builder) { g.marshalResume(b) })
	b.AddVector(func(b *codec.Builder) {
		g.marshalRotation(b)
		g.marshalExporter(b)
	})
	return b.Bytes()
}

// The types of StateExtension, in the order they are written.
const (
	stateExtRotation        = 1
	stateExtExporter        = 2
	stateExtPendingExporter = 3
)

// addStateExtension writes a StateExtension of type typ whose data f
// writes.
func addStateExtension(b *codec.Builder, typ uint16, f func(b *codec.Builder)) {
	b.AddUint16(typ)
	b.AddVector(f)
}

// marshalExporter writes the exporter tree of the current epoch and the
// root of the pending commit's, when there are.
func (g *Group) marshalExporter(b *codec.Builder) {
	if g.exporter != nil {
		addStateExtension(b, stateExtExporter, func(b *codec.Builder) {
			nodes := slices.Sorted(maps.Keys(g.exporter.nodes))
			for _, x := range nodes {
				b.AddUint32(uint32(x))
				b.AddOpaque(g.exporter.nodes[x])
			}
		})
	}
	if g.pending != nil && g.pending.next.secrets.applicationExportSecret != nil {
		addStateExtension(b, stateExtPendingExporter, func(b *codec.Builder) {
			b.AddOpaque(g.pending.next.secrets.applicationExportSecret)
		})
	}
}

// unmarshalExporter reads an exporter tree's nodes: in range, each at
// most once, Nh bytes each.
func (g *Group) unmarshalExporter(r *codec.Reader) {
	t := &exporterTree{suite: g.suite, nodes: make(map[treemath.NodeIndex][]byte)}
	g.exporter = t
	for !r.Empty() {
		x := treemath.NodeIndex(r.ReadUint32())
		v := readSecret(r, g.suite.HashSize(), "exporter tree node")
		if r.Err() != nil {
			return
		}
		if uint32(x) >= treemath.NodeWidth(exporterLeaves) || t.nodes[x] != nil {
			clear(v)
			r.SetError(fmt.Errorf("exporter tree node %d out of range or repeated", x))
			return
		}
		t.nodes[x] = v
	}
	// No node below another: a node's secret is deleted when its children
	// are derived.
	for x := range t.nodes {
		for p, ok := treemath.Parent(x, exporterLeaves); ok; p, ok = treemath.Parent(p, exporterLeaves) {
			if t.nodes[p] != nil {
				r.SetError(fmt.Errorf("exporter tree nodes %d and %d both held", p, x))
				return
			}
		}
	}
}

// unmarshalExtensions reads the StateExtensions of a version 2 state:
// known types only, in increasing order.
func (g *Group) unmarshalExtensions(r *codec.Reader) {
	last := uint16(0)
	r.ReadVectorFunc(func(r *codec.Reader) {
		typ := r.ReadUint16()
		data := r.ReadVector()
		if r.Err() != nil {
			return
		}
		if typ <= last {
			r.SetError(fmt.Errorf("state extension %d out of order", typ))
			return
		}
		last = typ
		switch typ {
		case stateExtRotation:
			g.unmarshalRotation(data)
		case stateExtExporter:
			g.unmarshalExporter(data)
		case stateExtPendingExporter:
			if g.pending == nil || g.pending.next.secrets == nil {
				data.SetError(errors.New("an exporter root without a pending commit"))
				break
			}
			g.pending.next.secrets.applicationExportSecret = readSecret(data, g.suite.HashSize(), "application_export_secret")
		default:
			r.SetError(fmt.Errorf("unknown state extension %d", typ))
			return
		}
		if err := data.Finish(); err != nil {
			r.SetError(err)
		}
	})
}

// marshalProposals writes the proposal cache as CachedProposal<V>.
func (g *groupCore) marshalProposals(b *codec.Builder) {
	b.AddVector(func(b *codec.Builder) {
		for _, p := range g.proposals.list {
			b.AddOpaque(p.ref)
			p.proposal.marshal(b)
			p.sender.marshal(b)
			addOptionalSecret(b, p.updatePriv)
			addOptionalSecret(b, p.sent)
		}
	})
}

// marshalRotation writes the RotationState extension, if a new identity
// is pending.
func (g *Group) marshalRotation(b *codec.Builder) {
	var pending *Identity
	if g.pending != nil {
		pending = g.pending.next.newID
	}
	var updates []*cachedProposal
	for _, p := range g.proposals.list {
		if p.newID != nil {
			updates = append(updates, p)
		}
	}
	if pending == nil && len(updates) == 0 {
		return
	}
	addIdentity := func(b *codec.Builder, id *Identity) {
		enc, err := id.MarshalBinary()
		if err != nil {
			b.SetError(err)
			return
		}
		b.AddOpaque(enc)
		clear(enc)
	}
	addStateExtension(b, stateExtRotation, func(b *codec.Builder) {
		b.AddOptional(pending != nil, func(b *codec.Builder) { addIdentity(b, pending) })
		b.AddVector(func(b *codec.Builder) {
			for _, p := range updates {
				b.AddOpaque(p.ref)
				addIdentity(b, p.newID)
			}
		})
	})
}

// unmarshalRotation reads a RotationState and checks each identity
// against the leaf it is to sign for.
func (g *Group) unmarshalRotation(r *codec.Reader) {
	readIdentity := func(r *codec.Reader) *Identity {
		enc := r.ReadOpaque()
		defer clear(enc)
		if r.Err() != nil {
			return nil
		}
		id := new(Identity)
		if err := id.UnmarshalBinary(enc); err != nil {
			r.SetError(err)
			return nil
		}
		return id
	}
	matches := func(id *Identity, ln *LeafNode) bool {
		return id != nil && ln != nil && bytes.Equal(id.SigningKey.PublicKey(), ln.SignatureKey)
	}
	if r.ReadOptional() {
		id := readIdentity(r)
		if r.Err() != nil {
			return
		}
		if g.pending == nil || !matches(id, g.pending.next.tree.Leaf(g.self)) {
			r.SetError(errors.New("a pending identity without a pending commit to its leaf"))
			return
		}
		g.pending.next.newID = id
	}
	r.ReadVectorFunc(func(r *codec.Reader) {
		ref := r.ReadOpaque()
		id := readIdentity(r)
		if r.Err() != nil {
			return
		}
		p := g.proposals.byRef[string(ref)]
		if p == nil || p.proposal.Update == nil || p.sender != g.ownSender() || !matches(id, &p.proposal.Update.LeafNode) {
			r.SetError(errors.New("a pending identity without its own Update"))
			return
		}
		p.newID = id
	})
}

// marshalState writes pc as PendingCommitState; cur is the current tree.
func (pc *PendingCommit) marshalState(b *codec.Builder, cur *RatchetTree) {
	n := pc.next
	b.AddOpaque(pc.commitBytes)
	addOptionalMessage(b, pc.Welcome)
	addOptionalMessage(b, pc.GroupInfo)
	b.AddBool(pc.RatchetTree != nil)
	n.tree.marshalChanges(b, cur)
	b.AddOptional(n.tree.priv != nil, func(b *codec.Builder) { n.tree.priv.marshalState(b) })
	b.AddRaw(n.gcBytes)
	n.secrets.marshalState(b)
	b.AddOpaque(n.interim)
	b.AddOpaque(n.tag)
	addOptionalReInit(b, n.reinit)
	c := n.change
	b.AddUint64(c.Epoch)
	c.Committer.marshal(b)
	b.AddUint32(uint32(c.CommitterLeaf))
	addMemberLeaves(b, c.Added)
	b.AddVector(func(b *codec.Builder) {
		for _, m := range c.Removed {
			b.AddUint32(uint32(m.Leaf))
			m.LeafNode.marshal(b)
		}
	})
	addMemberLeaves(b, c.Updated)
	b.AddBool(c.RemovedSelf)
	marshalList(b, c.PSKs)
	b.AddBool(c.GroupContextExtensions)
	addOptionalReInit(b, c.ReInit)
}

func addMemberLeaves(b *codec.Builder, ms []Member) {
	b.AddVector(func(b *codec.Builder) {
		for _, m := range ms {
			b.AddUint32(uint32(m.Leaf))
		}
	})
}

func addOptionalMessage(b *codec.Builder, m *MLSMessage) {
	b.AddOptional(m != nil, func(b *codec.Builder) { m.marshal(b) })
}

func addOptionalReInit(b *codec.Builder, ri *ReInitProposal) {
	b.AddOptional(ri != nil, func(b *codec.Builder) { ri.marshal(b) })
}

// LoadGroup restores a group from the state MarshalBinary wrote, with the
// policy cfg (nil for the defaults), which is not part of the state. It
// checks the state's structure, that the private keys match the tree, and
// the tree hashes of the current, past and pending trees; a state of an
// unknown version fails with ErrUnknownStateVersion, any other invalid
// state with an error that wraps ErrMalformed. data is not modified or
// kept: the caller zeroes it.
func LoadGroup(data []byte, cfg *Config) (*Group, error) {
	if len(data) < len(groupStateMagic)+2 || string(data[:len(groupStateMagic)]) != groupStateMagic {
		return nil, stateErr(errors.New("not a group state"))
	}
	data = data[len(groupStateMagic):]
	v := uint16(data[0])<<8 | uint16(data[1])
	if v < 1 || v > groupStateVersion {
		return nil, fmt.Errorf("%w %d (this version reads 1 to %d)", ErrUnknownStateVersion, v, groupStateVersion)
	}
	r := codec.NewReader(data[2:])
	idBytes := r.ReadOpaque()
	defer clear(idBytes)
	if err := r.Err(); err != nil {
		return nil, stateErr(err)
	}
	id := new(Identity)
	var signers func(ciphersuite.ID, []byte) (crypto.Signer, error)
	if cfg != nil {
		signers = cfg.Signers
	}
	if err := id.unmarshal(idBytes, signers); err != nil {
		if _, malformed := err.(*decodeError); !malformed {
			return nil, err // the crypto.Signer could not be had
		}
		return nil, stateErr(err)
	}
	g, err := newGroup(id, cfg)
	if err != nil {
		return nil, err
	}
	if err := g.unmarshalState(r, v); err != nil {
		g.eraseState()
		return nil, stateErr(err)
	}
	g.trimPast()
	// Loading is O(n) anyway: count the tree's keys now, so that the first
	// commit processed after loading does not pay for it (at 50,000
	// members it took process from 0.5 ms to 40 ms).
	g.tree.getCensus()
	return g, nil
}

// stateErr wraps an error of a group state that cannot be loaded.
func stateErr(err error) error { return &decodeError{typ: "group state", err: err} }

// unmarshalState reads the state after the identity into g, which newGroup
// made, then checks it as a whole.
func (g *Group) unmarshalState(r *codec.Reader, version uint16) error {
	s := g.suite
	g.self = LeafIndex(r.ReadUint32())
	g.state = groupState(r.ReadUint8())
	g.gcBytes = captureRaw(r, func() { g.gc.unmarshal(r) })
	if r.Err() != nil {
		return r.Err()
	}
	if g.state > stateReInit {
		return fmt.Errorf("unknown group state %d", g.state)
	}
	if g.gc.CipherSuite != s.ID() {
		return fmt.Errorf("group of suite %v for an identity of suite %v", g.gc.CipherSuite, s.ID())
	}
	if g.tree = unmarshalRatchetTreeState(r, s); g.tree == nil {
		return r.Err()
	}
	if self, ok := g.tree.OwnLeaf(); !ok || self != g.self {
		return errors.New("the ratchet tree does not hold the own leaf's private keys")
	}
	if !bytes.Equal(g.tree.Leaf(g.self).SignatureKey, g.id.SigningKey.PublicKey()) {
		return errors.New("the own leaf belongs to another identity")
	}
	if g.secrets = unmarshalEpochSecretsState(r, s); g.secrets == nil {
		return r.Err()
	}
	if g.pc = unmarshalProtectionState(r, s, g.cfg.SecretTree); g.pc == nil {
		return r.Err()
	}
	g.interim = readSecret(r, s.DigestSize(), "interim transcript hash")
	g.confirmationTag = readSecret(r, s.DigestSize(), "confirmation tag")
	g.unmarshalProposals(r)
	if r.ReadOptional() {
		g.pending = g.unmarshalPending(r)
	}
	g.unmarshalPast(r)
	g.reinit = readOptional[ReInitProposal](r)
	if r.ReadOptional() {
		g.unmarshalResume(r)
	}
	if version >= 2 {
		g.unmarshalExtensions(r)
	}
	if err := r.Finish(); err != nil {
		return err
	}
	if !bytes.Equal(g.pc.gcBytes, g.gcBytes) {
		return errors.New("the protection context is of another epoch")
	}
	return checkEpochTree(g.tree, g.pc)
}

// checkEpochTree checks that t is the ratchet tree of the epoch of pc:
// its tree hash, and the size of pc's secret tree.
func checkEpochTree(t *RatchetTree, pc *ProtectionContext) error {
	if pc.tree != nil && pc.tree.leafCount != t.NumLeaves() {
		return fmt.Errorf("secret tree of %d leaves for a ratchet tree of %d (epoch %d)", pc.tree.leafCount, t.NumLeaves(), pc.gc.Epoch)
	}
	return checkTreeHash(t, &pc.gc)
}

// checkTreeHash checks that t is the tree of the epoch of gc.
func checkTreeHash(t *RatchetTree, gc *GroupContext) error {
	if !bytes.Equal(t.TreeHash(), gc.TreeHash) {
		return fmt.Errorf("%w (epoch %d)", ErrTreeHashMismatch, gc.Epoch)
	}
	return nil
}

// unmarshalProposals reads the proposal cache.
func (g *groupCore) unmarshalProposals(r *codec.Reader) {
	r.ReadVectorFunc(func(r *codec.Reader) {
		p := &cachedProposal{ref: r.ReadOpaque(), proposal: new(Proposal)}
		p.proposal.unmarshal(r)
		p.sender.unmarshal(r)
		if r.ReadOptional() {
			p.updatePriv = r.ReadOpaque()
		}
		if r.ReadOptional() {
			p.sent = r.ReadOpaque()
		}
		if r.Err() != nil {
			return
		}
		if _, dup := g.proposals.byRef[string(p.ref)]; dup || len(p.ref) != g.suite.DigestSize() {
			clear(p.updatePriv)
			r.SetError(errors.New("invalid or repeated proposal reference"))
			return
		}
		g.proposals.add(p)
	})
}

// unmarshalPending reads a PendingCommitState of the current epoch.
func (g *Group) unmarshalPending(r *codec.Reader) *PendingCommit {
	s := g.suite
	pc := &PendingCommit{commitBytes: r.ReadOpaque()}
	pc.Welcome = readOptional[MLSMessage](r)
	pc.GroupInfo = readOptional[MLSMessage](r)
	outOfBand := r.ReadBool()
	if r.Err() != nil {
		return nil
	}
	pc.Commit = new(MLSMessage)
	if err := pc.Commit.UnmarshalBinary(pc.commitBytes); err != nil {
		r.SetError(err)
		return nil
	}
	n := &nextEpoch{tree: unmarshalChanges(r, g.tree)}
	if n.tree == nil {
		return nil
	}
	pc.next = n // from here on, an error erases n's secrets with g's
	if r.ReadOptional() {
		n.tree.unmarshalPrivate(r)
	}
	if self, ok := n.tree.OwnLeaf(); r.Err() == nil && (!ok || self != g.self) {
		r.SetError(errors.New("the pending commit's tree does not hold the own leaf's private keys"))
	}
	n.gcBytes = captureRaw(r, func() { n.gc.unmarshal(r) })
	if n.secrets = unmarshalEpochSecretsState(r, s); n.secrets == nil {
		return pc
	}
	n.interim = readSecret(r, s.DigestSize(), "interim transcript hash")
	n.tag = readSecret(r, s.DigestSize(), "confirmation tag")
	n.reinit = readOptional[ReInitProposal](r)
	n.change = g.unmarshalChange(r, n.tree)
	if r.Err() != nil {
		return pc
	}
	if n.gc.Epoch != g.gc.Epoch+1 || !bytes.Equal(n.gc.GroupID, g.gc.GroupID) || n.gc.CipherSuite != s.ID() {
		r.SetError(errors.New("pending commit of another group or epoch"))
		return pc
	}
	if err := checkTreeHash(n.tree, &n.gc); err != nil {
		r.SetError(err)
		return pc
	}
	if outOfBand {
		pc.RatchetTree = n.tree.publicClone()
	}
	return pc
}

// unmarshalChange reads an EpochChangeState; next is the tree of the new
// epoch.
func (g *Group) unmarshalChange(r *codec.Reader, next *RatchetTree) *EpochChange {
	c := &EpochChange{Epoch: r.ReadUint64()}
	c.Committer.unmarshal(r)
	c.CommitterLeaf = LeafIndex(r.ReadUint32())
	c.Added = readMemberLeaves(r, next)
	c.Removed = unmarshalVector(r, func(r *codec.Reader, m *Member) {
		m.Leaf = LeafIndex(r.ReadUint32())
		m.LeafNode = new(LeafNode)
		m.LeafNode.unmarshal(r)
		m.Credential, m.SignatureKey = m.LeafNode.Credential, m.LeafNode.SignatureKey
	})
	c.Updated = readMemberLeaves(r, next)
	c.RemovedSelf = r.ReadBool()
	c.PSKs = unmarshalList[PreSharedKeyID](r)
	c.GroupContextExtensions = r.ReadBool()
	c.ReInit = readOptional[ReInitProposal](r)
	return c
}

// readMemberLeaves reads a vector of leaves of members of t.
func readMemberLeaves(r *codec.Reader, t *RatchetTree) []Member {
	return unmarshalVector(r, func(r *codec.Reader, m *Member) {
		leaf := LeafIndex(r.ReadUint32())
		if r.Err() != nil {
			return
		}
		var ok bool
		if *m, ok = memberAt(t, leaf); !ok {
			r.SetError(fmt.Errorf("%w: member at leaf %d", ErrBlankLeaf, leaf))
		}
	})
}

// unmarshalPast reads the past epochs, newest first, into g.past, oldest
// first.
func (g *Group) unmarshalPast(r *codec.Reader) {
	newer, epoch := g.tree, g.gc.Epoch
	r.ReadVectorFunc(func(r *codec.Reader) {
		p := &pastEpoch{epoch: r.ReadUint64()}
		if r.Err() == nil && p.epoch >= epoch {
			r.SetError(fmt.Errorf("past epoch %d after epoch %d", p.epoch, epoch))
			return
		}
		if p.pc = unmarshalProtectionState(r, g.suite, g.cfg.SecretTree); p.pc == nil {
			return
		}
		g.past = append(g.past, p) // erased with g on error
		if p.tree = unmarshalChanges(r, newer); p.tree == nil {
			return
		}
		p.resumptionPSK = readOptionalSecret(r, g.suite.HashSize(), "resumption PSK")
		if r.Err() != nil {
			return
		}
		if p.pc.gc.Epoch != p.epoch || !bytes.Equal(p.pc.gc.GroupID, g.gc.GroupID) {
			r.SetError(fmt.Errorf("protection context of past epoch %d is of another group or epoch", p.epoch))
			return
		}
		if err := checkEpochTree(p.tree, p.pc); err != nil {
			r.SetError(err)
			return
		}
		newer, epoch = p.tree, p.epoch
	})
	// Oldest first, as advance appends them.
	for i, j := 0, len(g.past)-1; i < j; i, j = i+1, j-1 {
		g.past[i], g.past[j] = g.past[j], g.past[i]
	}
}

// readOptional reads optional<T>: nil when absent.
func readOptional[T any, P interface {
	*T
	unmarshaler
}](r *codec.Reader) *T {
	if !r.ReadOptional() {
		return nil
	}
	v := new(T)
	P(v).unmarshal(r)
	return v
}

// marshalResume writes the ResumeState of a group that resumes another:
// the resumption PSKs that group answers.
func (g *Group) marshalResume(b *codec.Builder) {
	h := g.resumeFrom
	b.AddUint8(uint8(g.resumeUsage))
	b.AddOpaque(h.gc.GroupID)
	b.AddVector(func(b *codec.Builder) {
		if h.state != stateRemoved {
			b.AddUint64(h.gc.Epoch)
			b.AddOpaque(h.secrets.ResumptionPSK())
		}
		for i := len(h.past) - 1; i >= 0; i-- {
			if p := h.past[i]; p.resumptionPSK != nil {
				b.AddUint64(p.epoch)
				b.AddOpaque(p.resumptionPSK)
			}
		}
	})
}

// unmarshalResume reads a ResumeState into g.resumeFrom: a group that
// only answers the resumption PSKs kept.
func (g *Group) unmarshalResume(r *codec.Reader) {
	g.resumeUsage = ResumptionPSKUsage(r.ReadUint8())
	h := &Group{groupCore: groupCore{gc: GroupContext{GroupID: r.ReadOpaque()}, proposals: newProposalCache()}, state: stateRemoved}
	r.ReadVectorFunc(func(r *codec.Reader) {
		p := &pastEpoch{epoch: r.ReadUint64()}
		p.resumptionPSK = readSecret(r, g.suite.HashSize(), "resumption PSK")
		if r.Err() == nil && len(h.past) > 0 && p.epoch >= h.past[0].epoch {
			r.SetError(errors.New("resumption PSKs out of order"))
		}
		h.past = append([]*pastEpoch{p}, h.past...)
	})
	if r.Err() == nil && g.resumeUsage != ResumptionPSKUsageReInit && g.resumeUsage != ResumptionPSKUsageBranch {
		r.SetError(fmt.Errorf("resuming with usage %v", g.resumeUsage))
	}
	g.resumeFrom = h
}

// eraseState zeroes every secret of a group that failed to load.
func (g *Group) eraseState() {
	if g.secrets != nil {
		g.secrets.Erase()
	}
	if g.pc != nil {
		g.pc.Erase()
	}
	if g.tree != nil && g.tree.priv != nil {
		g.tree.priv.erase()
	}
	for _, p := range g.past {
		p.pc.Erase()
		clear(p.resumptionPSK)
	}
	if g.pending != nil && g.pending.next != nil {
		n := g.pending.next
		n.erase()
		if n.tree != nil && n.tree.priv != nil {
			n.tree.priv.erase()
		}
	}
	g.proposals.erase()
	if h := g.resumeFrom; h != nil {
		for _, p := range h.past {
			clear(p.resumptionPSK)
		}
	}
}

// Save stores the group's state in s under its group ID (see
// MarshalBinary: the state is secret, and s must keep it so).
//
// If s is a GroupRecordStore, Save writes only the records that changed
// since this Group last saved to (or was loaded from) s: the first save
// writes the whole state, later ones what changed (see
// group_records.go). It assumes that s still holds what it wrote: after
// the group's records in s changed otherwise (DeleteGroupState, another
// Group of the same group saved there), load the group again.
func (g *Group) Save(ctx context.Context, s GroupStore) error {
	if g.state == stateErased {
		return g.checkActive()
	}
	if rs, ok := s.(GroupRecordStore); ok {
		return g.saveRecords(ctx, rs)
	}
	data, err := g.MarshalBinary()
	if err != nil {
		return err
	}
	defer clear(data)
	return s.PutGroupState(ctx, g.gc.GroupID, data)
}

// LoadGroupFromStore restores the group groupID from the state stored in
// s, with the policy cfg (see LoadGroup). A group not in s is reported
// with an error that wraps ErrNotFound.
func LoadGroupFromStore(ctx context.Context, s GroupStore, groupID []byte, cfg *Config) (*Group, error) {
	if rs, ok := s.(GroupRecordStore); ok {
		return loadGroupRecords(ctx, rs, groupID, cfg)
	}
	data, err := s.GroupState(ctx, groupID)
	if err != nil {
		return nil, err
	}
	defer clear(data)
	g, err := LoadGroup(data, cfg)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(g.gc.GroupID, groupID) {
		g.eraseState()
		return nil, stateErr(errors.New("the state stored under the group ID is of another group"))
	}
	return g, nil
}

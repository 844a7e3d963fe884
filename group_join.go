package mls

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/arbormls/mls/ciphersuite"
)

// ErrTreeHashMismatch reports a ratchet tree whose tree hash is not the
// GroupContext's: the tree received is not the group's.
var ErrTreeHashMismatch = errors.New("mls: ratchet tree does not match the group's tree hash")

// JoinOptions are what joining may need beyond the Welcome.
type JoinOptions struct {
	// RatchetTree is the group's ratchet tree when the Welcome's GroupInfo
	// does not carry it (it travelled out of band). It is checked against
	// the tree hash like an inline one.
	RatchetTree TreeNodes
	// RatchetTreeFunc, when the Welcome's GroupInfo carries no tree and
	// RatchetTree is nil, is asked for the tree of the group and epoch
	// the Welcome names, once the GroupInfo is decrypted: from a Delivery
	// Service that tracks the group's tree, for example
	// (draft-ietf-mls-ratchet-tree-options). The tree is checked like an
	// inline one.
	RatchetTreeFunc func(groupID []byte, epoch uint64) (TreeNodes, error)
	// PSKs looks up the pre-shared keys the Welcome names, before
	// Config.PSKs.
	PSKs PSKLookup
	// PreviousGroup is this client's copy of the group that the group
	// joined resumes, by ReInit or branch: it provides the resumption PSK
	// and is checked against the new group (RFC 9420 section 12.4.3.1).
	// A Welcome with a reinit or branch PSK needs it.
	PreviousGroup *Group
}

// Join joins a group with the Welcome welcome sent for kp, one of id's
// KeyPackages (RFC 9420 section 12.4.3.1): it decrypts the group secrets
// and the GroupInfo, verifies the GroupInfo's signature with the signer's
// leaf, validates the whole ratchet tree (every leaf, parent hashes,
// unmerged leaves, unique keys) and its hash, finds its own leaf, derives
// the private keys of the path above it from the path secret, runs the key
// schedule and checks the confirmation tag. cfg and opts may be nil.
func Join(id *Identity, welcome *MLSMessage, kp *KeyPackageBundle, cfg *Config, opts *JoinOptions) (*Group, error) {
	if welcome == nil || welcome.WireFormat() != WireFormatWelcome {
		return nil, errors.New("mls: Join needs a Welcome")
	}
	if kp == nil || kp.KeyPackage == nil {
		return nil, errors.New("mls: Join needs the KeyPackageBundle the Welcome was sent to")
	}
	if opts == nil {
		opts = &JoinOptions{}
	}
	g, err := newGroup(id, cfg)
	if err != nil {
		return nil, err
	}
	s, c := g.suite, &g.cfg
	if !bytes.Equal(id.SigningKey.PublicKey(), kp.KeyPackage.LeafNode.SignatureKey) {
		return nil, errors.New("mls: the KeyPackage belongs to another identity")
	}
	if s.ID() != kp.KeyPackage.CipherSuite {
		return nil, fmt.Errorf("mls: identity of suite %v, KeyPackage of suite %v", s.ID(), kp.KeyPackage.CipherSuite)
	}
	var tree *RatchetTree
	signerKey := func(gi *GroupInfo) ([]byte, error) {
		nodes := opts.RatchetTree
		if _, inline := gi.Extensions.Find(ExtensionTypeRatchetTree); !inline && nodes == nil && opts.RatchetTreeFunc != nil {
			if nodes, err = opts.RatchetTreeFunc(bytes.Clone(gi.GroupContext.GroupID), gi.GroupContext.Epoch); err != nil {
				return nil, err
			}
		}
		if tree, err = treeOf(gi, nodes); err != nil {
			return nil, err
		}
		ln := tree.Leaf(gi.Signer)
		if ln == nil {
			return nil, fmt.Errorf("%w: GroupInfo signer %d", ErrBlankLeaf, gi.Signer)
		}
		return ln.SignatureKey, nil
	}
	var prevPSK PSKLookup
	if prev := opts.PreviousGroup; prev != nil {
		prevPSK = func(id *PreSharedKeyID) ([]byte, error) {
			if id.PSKType != PSKTypeResumption || !bytes.Equal(id.PSKGroupID, prev.gc.GroupID) {
				return nil, errors.New("mls: not a PSK of the previous group")
			}
			return prev.ResumptionPSK(id.PSKEpoch)
		}
	}
	ow, err := OpenWelcome(welcome.Welcome, kp.KeyPackage, kp.InitPrivateKey(), firstPSK(prevPSK, opts.PSKs, c.PSKs), signerKey)
	if err != nil {
		return nil, err
	}
	gi := ow.GroupInfo
	if err := g.adoptTree(tree, &gi.GroupContext, kp.KeyPackage); err != nil {
		ow.EpochSecrets.Erase()
		return nil, err
	}
	if err := tree.SetLeafPrivateKey(g.self, kp.EncryptionPrivateKey()); err != nil {
		ow.EpochSecrets.Erase()
		return nil, err
	}
	if ps := ow.GroupSecrets.PathSecret; ps != nil {
		err := tree.ImportPathSecret(lowestCommonAncestor(g.self, gi.Signer), ps.PathSecret)
		clear(ps.PathSecret)
		if err != nil {
			ow.EpochSecrets.Erase()
			return nil, err
		}
	}
	if err := g.checkResumption(ow.GroupSecrets.PSKs, opts.PreviousGroup); err != nil {
		ow.EpochSecrets.Erase()
		return nil, err
	}
	gcBytes, err := gi.GroupContext.MarshalBinary()
	if err == nil {
		err = g.installEpoch(&gi.GroupContext, gcBytes, ow.EpochSecrets, ow.InterimTranscriptHash, gi.ConfirmationTag)
	}
	if err != nil {
		ow.EpochSecrets.Erase()
		return nil, err
	}
	return g, nil
}

// treeOf returns the ratchet tree of a GroupInfo: its ratchet_tree
// extension, or else nodes given out of band. Unknown GroupInfo extensions
// are ignored (RFC 9420 section 13.4); two of one type are refused, as in
// every extension list.
func treeOf(gi *GroupInfo, nodes TreeNodes) (*RatchetTree, error) {
	if hasDuplicateExtension(gi.Extensions) {
		return nil, &ValidationError{Rule: ruleDuplicateExtension, Reason: "GroupInfo: extension type listed twice"}
	}
	s, err := ciphersuite.Lookup(gi.GroupContext.CipherSuite)
	if err != nil {
		return nil, err
	}
	if ext, ok := gi.Extensions.Find(ExtensionTypeRatchetTree); ok {
		var inline TreeNodes
		if err := inline.UnmarshalBinary(ext.ExtensionData); err != nil {
			return nil, err
		}
		nodes = inline
	}
	if nodes == nil {
		return nil, errors.New("mls: no ratchet tree: the GroupInfo carries none and none was given")
	}
	return RatchetTreeFromNodes(s, nodes)
}

// adoptTree checks a ratchet tree received to join the group of gc (RFC
// 9420 section 12.4.3.1) and makes it the group's: its hash, every node,
// and the GroupContext extensions, which every member (this client
// included) must support. When kp is not nil, the client's leaf is the
// one identical to kp's and becomes g.self.
func (g *groupCore) adoptTree(tree *RatchetTree, gc *GroupContext, kp *KeyPackage) error {
	g.gc = *gc
	if !bytes.Equal(tree.TreeHash(), gc.TreeHash) {
		return ErrTreeHashMismatch
	}
	if err := checkGroupExtensions(gc.Extensions); err != nil {
		return err
	}
	opts := g.leafOpts(gc.Extensions, CredentialEventJoin, nil, true)
	opts.BatchVerify = g.cfg.BatchVerifyTree
	if err := tree.Validate(gc.GroupID, opts); err != nil {
		return err
	}
	if err := g.checkExternalSenders(gc.Extensions, nil); err != nil {
		return err
	}
	g.tree = tree
	if kp == nil {
		return nil
	}
	want, err := kp.LeafNode.MarshalBinary()
	if err != nil {
		return err
	}
	for i := range tree.NumLeaves() {
		if s := tree.slot(LeafIndex(i)); s != nil && bytes.Equal(s.enc, want) {
			g.self = LeafIndex(i)
			return nil
		}
	}
	return errors.New("mls: the ratchet tree has no leaf of this client's KeyPackage")
}

package conformance

import (
	"bytes"
	"fmt"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/codec"
)

func init() { register("tree-operations", runTreeOperations) }

type treeOperationsCase struct {
	CipherSuite    ciphersuite.ID `json:"cipher_suite"`
	TreeBefore     hexBytes       `json:"tree_before"`
	Proposal       hexBytes       `json:"proposal"`
	ProposalSender uint32         `json:"proposal_sender"`
	TreeAfter      hexBytes       `json:"tree_after"`
	TreeHashBefore hexBytes       `json:"tree_hash_before"`
	TreeHashAfter  hexBytes       `json:"tree_hash_after"`
}

// runTreeOperations applies one Add, Update or Remove proposal to a tree
// and compares the resulting tree, byte for byte, and both tree hashes.
func runTreeOperations(data []byte) ([]CaseResult, error) {
	return runCases(data, func(c *treeOperationsCase) error {
		tree, err := decodeTree(c.CipherSuite, c.TreeBefore)
		if err != nil {
			return err
		}
		if got := tree.TreeHash(); !bytes.Equal(got, c.TreeHashBefore) {
			return mismatch("tree hash before", got, c.TreeHashBefore)
		}
		if err := applyProposal(tree, c.Proposal, mls.LeafIndex(c.ProposalSender)); err != nil {
			return err
		}
		if got := tree.TreeHash(); !bytes.Equal(got, c.TreeHashAfter) {
			return mismatch("tree hash after", got, c.TreeHashAfter)
		}
		got, err := tree.MarshalBinary()
		if err != nil {
			return err
		}
		if !bytes.Equal(got, c.TreeAfter) {
			return mismatch("tree after", got, c.TreeAfter)
		}
		return nil
	})
}

// applyProposal decodes an Add, Update or Remove Proposal (RFC 9420
// section 12.1) and applies it to the tree.
func applyProposal(tree *mls.RatchetTree, proposal []byte, sender mls.LeafIndex) error {
	r := codec.NewReader(proposal)
	typ := mls.ProposalType(r.ReadUint16())
	if err := r.Err(); err != nil {
		return err
	}
	switch typ {
	case mls.ProposalTypeAdd:
		var kp mls.KeyPackage
		if err := kp.UnmarshalBinary(r.Remaining()); err != nil {
			return err
		}
		_, err := tree.AddLeaf(&kp.LeafNode)
		return err
	case mls.ProposalTypeUpdate:
		var ln mls.LeafNode
		if err := ln.UnmarshalBinary(r.Remaining()); err != nil {
			return err
		}
		return tree.UpdateLeaf(sender, &ln)
	case mls.ProposalTypeRemove:
		removed := mls.LeafIndex(r.ReadUint32())
		if err := r.Finish(); err != nil {
			return err
		}
		return tree.RemoveLeaf(removed)
	}
	return fmt.Errorf("unexpected proposal type %v", typ)
}

package conformance

import (
	"bytes"
	"fmt"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
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
func applyProposal(tree *mls.RatchetTree, data []byte, sender mls.LeafIndex) error {
	var p mls.Proposal
	if err := p.UnmarshalBinary(data); err != nil {
		return err
	}
	switch {
	case p.Add != nil:
		_, err := tree.AddLeaf(&p.Add.KeyPackage.LeafNode)
		return err
	case p.Update != nil:
		return tree.UpdateLeaf(sender, &p.Update.LeafNode)
	case p.Remove != nil:
		return tree.RemoveLeaf(p.Remove.Removed)
	}
	return fmt.Errorf("unexpected proposal type %v", p.Type())
}

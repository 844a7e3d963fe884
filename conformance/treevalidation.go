package conformance

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
)

func init() { register("tree-validation", runTreeValidation) }

type treeValidationCase struct {
	CipherSuite ciphersuite.ID `json:"cipher_suite"`
	Tree        hexBytes       `json:"tree"`
	GroupID     hexBytes       `json:"group_id"`
	Resolutions [][]uint32     `json:"resolutions"`
	TreeHashes  []hexBytes     `json:"tree_hashes"`
}

// runTreeValidation checks the tree hash and resolution of every node,
// then validates the whole tree: parent hashes, leaf signatures over the
// group ID, and the other checks of RFC 9420 section 12.4.3.1 (leaf
// lifetimes, which these trees let expire, are not checked).
func runTreeValidation(data []byte) ([]CaseResult, error) {
	return runCases(data, func(c *treeValidationCase) error {
		tree, err := decodeTree(c.CipherSuite, c.Tree)
		if err != nil {
			return err
		}
		if len(c.TreeHashes) != int(2*tree.NumLeaves()-1) || len(c.Resolutions) != len(c.TreeHashes) {
			return fmt.Errorf("%d tree hashes and %d resolutions for %d leaves", len(c.TreeHashes), len(c.Resolutions), tree.NumLeaves())
		}
		for i, want := range c.TreeHashes {
			x := mls.NodeIndex(i)
			if got := tree.NodeTreeHash(x); !bytes.Equal(got, want) {
				return mismatch(fmt.Sprintf("tree hash of node %d", i), got, want)
			}
			var got []uint32
			for _, y := range tree.Resolution(x) {
				got = append(got, uint32(y))
			}
			if !slices.Equal(got, c.Resolutions[i]) {
				return fmt.Errorf("resolution of node %d: got %v, want %v", i, got, c.Resolutions[i])
			}
		}
		return tree.Validate(c.GroupID, nil)
	})
}

// decodeTree decodes a ratchet tree of the given suite.
func decodeTree(id ciphersuite.ID, data []byte) (*mls.RatchetTree, error) {
	suite, err := ciphersuite.Lookup(id)
	if err != nil {
		return nil, err
	}
	var nodes mls.TreeNodes
	if err := nodes.UnmarshalBinary(data); err != nil {
		return nil, err
	}
	return mls.RatchetTreeFromNodes(suite, nodes)
}

package mls

import (
	"bytes"
	"errors"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
)

// fuzzTree decodes and builds a tree, or returns nil.
func fuzzTree(id uint16, data []byte) *RatchetTree {
	suite, err := ciphersuite.Lookup(ciphersuite.ID(id))
	if err != nil {
		return nil
	}
	var nodes TreeNodes
	if nodes.UnmarshalBinary(data) != nil {
		return nil
	}
	tree, err := RatchetTreeFromNodes(suite, nodes)
	if err != nil {
		return nil
	}
	return tree
}

// checkHashCache checks the cached tree hash against a fresh computation.
func checkHashCache(t *testing.T, tree *RatchetTree) {
	t.Helper()
	if !bytes.Equal(tree.TreeHash(), rebuilt(t, tree).TreeHash()) {
		t.Fatal("cached tree hash differs from a fresh computation")
	}
}

// FuzzTreeValidate decodes, builds and validates arbitrary trees: never a
// panic, only ValidationErrors, a faithful re-encoding, and a consistent
// hash cache after an operation.
func FuzzTreeValidate(f *testing.F) {
	var cases []struct {
		CipherSuite uint16   `json:"cipher_suite"`
		Tree        hexBytes `json:"tree"`
		GroupID     hexBytes `json:"group_id"`
	}
	loadVectors(f, "tree-validation.json", &cases)
	for _, c := range cases {
		f.Add(c.CipherSuite, []byte(c.Tree), []byte(c.GroupID))
	}
	f.Fuzz(func(t *testing.T, id uint16, data, groupID []byte) {
		tree := fuzzTree(id, data)
		if tree == nil {
			return
		}
		if err := tree.Validate(groupID, nil); err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("not a ValidationError: %v", err)
			}
		}
		enc, err := tree.MarshalBinary()
		if err != nil || !bytes.Equal(enc, data) {
			t.Fatalf("re-encoding differs (%v)", err)
		}
		for x := NodeIndex(0); uint32(x) < tree.width(); x++ {
			tree.Resolution(x)
			tree.NodeTreeHash(x)
		}
		for i := LeafIndex(0); uint32(i) < tree.NumLeaves(); i++ {
			tree.FilteredDirectPath(i)
		}
		for i := LeafIndex(0); uint32(i) < tree.NumLeaves(); i++ {
			if tree.Leaf(i) != nil {
				if err := tree.RemoveLeaf(i); err != nil {
					t.Fatal(err)
				}
				checkHashCache(t, tree)
				break
			}
		}
	})
}

// FuzzMergeUpdatePath merges arbitrary UpdatePaths into arbitrary trees:
// never a panic, an unchanged tree on error, and a valid tree stays valid
// after a successful merge.
func FuzzMergeUpdatePath(f *testing.F) {
	var cases []struct {
		CipherSuite uint16   `json:"cipher_suite"`
		GroupID     hexBytes `json:"group_id"`
		RatchetTree hexBytes `json:"ratchet_tree"`
		UpdatePaths []struct {
			Sender     uint32   `json:"sender"`
			UpdatePath hexBytes `json:"update_path"`
		} `json:"update_paths"`
	}
	loadVectors(f, "treekem.json", &cases)
	for _, c := range cases[:20] {
		for _, up := range c.UpdatePaths[:1] {
			f.Add(c.CipherSuite, []byte(c.RatchetTree), []byte(up.UpdatePath), up.Sender, []byte(c.GroupID))
		}
	}
	f.Fuzz(func(t *testing.T, id uint16, data, pathData []byte, sender uint32, groupID []byte) {
		tree := fuzzTree(id, data)
		if tree == nil {
			return
		}
		var path UpdatePath
		if path.UnmarshalBinary(pathData) != nil {
			return
		}
		valid := tree.Validate(groupID, nil) == nil
		before := tree.TreeHash()
		s := LeafIndex(sender % tree.NumLeaves())
		if err := tree.MergeUpdatePath(s, &path, groupID, nil); err != nil {
			if !bytes.Equal(tree.TreeHash(), before) {
				t.Fatal("failed merge changed the tree")
			}
			return
		}
		checkHashCache(t, tree)
		if valid {
			if err := tree.Validate(groupID, nil); err != nil {
				t.Fatalf("valid tree invalid after a merge: %v", err)
			}
		}
	})
}

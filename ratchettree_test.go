package mls

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/treemath"
)

func testSuite(t testing.TB, id ciphersuite.ID) *ciphersuite.Suite {
	t.Helper()
	s, err := ciphersuite.Lookup(id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func synth(t testing.TB, n int, sparse bool, members ...LeafIndex) *SynthesizedTree {
	t.Helper()
	st, err := SynthesizeTree(testSuite(t, ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519), n,
		SynthOptions{Sparse: sparse, Members: members})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// rebuilt returns a fresh tree made from the wire form of t, with no
// cached hash.
func rebuilt(t testing.TB, tree *RatchetTree) *RatchetTree {
	t.Helper()
	enc, err := tree.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var nodes TreeNodes
	if err := nodes.UnmarshalBinary(enc); err != nil {
		t.Fatal(err)
	}
	r, err := RatchetTreeFromNodes(tree.Suite(), nodes)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// newKeyPackageLeaf returns a fresh key_package leaf and its keys.
func newKeyPackageLeaf(t testing.TB, s *ciphersuite.Suite, name string) (*LeafNode, []byte, *ciphersuite.SigningKey) {
	t.Helper()
	signer, err := s.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	priv, pub, err := s.GenerateHPKEKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	ln := &LeafNode{
		EncryptionKey:  pub,
		SignatureKey:   signer.PublicKey(),
		Credential:     NewBasicCredential([]byte(name)),
		Capabilities:   Capabilities{Versions: []ProtocolVersion{1}, CipherSuites: []ciphersuite.ID{s.ID()}, Credentials: []CredentialType{CredentialTypeBasic}},
		LeafNodeSource: LeafNodeSourceKeyPackage,
		Lifetime:       &Lifetime{NotBefore: 0, NotAfter: 1 << 62},
	}
	signLeaf(t, s, ln, signer, nil, 0)
	return ln, priv, signer
}

// signLeaf (re-)signs ln for the group and leaf index.
func signLeaf(t testing.TB, s *ciphersuite.Suite, ln *LeafNode, signer *ciphersuite.SigningKey, groupID []byte, i LeafIndex) {
	t.Helper()
	ln.raw = nil
	tbs, err := ln.TBS(groupID, i)
	if err != nil {
		t.Fatal(err)
	}
	if ln.Signature, err = s.SignWithLabel(signer, "LeafNodeTBS", tbs); err != nil {
		t.Fatal(err)
	}
}

func TestSynthesizedTreesAreValid(t *testing.T) {
	for _, sparse := range []bool{false, true} {
		for _, n := range []int{1, 2, 3, 4, 5, 7, 8, 13, 33, 100} {
			st := synth(t, n, sparse, 0, LeafIndex(n-1))
			tree := st.Tree
			if err := tree.Validate(st.GroupID, nil); err != nil {
				t.Fatalf("n=%d sparse=%v: %v", n, sparse, err)
			}
			if tree.NumMembers() != n || tree.NumLeaves() < uint32(n) || tree.NumLeaves() >= 2*uint32(n) && n > 1 {
				t.Fatalf("n=%d: %d members, %d leaves", n, tree.NumMembers(), tree.NumLeaves())
			}
			r := rebuilt(t, tree)
			if !bytes.Equal(r.TreeHash(), tree.TreeHash()) {
				t.Fatalf("n=%d: tree hash differs after a round trip", n)
			}
			if err := r.Validate(st.GroupID, nil); err != nil {
				t.Fatalf("n=%d rebuilt: %v", n, err)
			}
			// Each member's private keys match the tree.
			for m, sm := range st.Members {
				checkPrivateKeys(t, sm.Tree)
				if got, ok := sm.Tree.OwnLeaf(); !ok || got != m {
					t.Fatalf("member %d: owner %d", m, got)
				}
			}
		}
	}
}

// checkPrivateKeys checks the tree invariant for the owner of tree: it
// holds the private key of its leaf and of exactly the non-blank parents
// of its direct path where it is not unmerged, each matching the public
// key.
func checkPrivateKeys(t testing.TB, tree *RatchetTree) {
	t.Helper()
	p := tree.priv
	if p == nil {
		t.Fatal("tree without owner")
	}
	check := func(x NodeIndex, priv []byte) {
		pub, err := tree.suite.HPKEPublicKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(pub, tree.encryptionKey(x)) {
			t.Fatalf("member %d: private key of node %d does not match", p.self, x)
		}
	}
	if p.leaf == nil {
		t.Fatalf("member %d: no leaf key", p.self)
	}
	check(p.self.NodeIndex(), p.leaf)
	onPath := map[NodeIndex]bool{}
	for _, x := range treemath.DirectPath(p.self.NodeIndex(), tree.n) {
		onPath[x] = true
		parent := tree.Parent(x)
		if parent == nil {
			continue
		}
		_, unmerged := slices.BinarySearch(parent.UnmergedLeaves, p.self)
		priv, has := p.nodes[x]
		if has == unmerged {
			t.Fatalf("member %d at node %d: has key %v, unmerged %v", p.self, x, has, unmerged)
		}
		if has {
			check(x, priv)
		}
	}
	for x := range p.nodes {
		if !onPath[x] || tree.Parent(x) == nil {
			t.Fatalf("member %d holds a key for node %d off its direct path or blank", p.self, x)
		}
	}
}

func TestTreeOperations(t *testing.T) {
	s := testSuite(t, ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	a, _, _ := newKeyPackageLeaf(t, s, "a")
	tree, err := NewRatchetTree(s, a)
	if err != nil {
		t.Fatal(err)
	}
	add := func(name string) LeafIndex {
		ln, _, _ := newKeyPackageLeaf(t, s, name)
		i, err := tree.AddLeaf(ln)
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	for want := LeafIndex(1); want < 5; want++ {
		if got := add("m"); got != want {
			t.Fatalf("added at %d, want %d", got, want)
		}
	}
	if tree.NumLeaves() != 8 || tree.NumMembers() != 5 {
		t.Fatalf("%d leaves, %d members", tree.NumLeaves(), tree.NumMembers())
	}
	// Removing a middle member leaves a hole that the next Add fills.
	if err := tree.RemoveLeaf(2); err != nil {
		t.Fatal(err)
	}
	if got := add("n"); got != 2 {
		t.Fatalf("added at %d, want the hole 2", got)
	}
	// Removing the right members truncates.
	for _, i := range []LeafIndex{4, 3, 2} {
		if err := tree.RemoveLeaf(i); err != nil {
			t.Fatal(err)
		}
	}
	if tree.NumLeaves() != 2 || tree.NumMembers() != 2 {
		t.Fatalf("after removals: %d leaves, %d members", tree.NumLeaves(), tree.NumMembers())
	}
	if err := tree.RemoveLeaf(1); err != nil {
		t.Fatal(err)
	}
	if tree.NumLeaves() != 1 {
		t.Fatalf("one member left in %d leaves", tree.NumLeaves())
	}
	if err := tree.RemoveLeaf(1); !errors.Is(err, ErrBlankLeaf) {
		t.Fatalf("removing a blank leaf: %v", err)
	}
	if err := tree.UpdateLeaf(3, a); !errors.Is(err, ErrBlankLeaf) {
		t.Fatalf("updating outside the tree: %v", err)
	}
	if !bytes.Equal(tree.TreeHash(), rebuilt(t, tree).TreeHash()) {
		t.Fatal("cached tree hash differs from a fresh computation")
	}
}

func TestAddMarksUnmergedAndUpdateBlanks(t *testing.T) {
	st := synth(t, 7, false)
	tree := st.Tree
	s := tree.Suite()
	ln, _, _ := newKeyPackageLeaf(t, s, "new")
	i, err := tree.AddLeaf(ln)
	if err != nil || i != 7 {
		t.Fatalf("added at %d: %v", i, err)
	}
	// The non-blank ancestors of leaf 7 (nodes 11 and 7) list it.
	for _, x := range []NodeIndex{11, 7} {
		if p := tree.Parent(x); p == nil || !slices.Contains(p.UnmergedLeaves, 7) {
			t.Fatalf("node %d does not list leaf 7 as unmerged", x)
		}
	}
	if !tree.IsBlank(13) {
		t.Fatal("node 13 should stay blank")
	}
	// The tree stays valid: parent hashes skip unmerged leaves.
	if err := tree.Validate(st.GroupID, nil); err != nil {
		t.Fatal(err)
	}
	if got := tree.Resolution(11); !slices.Equal(got, []NodeIndex{11, 14}) {
		t.Fatalf("resolution of 11: %v", got)
	}
	// An update blanks the direct path.
	up := *tree.Leaf(4)
	up.LeafNodeSource, up.ParentHash = LeafNodeSourceUpdate, nil
	if err := tree.UpdateLeaf(4, &up); err != nil {
		t.Fatal(err)
	}
	for _, x := range treemath.DirectPath(8, tree.NumLeaves()) {
		if !tree.IsBlank(x) {
			t.Fatalf("node %d not blanked by the update", x)
		}
	}
	if got := tree.FilteredDirectPath(4); !slices.Equal(got, []NodeIndex{9, 11, 7}) {
		t.Fatalf("filtered direct path of 4: %v", got)
	}
	if !bytes.Equal(tree.TreeHash(), rebuilt(t, tree).TreeHash()) {
		t.Fatal("cached tree hash differs from a fresh computation")
	}
}

func TestCloneIsIndependent(t *testing.T) {
	st := synth(t, 100, false, 5)
	orig := st.Members[5].Tree
	hash := orig.TreeHash()
	c := orig.Clone()
	if err := c.RemoveLeaf(99); err != nil {
		t.Fatal(err)
	}
	ln, _, _ := newKeyPackageLeaf(t, orig.Suite(), "x")
	if _, err := c.AddLeaf(ln); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(c.TreeHash(), hash) {
		t.Fatal("clone did not change")
	}
	if !bytes.Equal(orig.TreeHash(), hash) || !bytes.Equal(rebuilt(t, orig).TreeHash(), hash) {
		t.Fatal("changing the clone changed the original")
	}
	if orig.Leaf(99) == nil || orig.NumMembers() != 100 {
		t.Fatal("original lost a member")
	}
	checkPrivateKeys(t, orig)
	checkPrivateKeys(t, c)
}

func TestTreeFromNodesRejectsBadShapes(t *testing.T) {
	st := synth(t, 4, false)
	nodes := st.Tree.Nodes()
	swapped := slices.Clone(nodes)
	swapped[0], swapped[1] = swapped[1], swapped[0]
	if _, err := RatchetTreeFromNodes(st.Tree.Suite(), swapped); err == nil {
		t.Fatal("parent at a leaf position accepted")
	}
	if _, err := RatchetTreeFromNodes(st.Tree.Suite(), TreeNodes{{}}); err == nil {
		t.Fatal("empty node accepted")
	}
	if _, err := RatchetTreeFromNodes(st.Tree.Suite(), nil); err == nil {
		t.Fatal("empty tree accepted")
	}
	blank := TreeNodes{nil, nil, nodes[2]}
	tree, err := RatchetTreeFromNodes(st.Tree.Suite(), blank)
	if err != nil {
		t.Fatal(err)
	}
	if err := tree.Validate(st.GroupID, nil); err != nil {
		t.Fatalf("a tree whose only member is leaf 1: %v", err)
	}
	if _, err := RatchetTreeFromNodes(st.Tree.Suite(), TreeNodes{nil, nodes[1], nil}); err != nil {
		t.Fatal(err)
	} else if tr, _ := RatchetTreeFromNodes(st.Tree.Suite(), TreeNodes{nil, nodes[1], nil}); tr.Validate(st.GroupID, nil) == nil {
		t.Fatal("a tree without members validated")
	}
}

// TestLargeTree exercises the concurrent paths (synthesis by spines,
// parallel hashing, validation, encryption) on a tree big enough to use
// them, for the race detector.
func TestLargeTree(t *testing.T) {
	for _, sparse := range []bool{false, true} {
		st := synth(t, 2100, sparse, 0, 1, 2099)
		tree := rebuilt(t, st.Tree)
		if err := tree.Validate(st.GroupID, nil); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(tree.TreeHash(), st.Tree.TreeHash()) {
			t.Fatal("tree hash differs")
		}
		sender := st.Members[2099].Tree.Clone()
		p, err := sender.GenerateUpdatePath(2099, st.GroupID, sender.Leaf(2099), st.Members[2099].Signer)
		if err != nil {
			t.Fatal(err)
		}
		gc := []byte("provisional group context")
		path, err := p.Encrypt(gc, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []LeafIndex{0, 1} {
			r := st.Members[m].Tree.Clone()
			if err := r.MergeUpdatePath(2099, path, st.GroupID, nil); err != nil {
				t.Fatal(err)
			}
			cs, err := r.DecryptUpdatePath(2099, path, gc, nil)
			if err != nil || !bytes.Equal(cs, p.CommitSecret()) {
				t.Fatalf("member %d: %v", m, err)
			}
			if !bytes.Equal(r.TreeHash(), sender.TreeHash()) {
				t.Fatal("tree hashes differ")
			}
			checkPrivateKeys(t, r)
		}
		if err := sender.Validate(st.GroupID, nil); err != nil {
			t.Fatal(err)
		}
	}
}

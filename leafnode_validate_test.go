package mls

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// tampered rebuilds the tree of st after f changed copies of its nodes.
// f gets a copy of the nodes array whose Node values are fresh copies.
func tampered(t *testing.T, st *SynthesizedTree, f func(nodes TreeNodes)) *RatchetTree {
	t.Helper()
	nodes := slices.Clone(st.Tree.Nodes())
	for i, n := range nodes {
		if n == nil {
			continue
		}
		c := *n
		if c.Leaf != nil {
			l := *c.Leaf
			c.Leaf = &l
		}
		if c.Parent != nil {
			p := *c.Parent
			c.Parent = &p
		}
		nodes[i] = &c
	}
	f(nodes)
	tree, err := RatchetTreeFromNodes(st.Tree.Suite(), nodes)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// flipped returns a copy of b with one bit changed.
func flipped(b []byte) []byte {
	c := slices.Clone(b)
	c[len(c)/2] ^= 0x20
	return c
}

// expectRule checks that err is a *ValidationError for rule wrapping
// sentinel, at node x, and that its message names the rule.
func expectRule(t *testing.T, err error, sentinel error, rule string, x NodeIndex) {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want a ValidationError for %s", err, rule)
	}
	if ve.Rule != rule || !errors.Is(err, sentinel) || ve.Node != x {
		t.Fatalf("got %v (rule %s, node %d), want rule %s at node %d", err, ve.Rule, ve.Node, rule, x)
	}
	if !strings.Contains(err.Error(), rule) || !strings.HasPrefix(err.Error(), "mls: ") {
		t.Fatalf("message %q does not name the rule", err)
	}
}

// tamperCase is a change to a valid tree and the rule it breaks, at node.
type tamperCase struct {
	name     string
	tamper   func(t *testing.T, nodes TreeNodes)
	sentinel error
	rule     string
	node     NodeIndex
}

func runTamperCases(t *testing.T, st *SynthesizedTree, cases []tamperCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			expectRule(t, tampered(t, st, func(nodes TreeNodes) { c.tamper(t, nodes) }).Validate(st.GroupID, nil), c.sentinel, c.rule, c.node)
		})
	}
}

func TestTamperedTreesAreRejected(t *testing.T) {
	st := synth(t, 13, false, 3, 5, 9)
	s := st.Tree.Suite()
	if err := st.Tree.Validate(st.GroupID, nil); err != nil {
		t.Fatal(err)
	}
	expectRule(t, st.Tree.Validate([]byte("another group"), nil), ErrLeafSignature, "signature", 0)
	_, pub, _ := s.GenerateHPKEKeyPair()
	runTamperCases(t, st, []tamperCase{
		// Node 11 is linked from node 9, and its parent_hash is an input
		// of its parent hash: that link breaks. So does the link of node 7
		// from node 3, which covers the tree hash of node 11; node 7 is
		// reported first.
		{"parent hash", func(t *testing.T, nodes TreeNodes) {
			nodes[11].Parent.ParentHash = flipped(nodes[11].Parent.ParentHash)
		},
			ErrParentHash, "parent_hash", 7},
		{"parent key", func(t *testing.T, nodes TreeNodes) { nodes[3].Parent.EncryptionKey = pub },
			ErrParentHash, "parent_hash", 3},
		{"leaf signature", func(t *testing.T, nodes TreeNodes) { nodes[10].Leaf.Signature = flipped(nodes[10].Leaf.Signature) },
			ErrLeafSignature, "signature", 10},
		{"duplicate encryption key between leaves", func(t *testing.T, nodes TreeNodes) {
			nodes[10].Leaf.EncryptionKey = nodes[6].Leaf.EncryptionKey
			signLeaf(t, s, nodes[10].Leaf, st.Members[5].Signer, st.GroupID, 5)
		}, ErrDuplicateEncryptionKey, "unique_encryption_key", 10},
		{"duplicate encryption key between a parent and a leaf", func(t *testing.T, nodes TreeNodes) {
			nodes[19].Parent.EncryptionKey = nodes[18].Leaf.EncryptionKey
		}, ErrDuplicateEncryptionKey, "unique_encryption_key", 19},
		{"duplicate signature key", func(t *testing.T, nodes TreeNodes) {
			nodes[18].Leaf.SignatureKey = nodes[6].Leaf.SignatureKey
			signLeaf(t, s, nodes[18].Leaf, st.Members[3].Signer, st.GroupID, 9)
		}, ErrDuplicateSignatureKey, "unique_signature_key", 18},
		{"unmerged leaf not a descendant", func(t *testing.T, nodes TreeNodes) { nodes[3].Parent.UnmergedLeaves = []LeafIndex{5} },
			ErrUnmergedLeaves, "unmerged_leaves", 3},
		{"unmerged leaves out of order", func(t *testing.T, nodes TreeNodes) { nodes[7].Parent.UnmergedLeaves = []LeafIndex{2, 1} },
			ErrUnmergedLeaves, "unmerged_leaves", 7},
		{"unmerged leaf blank", func(t *testing.T, nodes TreeNodes) { nodes[23].Parent.UnmergedLeaves = []LeafIndex{14} },
			ErrUnmergedLeaves, "unmerged_leaves", 23},
	})

	// A tree with genuine unmerged leaves: leaf 13 added without a path
	// is unmerged at its non-blank ancestors, nodes 23 and 15.
	withAdd := synth(t, 13, false)
	ln, _, _ := newKeyPackageLeaf(t, s, "added")
	if i, err := withAdd.Tree.AddLeaf(ln); err != nil || i != 13 {
		t.Fatalf("added at %d: %v", i, err)
	}
	if err := withAdd.Tree.Validate(withAdd.GroupID, nil); err != nil {
		t.Fatalf("tree with an unmerged leaf: %v", err)
	}
	runTamperCases(t, withAdd, []tamperCase{
		{"unmerged leaf missing below", func(t *testing.T, nodes TreeNodes) { nodes[23].Parent.UnmergedLeaves = nil },
			ErrUnmergedLeaves, "unmerged_leaves", 23},
		// Without its unmerged leaf, the root no longer hashes to what its
		// child below signed.
		{"unmerged leaf dropped at the top", func(t *testing.T, nodes TreeNodes) { nodes[15].Parent.UnmergedLeaves = nil },
			ErrParentHash, "parent_hash", 15},
	})
}

// TestBatchVerifiedTree: with BatchVerify, Validate accepts the same
// valid tree and names the same failing leaf as single verification,
// whether the bad signature sits in the first, a middle or the last batch.
func TestBatchVerifiedTree(t *testing.T) {
	st := synth(t, 2100, false, 3, 1000)
	batch := &LeafValidationOptions{BatchVerify: true}
	if err := st.Tree.Validate(st.GroupID, batch); err != nil {
		t.Fatal(err)
	}
	// Validate falls back to single verification when a batch fails, so
	// check the batches themselves hold (in the bucket method's sizes).
	for _, r := range [][2]int{{0, 2100}, {0, 700}, {700, 1400}} {
		if err := st.Tree.batchVerifyLeaves(st.GroupID, r[0], r[1]); err != nil {
			t.Fatalf("batch of leaves %d to %d: %v", r[0], r[1], err)
		}
	}
	expectRule(t, st.Tree.Validate([]byte("another group"), batch), ErrLeafSignature, "signature", 0)
	for _, leaf := range []LeafIndex{0, 777, 2099} {
		x := leaf.NodeIndex()
		bad := tampered(t, st, func(nodes TreeNodes) { nodes[x].Leaf.Signature = flipped(nodes[x].Leaf.Signature) })
		expectRule(t, bad.Validate(st.GroupID, nil), ErrLeafSignature, "signature", x)
		expectRule(t, bad.Validate(st.GroupID, batch), ErrLeafSignature, "signature", x)
		if bad.batchVerifyLeaves(st.GroupID, 0, 2100) == nil {
			t.Fatalf("a batch holding the bad leaf %d holds", leaf)
		}
	}
}

func TestValidateLeafNode(t *testing.T) {
	st := synth(t, 6, false, 2)
	tree := st.Tree
	s := tree.Suite()
	gid := st.GroupID
	kp, _, kpSigner := newKeyPackageLeaf(t, s, "joiner")
	if err := tree.ValidateLeafNode(kp, LeafNodeSourceKeyPackage, gid, 6, nil); err != nil {
		t.Fatal(err)
	}
	expectRule(t, tree.ValidateLeafNode(kp, LeafNodeSourceUpdate, gid, 6, nil), ErrLeafNodeSource, "leaf_node_source", 12)

	// Lifetime, only when asked for.
	old := *kp
	old.Lifetime = &Lifetime{NotBefore: 0, NotAfter: 1000}
	signLeaf(t, s, &old, kpSigner, nil, 0)
	if err := tree.ValidateLeafNode(&old, LeafNodeSourceKeyPackage, gid, 6, nil); err != nil {
		t.Fatalf("expired leaf rejected by default: %v", err)
	}
	opts := &LeafValidationOptions{Lifetimes: &LifetimePolicy{CheckReceived: true}}
	expectRule(t, tree.ValidateLeafNode(&old, LeafNodeSourceKeyPackage, gid, 6, opts), ErrLeafLifetime, "lifetime", 12)
	opts.Lifetimes.Now = func() time.Time { return time.Unix(500, 0) }
	if err := tree.ValidateLeafNode(&old, LeafNodeSourceKeyPackage, gid, 6, opts); err != nil {
		t.Fatalf("leaf within its lifetime: %v", err)
	}
	opts.Lifetimes.Max = 999 * time.Second
	expectRule(t, tree.ValidateLeafNode(&old, LeafNodeSourceKeyPackage, gid, 6, opts), ErrLeafLifetime, "max_lifetime", 12)
	opts.Lifetimes.Max = 1000 * time.Second
	if err := tree.ValidateLeafNode(&old, LeafNodeSourceKeyPackage, gid, 6, opts); err != nil {
		t.Fatalf("leaf within the maximum lifetime: %v", err)
	}
	// The maximum applies without the clock check too.
	opts.Lifetimes = &LifetimePolicy{Max: 999 * time.Second}
	expectRule(t, tree.ValidateLeafNode(&old, LeafNodeSourceKeyPackage, gid, 6, opts), ErrLeafLifetime, "max_lifetime", 12)

	// Keys must be new to the tree.
	dup := *kp
	dup.EncryptionKey = tree.Leaf(3).EncryptionKey
	signLeaf(t, s, &dup, kpSigner, nil, 0)
	expectRule(t, tree.ValidateLeafNode(&dup, LeafNodeSourceKeyPackage, gid, 6, nil), ErrDuplicateEncryptionKey, "unique_encryption_key", 12)
	dup = *kp
	dup.EncryptionKey = tree.Parent(3).EncryptionKey
	signLeaf(t, s, &dup, kpSigner, nil, 0)
	expectRule(t, tree.ValidateLeafNode(&dup, LeafNodeSourceKeyPackage, gid, 6, nil), ErrDuplicateEncryptionKey, "unique_encryption_key", 12)

	// An Update of member 2: same signature key allowed, same encryption
	// key not.
	signer := st.Members[2].Signer
	up := *tree.Leaf(2)
	up.LeafNodeSource, up.ParentHash = LeafNodeSourceUpdate, nil
	signLeaf(t, s, &up, signer, gid, 2)
	expectRule(t, tree.ValidateLeafNode(&up, LeafNodeSourceUpdate, gid, 2, nil), ErrDuplicateEncryptionKey, "unique_encryption_key", 4)
	_, up.EncryptionKey, _ = s.GenerateHPKEKeyPair()
	signLeaf(t, s, &up, signer, gid, 2)
	if err := tree.ValidateLeafNode(&up, LeafNodeSourceUpdate, gid, 2, nil); err != nil {
		t.Fatal(err)
	}
	// ... signed for its own group only.
	expectRule(t, tree.ValidateLeafNode(&up, LeafNodeSourceUpdate, []byte("other"), 2, nil), ErrLeafSignature, "signature", 4)

	// Extensions must be listed in capabilities, except default ones.
	ext := up
	ext.Extensions = Extensions{{ExtensionType: 0xff00, ExtensionData: []byte{1}}}
	signLeaf(t, s, &ext, signer, gid, 2)
	expectRule(t, tree.ValidateLeafNode(&ext, LeafNodeSourceUpdate, gid, 2, nil), ErrCapabilities, "extensions", 4)
	ext.Capabilities.Extensions = []ExtensionType{0xff00}
	ext.Extensions = append(ext.Extensions, Extension{ExtensionType: ExtensionTypeApplicationID, ExtensionData: []byte{0}})
	signLeaf(t, s, &ext, signer, gid, 2)
	if err := tree.ValidateLeafNode(&ext, LeafNodeSourceUpdate, gid, 2, nil); err != nil {
		t.Fatal(err)
	}
	ext.Extensions = append(ext.Extensions, Extension{ExtensionType: 0xff00})
	signLeaf(t, s, &ext, signer, gid, 2)
	expectRule(t, tree.ValidateLeafNode(&ext, LeafNodeSourceUpdate, gid, 2, nil), ErrCapabilities, "extensions", 4)

	// Credential types: the leaf's own, and all those in use.
	cred := up
	cred.Credential = Credential{CredentialType: 0xf000, Data: []byte("x")}
	signLeaf(t, s, &cred, signer, gid, 2)
	expectRule(t, tree.ValidateLeafNode(&cred, LeafNodeSourceUpdate, gid, 2, nil), ErrCapabilities, "credential_type", 4)
	cred.Capabilities.Credentials = []CredentialType{0xf000, CredentialTypeBasic}
	signLeaf(t, s, &cred, signer, gid, 2)
	// Other members do not support 0xf000.
	expectRule(t, tree.ValidateLeafNode(&cred, LeafNodeSourceUpdate, gid, 2, nil), ErrCapabilities, "credential_type", 4)
	narrow := up
	narrow.Capabilities.Credentials = []CredentialType{0xf000}
	narrow.Credential = cred.Credential
	signLeaf(t, s, &narrow, signer, gid, 2)
	expectRule(t, tree.ValidateLeafNode(&narrow, LeafNodeSourceUpdate, gid, 2, nil), ErrCapabilities, "credential_type", 4)

	// Group requirements (erratum 8745: also for Update and commit leaves).
	rc, _ := (&RequiredCapabilities{ExtensionTypes: []ExtensionType{0xff00}}).MarshalBinary()
	gopts := &LeafValidationOptions{GroupContextExtensions: Extensions{{ExtensionType: ExtensionTypeRequiredCapabilities, ExtensionData: rc}}}
	expectRule(t, tree.ValidateLeafNode(&up, LeafNodeSourceUpdate, gid, 2, gopts), ErrCapabilities, "required_capabilities", 4)
	ext.Extensions = ext.Extensions[:1]
	signLeaf(t, s, &ext, signer, gid, 2)
	if err := tree.ValidateLeafNode(&ext, LeafNodeSourceUpdate, gid, 2, gopts); err != nil {
		t.Fatal(err)
	}
	gopts = &LeafValidationOptions{GroupContextExtensions: Extensions{{ExtensionType: 0xff01}}}
	expectRule(t, tree.ValidateLeafNode(&ext, LeafNodeSourceUpdate, gid, 2, gopts), ErrCapabilities, "group_extensions", 4)
	if err := tree.ValidateLeafNode(&ext, LeafNodeSourceUpdate, gid, 2, &LeafValidationOptions{GroupContextExtensions: Extensions{{ExtensionType: ExtensionTypeExternalSenders}}}); err != nil {
		t.Fatalf("default group extension: %v", err)
	}
	// The application's credential validator.
	errNotListed := errors.New("identity not in the directory")
	copts := &LeafValidationOptions{ValidateCredential: func(c *Credential, key []byte) error {
		if string(c.Identity) == "member 2" {
			return errNotListed
		}
		return nil
	}}
	err := tree.ValidateLeafNode(&up, LeafNodeSourceUpdate, gid, 2, copts)
	expectRule(t, err, ErrCredential, "credential", 4)
	if !errors.Is(err, errNotListed) {
		t.Fatalf("the validator's error is not wrapped: %v", err)
	}
	expectRule(t, tree.Validate(gid, copts), ErrCredential, "credential", 4)
	if err := tree.ValidateLeafNode(&up, 9, gid, 2, nil); err == nil {
		t.Fatal("invalid source accepted")
	}
}

func TestCensusFollowsChanges(t *testing.T) {
	st := synth(t, 40, false, 1)
	tree := st.Members[1].Tree
	s := tree.Suite()
	if err := tree.Validate(st.GroupID, nil); err != nil {
		t.Fatal(err)
	}
	// Enough changes to fold the census deltas several times.
	var leaves []*LeafNode
	for range 200 {
		ln, _, _ := newKeyPackageLeaf(t, s, "x")
		leaves = append(leaves, ln)
		if _, err := tree.AddLeaf(ln); err != nil {
			t.Fatal(err)
		}
	}
	for i := LeafIndex(2); i < 200; i += 2 {
		if err := tree.RemoveLeaf(i); err != nil {
			t.Fatal(err)
		}
	}
	incremental := tree.census
	fresh, dup := tree.buildCensus()
	if dup != nil {
		t.Fatal(dup)
	}
	for x := NodeIndex(0); uint32(x) < tree.width(); x++ {
		if tree.IsBlank(x) {
			continue
		}
		k := tree.encryptionKey(x)
		if a, b := getBytes(&incremental.encKeys, k), getBytes(&fresh.encKeys, k); a != 1 || b != 1 {
			t.Fatalf("node %d: counts %d and %d", x, a, b)
		}
	}
	for _, ln := range leaves[:10] {
		if a, b := getBytes(&incremental.encKeys, ln.EncryptionKey), getBytes(&fresh.encKeys, ln.EncryptionKey); a != b {
			t.Fatalf("counts %d and %d", a, b)
		}
	}
	if incremental.used != fresh.used || incremental.credSup.get(CredentialTypeBasic) != int32(tree.NumMembers()) {
		t.Fatal("credential counts differ")
	}
	if err := tree.Validate(st.GroupID, nil); err != nil {
		t.Fatal(err)
	}
}

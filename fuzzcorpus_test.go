package mls

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/cryptotest"

	"github.com/arbormls/mls/ciphersuite"
)

// corpusSeed is one input of a fuzz target's committed seed corpus.
type corpusSeed struct {
	target string // FuzzX
	name   string // the file name under testdata/fuzz/FuzzX/
	args   []any  // the fuzz function's arguments, after *testing.T
}

// corpusFile returns s in Go's corpus file format ("go test fuzz v1").
func (s corpusSeed) corpusFile() []byte {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, a := range s.args {
		switch v := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case uint16:
			fmt.Fprintf(&b, "uint16(%d)\n", v)
		default:
			panic(fmt.Sprintf("corpus argument of type %T", a))
		}
	}
	return b.Bytes()
}

// TestFuzzCorpus keeps the seed corpus under testdata/fuzz/ that every
// fuzz run (.ci/fuzz.sh) and every go test starts from: the inputs of the
// regression suite (regression_test.go) and of the official vectors, for
// the targets that decode them. With ARBOR_WRITE_CORPUS=1 it writes them;
// otherwise it checks the committed files: the vector inputs byte for
// byte, the regression inputs for presence and shape (they hold fresh
// keys and lifetimes read from the clock, so their bytes differ from run
// to run even with a fixed random source).
func TestFuzzCorpus(t *testing.T) {
	cryptotest.SetGlobalRandom(t, 18)
	seeds := corpusSeeds(t)
	write := os.Getenv("ARBOR_WRITE_CORPUS") == "1"
	for _, s := range seeds {
		path := filepath.Join("testdata", "fuzz", s.target, s.name)
		want := s.corpusFile()
		if write {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err == nil && !strings.HasPrefix(s.name, "vector-") {
			got, want = corpusShape(got), corpusShape(want)
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is missing or stale (regenerate with ARBOR_WRITE_CORPUS=1 go test -run TestFuzzCorpus .): %v", path, err)
		}
	}
}

// corpusShape returns the header of a corpus file and the type of each of
// its values: "go test fuzz v1", "[]byte(", "uint16(", ...
func corpusShape(file []byte) []byte {
	var out [][]byte
	for line := range bytes.Lines(file) {
		if i := bytes.IndexByte(line, '('); i >= 0 {
			line = line[:i+1]
		}
		out = append(out, line)
	}
	return bytes.Join(out, []byte("\n"))
}

// corpusSeeds builds the corpus: the malicious inputs of the regression
// cases, and vector inputs.
func corpusSeeds(t *testing.T) []corpusSeed {
	var out []corpusSeed
	add := func(target, name string, args ...any) {
		out = append(out, corpusSeed{target: target, name: name, args: args})
	}
	encode := func(v interface{ MarshalBinary() ([]byte, error) }) []byte {
		data, err := v.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	msg := func(name string, m *MLSMessage) {
		data := encode(m)
		add("FuzzMLSMessage", name, data)
		switch {
		case m.GroupInfo != nil:
			add("FuzzGroupInfo", name, encode(m.GroupInfo))
		case m.KeyPackage != nil:
			add("FuzzKeyPackage", name, encode(m.KeyPackage))
		case m.PublicMessage != nil:
			add("FuzzPublicMessage", name, encode(m.PublicMessage))
			if c := m.PublicMessage.Content.Commit; c != nil {
				add("FuzzCommit", name, encode(c))
				if c.Path != nil {
					add("FuzzUpdatePath", name, encode(c.Path))
				}
			}
		}
	}
	tree := func(name string, g *Group, nodes TreeNodes) {
		data := encode(nodes)
		add("FuzzRatchetTree", name, data)
		add("FuzzTreeValidate", name, uint16(g.suite.ID()), data, bytes.Clone(g.gc.GroupID))
	}

	// GHSA-gc79-23g3-8g52: nested ratchet_tree extensions in a leaf.
	id, kp := newKeyPackage(t, groupSuite, "mallory")
	leaf := kp.KeyPackage.LeafNode
	inner := leaf
	for range 20 {
		data := encode(TreeNodes{{Leaf: &inner}})
		next := leaf
		next.raw = nil
		next.Extensions = Extensions{{ExtensionType: ExtensionTypeRatchetTree, ExtensionData: data}}
		inner = next
	}
	nested := *kp.KeyPackage
	nested.raw, nested.LeafNode = nil, inner
	s := testSuite(t, groupSuite)
	tbs := encodeTBS(t, func() ([]byte, error) { return nested.LeafNode.TBS(nil, 0) })
	nested.LeafNode.Signature = sign(t, s, id, "LeafNodeTBS", tbs)
	nested.Signature = sign(t, s, id, "KeyPackageTBS", encodeTBS(t, nested.TBS))
	msg("regression-openmls-ghsa-gc79-nested-extensions", &MLSMessage{KeyPackage: &nested})
	add("FuzzExtensions", "regression-openmls-ghsa-gc79-nested-extensions", encode(inner.Extensions))

	// Trees and GroupInfos a malicious member hands out (mls-rs 315, 360,
	// 362; OpenMLS 1933).
	tg := newPathGroup(t)
	alice, bob := tg.members["alice"], tg.members["bob"]
	nodes := treeNodes(t, alice)
	self := nodes[alice.OwnLeaf().NodeIndex()].Leaf
	self.ParentHash = nil
	signLeaf(t, alice.suite, self, alice.id.SigningKey, alice.gc.GroupID, alice.OwnLeaf())
	tree("regression-mlsrs-360-empty-parent-hash", alice, nodes)
	msg("regression-mlsrs-360-empty-parent-hash", forgeGroupInfo(t, alice, nodes, nil))

	nodes = treeNodes(t, alice)
	for x := len(nodes) - 1; x >= 0; x-- {
		if n := nodes[x]; n != nil && n.Parent != nil && len(n.Parent.ParentHash) > 0 {
			n.Parent.ParentHash[0] ^= 1
			break
		}
	}
	tree("regression-mlsrs-315-changed-parent-hash", alice, nodes)
	msg("regression-mlsrs-315-changed-parent-hash", forgeGroupInfo(t, alice, nodes, nil))

	nodes = treeNodes(t, alice)
	_, fresh := newKeyPackage(t, groupSuite, "fresh")
	even := append(nodes, &Node{Parent: &ParentNode{EncryptionKey: fresh.KeyPackage.InitKey}})
	tree("regression-mlsrs-362-even-length", alice, even)
	msg("regression-mlsrs-362-even-length", forgeGroupInfo(t, alice, even, nil))
	nodes = treeNodes(t, alice)
	atLeaf := append(append(TreeNodes{}, nodes[:2]...), append(TreeNodes{{Parent: &ParentNode{EncryptionKey: fresh.KeyPackage.InitKey}}}, nodes[3:]...)...)
	tree("regression-mlsrs-362-parent-at-leaf", alice, atLeaf)

	msg("regression-openmls-1933-unsupported-group-extension", forgeGroupInfo(t, alice, treeNodes(t, alice), func(gi *GroupInfo) {
		gi.GroupContext.Extensions = append(gi.GroupContext.Extensions, Extension{ExtensionType: 0xFF00, ExtensionData: []byte{}})
	}))

	// Commits and proposals a malicious member sends (OpenMLS GHSA-8x3w,
	// 1928; ts-mls).
	prop, err := bob.ProposeRemove(tg.leafOf("dave"))
	if err != nil {
		t.Fatal(err)
	}
	short := cloneMessage(t, prop)
	short.PublicMessage.MembershipTag = short.PublicMessage.MembershipTag[:1]
	msg("regression-openmls-ghsa-8x3w-short-membership-tag", short)
	pc, err := bob.Commit(CommitOptions{Update: true, IgnorePending: true})
	if err != nil {
		t.Fatal(err)
	}
	noTag := cloneMessage(t, pc.Commit)
	noTag.PublicMessage.Auth.ConfirmationTag = nil
	msg("regression-openmls-ghsa-8x3w-empty-confirmation-tag", noTag)
	msg("regression-tsmls-updatepath-repeated-key", resignCommit(t, bob, pc.Commit, func(c *Commit) {
		c.Path.Nodes[len(c.Path.Nodes)-1].EncryptionKey = bytes.Clone(c.Path.Nodes[0].EncryptionKey)
	}))
	psk := &Proposal{PreSharedKey: &PreSharedKeyProposal{PSK: PreSharedKeyID{PSKType: PSKTypeExternal, PSKID: []byte("x"), PSKNonce: bytes.Repeat([]byte{7}, 32)}}}
	msg("regression-openmls-1928-duplicate-psk", forgeCommit(t, alice, byValue(psk, psk)))

	// The identity with a short ECDSA key that FuzzIdentityUnmarshal found.
	p256 := newTestIdentity(t, 2, "grace")
	stored := encode(p256)
	keyLen := len(p256.SigningKey.Bytes())
	add("FuzzIdentityUnmarshal", "regression-short-p256-key",
		append(bytes.Clone(stored[:len(stored)-1-keyLen]), 12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12))

	// The official vectors: every message kind of the first cases of
	// messages.json, and the trees of tree-validation.json under 8 KiB
	// (FuzzTreeValidate adds them all as seeds at run time).
	for i, c := range messageVectors(t)[:2] {
		for _, kind := range slices.Sorted(func(yield func(string) bool) {
			for k := range c {
				if strings.HasPrefix(k, "mls_") || strings.HasPrefix(k, "public_message") || k == "private_message" {
					if !yield(k) {
						return
					}
				}
			}
		}) {
			add("FuzzMLSMessage", fmt.Sprintf("vector-messages-%d-%s", i, kind), []byte(c[kind]))
		}
	}
	var trees []struct {
		CipherSuite uint16   `json:"cipher_suite"`
		Tree        hexBytes `json:"tree"`
		GroupID     hexBytes `json:"group_id"`
	}
	loadVectors(t, "tree-validation.json", &trees)
	for i, c := range trees {
		if len(c.Tree) > 8<<10 {
			continue
		}
		add("FuzzRatchetTree", fmt.Sprintf("vector-tree-validation-%d", i), []byte(c.Tree))
	}
	return out
}

func encodeTBS(t *testing.T, tbs func() ([]byte, error)) []byte {
	t.Helper()
	data, err := tbs()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func sign(t *testing.T, s *ciphersuite.Suite, id *Identity, label string, content []byte) []byte {
	t.Helper()
	sig, err := s.SignWithLabel(id.SigningKey, label, content)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

package mls

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"hash"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/codec"
)

// vectorsDir follows the rule of conformance.VectorsDir (which this package
// cannot import): $MLS_TEST_VECTORS, else ../shared/test-vectors next to the
// module root, which is this package's folder.
func vectorsDir(t testing.TB) string {
	if d := os.Getenv("MLS_TEST_VECTORS"); d != "" {
		return d
	}
	return filepath.Join("..", "shared", "test-vectors")
}

// loadVectors decodes the vector file name into v.
func loadVectors(t testing.TB, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(vectorsDir(t), name))
	if err != nil {
		t.Fatalf("test vectors: %v", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// hexBytes is a JSON hex string.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

// roundTrip decodes data into v and checks that re-encoding gives data back.
func roundTrip(t testing.TB, what string, data []byte, v interface {
	MarshalBinary() ([]byte, error)
	UnmarshalBinary([]byte) error
}) {
	t.Helper()
	if err := v.UnmarshalBinary(data); err != nil {
		t.Fatalf("%s: decode: %v", what, err)
	}
	got, err := v.MarshalBinary()
	if err != nil {
		t.Fatalf("%s: encode: %v", what, err)
	}
	if string(got) != string(data) {
		t.Fatalf("%s: re-encoding differs:\n got %x\nwant %x", what, got, data)
	}
}

// verifyWithLabel checks a signature made by SignWithLabel (RFC 9420
// section 5.1.2) with the standard library, independently of the
// ciphersuite package. It reports false for suites whose signature scheme
// (Ed448) the standard library lacks.
func verifyWithLabel(t testing.TB, suite ciphersuite.ID, pub []byte, label string, content, sig []byte) (checked bool) {
	t.Helper()
	b := codec.NewBuilder(len(content) + 32)
	b.AddOpaque([]byte("MLS 1.0 " + label))
	b.AddOpaque(content)
	msg, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	var curve elliptic.Curve
	var h hash.Hash
	switch suite {
	case 1, 3:
		if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, msg, sig) {
			t.Fatalf("%s signature does not verify", label)
		}
		return true
	case 2:
		curve, h = elliptic.P256(), sha256.New()
	case 5:
		curve, h = elliptic.P521(), sha512.New()
	case 7:
		curve, h = elliptic.P384(), sha512.New384()
	default:
		return false
	}
	key, err := ecdsa.ParseUncompressedPublicKey(curve, pub)
	if err != nil {
		t.Fatalf("%s: signature key: %v", label, err)
	}
	h.Write(msg)
	if !ecdsa.VerifyASN1(key, h.Sum(nil), sig) {
		t.Fatalf("%s signature does not verify", label)
	}
	return true
}

// TestVectorTrees checks that every ratchet tree in the official vectors
// decodes and re-encodes byte-exact, and that the LeafNodeTBS encoding is
// right: every leaf signature of tree-validation.json verifies over it.
func TestVectorTrees(t *testing.T) {
	var validation []struct {
		CipherSuite ciphersuite.ID `json:"cipher_suite"`
		Tree        hexBytes       `json:"tree"`
		GroupID     hexBytes       `json:"group_id"`
	}
	loadVectors(t, "tree-validation.json", &validation)
	var checked int
	for i, c := range validation {
		var tree TreeNodes
		roundTrip(t, "tree-validation tree", c.Tree, &tree)
		for n, node := range tree {
			if node == nil || node.Leaf == nil {
				continue
			}
			tbs, err := node.Leaf.TBS(c.GroupID, LeafIndex(n/2))
			if err != nil {
				t.Fatalf("case %d node %d: %v", i, n, err)
			}
			if verifyWithLabel(t, c.CipherSuite, node.Leaf.SignatureKey, "LeafNodeTBS", tbs, node.Leaf.Signature) {
				checked++
			}
			raw, err := node.Leaf.MarshalBinary()
			if err != nil || string(raw) != string(node.Leaf.Raw()) {
				t.Fatalf("case %d node %d: Raw() differs from the encoding", i, n)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no leaf signature checked")
	}
	t.Logf("%d leaf signatures verified", checked)

	var treekem []struct {
		CipherSuite ciphersuite.ID `json:"cipher_suite"`
		GroupID     hexBytes       `json:"group_id"`
		RatchetTree hexBytes       `json:"ratchet_tree"`
		UpdatePaths []struct {
			Sender     LeafIndex `json:"sender"`
			UpdatePath hexBytes  `json:"update_path"`
		} `json:"update_paths"`
	}
	loadVectors(t, "treekem.json", &treekem)
	for _, c := range treekem {
		var tree TreeNodes
		roundTrip(t, "treekem ratchet_tree", c.RatchetTree, &tree)
		for _, u := range c.UpdatePaths {
			var path UpdatePath
			roundTrip(t, "treekem update_path", u.UpdatePath, &path)
			if path.LeafNode.LeafNodeSource != LeafNodeSourceCommit {
				t.Fatalf("update_path leaf source %v", path.LeafNode.LeafNodeSource)
			}
			tbs, err := path.LeafNode.TBS(c.GroupID, u.Sender)
			if err != nil {
				t.Fatal(err)
			}
			verifyWithLabel(t, c.CipherSuite, path.LeafNode.SignatureKey, "LeafNodeTBS", tbs, path.LeafNode.Signature)
		}
	}

	var ops []struct {
		TreeBefore hexBytes `json:"tree_before"`
		TreeAfter  hexBytes `json:"tree_after"`
	}
	loadVectors(t, "tree-operations.json", &ops)
	for _, c := range ops {
		var tree TreeNodes
		roundTrip(t, "tree-operations tree_before", c.TreeBefore, &tree)
		roundTrip(t, "tree-operations tree_after", c.TreeAfter, &tree)
	}
}

// TestVectorGroupContext round-trips the GroupContext of every epoch of
// key-schedule.json.
func TestVectorGroupContext(t *testing.T) {
	var cases []struct {
		CipherSuite ciphersuite.ID `json:"cipher_suite"`
		GroupID     hexBytes       `json:"group_id"`
		Epochs      []struct {
			GroupContext            hexBytes `json:"group_context"`
			TreeHash                hexBytes `json:"tree_hash"`
			ConfirmedTranscriptHash hexBytes `json:"confirmed_transcript_hash"`
		} `json:"epochs"`
	}
	loadVectors(t, "key-schedule.json", &cases)
	for _, c := range cases {
		for i, e := range c.Epochs {
			var gc GroupContext
			roundTrip(t, "group_context", e.GroupContext, &gc)
			if gc.Version != ProtocolVersionMLS10 || gc.CipherSuite != c.CipherSuite ||
				string(gc.GroupID) != string(c.GroupID) || gc.Epoch != uint64(i) ||
				string(gc.TreeHash) != string(e.TreeHash) ||
				string(gc.ConfirmedTranscriptHash) != string(e.ConfirmedTranscriptHash) {
				t.Fatalf("group_context fields differ from the vector: %+v", gc)
			}
		}
	}
}

// TestVectorKeyPackages round-trips the KeyPackages of welcome.json and
// passive-client-welcome.json and verifies their signatures over TBS.
func TestVectorKeyPackages(t *testing.T) {
	var cases []struct {
		CipherSuite ciphersuite.ID `json:"cipher_suite"`
		KeyPackage  hexBytes       `json:"key_package"`
	}
	var more []struct {
		CipherSuite ciphersuite.ID `json:"cipher_suite"`
		KeyPackage  hexBytes       `json:"key_package"`
	}
	loadVectors(t, "welcome.json", &cases)
	loadVectors(t, "passive-client-welcome.json", &more)
	cases = append(cases, more...)
	for i, c := range cases {
		// key_package is an MLSMessage: version and wire_format come first.
		if !strings.HasPrefix(hex.EncodeToString(c.KeyPackage), "00010005") {
			t.Fatalf("case %d: key_package is not an MLSMessage", i)
		}
		data := c.KeyPackage[4:]
		var kp KeyPackage
		roundTrip(t, "key_package", data, &kp)
		if string(kp.Raw()) != string(data) {
			t.Fatalf("case %d: Raw() is not the received encoding", i)
		}
		tbs, err := kp.TBS()
		if err != nil {
			t.Fatal(err)
		}
		verifyWithLabel(t, c.CipherSuite, kp.LeafNode.SignatureKey, "KeyPackageTBS", tbs, kp.Signature)
		// A key_package LeafNode is signed without group binding.
		ltbs, err := kp.LeafNode.TBS([]byte("ignored"), 7)
		if err != nil {
			t.Fatal(err)
		}
		verifyWithLabel(t, c.CipherSuite, kp.LeafNode.SignatureKey, "LeafNodeTBS", ltbs, kp.LeafNode.Signature)
	}
}

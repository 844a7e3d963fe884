package mls

import (
	"errors"
	"testing"

	"github.com/arbormls/mls/internal/codec"
)

// firstTree returns the first ratchet tree of tree-validation.json.
func firstTree(t *testing.T) []byte {
	t.Helper()
	var cases []struct {
		Tree hexBytes `json:"tree"`
	}
	loadVectors(t, "tree-validation.json", &cases)
	return cases[0].Tree
}

// vectorBody returns the content of the variable-length vector data.
func vectorBody(t *testing.T, data []byte) []byte {
	t.Helper()
	r := codec.NewReader(data)
	body := r.ReadVector().Remaining()
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}
	return body
}

// asVector prefixes body with its varint length.
func asVector(body []byte) []byte {
	b := codec.NewBuilder(len(body) + 4)
	b.AddOpaque(body)
	out, _ := b.Bytes()
	return out
}

func expectMalformed(t *testing.T, what string, err error, cause error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: accepted", what)
	}
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("%s: error %v does not wrap ErrMalformed", what, err)
	}
	if cause != nil && !errors.Is(err, cause) {
		t.Fatalf("%s: error %v does not wrap %v", what, err, cause)
	}
}

func TestTreeNodesRejects(t *testing.T) {
	data := firstTree(t)
	body := vectorBody(t, data)
	var tree TreeNodes

	err := tree.UnmarshalBinary(asVector(append(append([]byte{}, body...), 0)))
	expectMalformed(t, "trailing blank node", err, nil)

	err = tree.UnmarshalBinary(asVector(nil))
	expectMalformed(t, "empty tree", err, nil)

	err = tree.UnmarshalBinary(asVector(append(append([]byte{}, body...), 2, 0)))
	expectMalformed(t, "optional byte 2", err, codec.ErrInvalidOptional)

	if body[0] != 1 || body[1] != byte(NodeTypeLeaf) {
		t.Fatalf("first node is not a present leaf: % x", body[:2])
	}
	bad := append([]byte{}, body...)
	bad[1] = 3
	expectMalformed(t, "node_type 3", tree.UnmarshalBinary(asVector(bad)), nil)

	err = tree.UnmarshalBinary(append(append([]byte{}, data...), 0))
	expectMalformed(t, "trailing bytes", err, codec.ErrTrailingData)

	for n := range len(data) {
		expectMalformed(t, "truncated tree", tree.UnmarshalBinary(data[:n]), nil)
	}
}

func TestTreeNodesDropsTrailingBlanks(t *testing.T) {
	data := firstTree(t)
	var tree TreeNodes
	if err := tree.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	padded := append(append(TreeNodes{}, tree...), nil, nil, nil)
	got, err := padded.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(data) {
		t.Fatal("trailing blanks were encoded")
	}
	if _, err := (TreeNodes{nil, nil}).MarshalBinary(); err == nil {
		t.Fatal("all-blank tree encoded")
	}
	if _, err := (TreeNodes{{}}).MarshalBinary(); err == nil {
		t.Fatal("node with neither leaf nor parent encoded")
	}
}

func TestLeafNodeRejects(t *testing.T) {
	ln := LeafNode{
		EncryptionKey:  []byte{1},
		SignatureKey:   []byte{2},
		Credential:     NewBasicCredential([]byte("alice")),
		LeafNodeSource: LeafNodeSourceUpdate,
		Signature:      []byte{3},
	}
	data, err := ln.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got LeafNode
	roundTrip(t, "update LeafNode", data, &got)
	// encryption_key, signature_key, credential (2+1+5), capabilities (5 empty vectors).
	srcAt := 2 + 2 + 8 + 5
	if LeafNodeSource(data[srcAt]) != LeafNodeSourceUpdate {
		t.Fatalf("leaf_node_source not at offset %d", srcAt)
	}
	for _, src := range []byte{0, 4, 255} {
		bad := append([]byte{}, data...)
		bad[srcAt] = src
		expectMalformed(t, "leaf_node_source", got.UnmarshalBinary(bad), nil)
	}

	for _, c := range []LeafNode{
		{LeafNodeSource: LeafNodeSourceKeyPackage},
		{LeafNodeSource: LeafNodeSourceKeyPackage, Lifetime: &Lifetime{}, ParentHash: []byte{}},
		{LeafNodeSource: LeafNodeSourceUpdate, Lifetime: &Lifetime{}},
		{LeafNodeSource: LeafNodeSourceCommit, Lifetime: &Lifetime{}},
		{LeafNodeSource: 9},
		{LeafNodeSource: LeafNodeSourceUpdate, Credential: Credential{CredentialType: CredentialTypeBasic, Data: []byte{}}},
	} {
		if _, err := c.MarshalBinary(); err == nil {
			t.Fatalf("inconsistent LeafNode %+v encoded", c)
		}
	}
}

func TestCredentialRoundTrip(t *testing.T) {
	for _, c := range []Credential{
		NewBasicCredential([]byte("bob")),
		{CredentialType: CredentialTypeX509, Certificates: [][]byte{{1, 2}, {3}}},
		{CredentialType: CredentialTypeX509},
		{CredentialType: 0xf00d, Data: []byte("opaque")},
	} {
		data, err := c.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got Credential
		roundTrip(t, "Credential", data, &got)
		if got.CredentialType != c.CredentialType || len(got.Certificates) != len(c.Certificates) {
			t.Fatalf("got %+v, want %+v", got, c)
		}
	}
}

func TestPreSharedKeyIDRejects(t *testing.T) {
	for _, p := range []PreSharedKeyID{
		{PSKType: PSKTypeExternal, PSKID: []byte("id"), PSKNonce: []byte{1}},
		{PSKType: PSKTypeResumption, Usage: ResumptionPSKUsageBranch, PSKGroupID: []byte("g"), PSKEpoch: 9, PSKNonce: []byte{2}},
	} {
		data, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got PreSharedKeyID
		roundTrip(t, "PreSharedKeyID", data, &got)
		data[0] = 3
		expectMalformed(t, "psktype 3", got.UnmarshalBinary(data), nil)
	}
	for _, p := range []PreSharedKeyID{
		{PSKType: PSKTypeExternal, PSKEpoch: 1},
		{PSKType: PSKTypeResumption, PSKID: []byte{}},
		{},
	} {
		if _, err := p.MarshalBinary(); err == nil {
			t.Fatalf("inconsistent PreSharedKeyID %+v encoded", p)
		}
	}
}

func TestUint16VectorOddLength(t *testing.T) {
	// A capabilities vector of 3 bytes cannot hold 16-bit values.
	var rc RequiredCapabilities
	err := rc.UnmarshalBinary([]byte{3, 0, 1, 0, 0, 0})
	expectMalformed(t, "odd uint16 vector", err, codec.ErrTruncated)
	roundTrip(t, "RequiredCapabilities", []byte{4, 0, 1, 0, 2, 2, 0, 7, 0}, &rc)
}

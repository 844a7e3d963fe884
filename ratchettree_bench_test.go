package mls

import (
	"fmt"
	"sync"
	"testing"
)

// Benchmarks on synthesized trees of 1,000, 10,000 and 50,000 members,
// full (every parent set) and sparse (blank parents), suite 1:
//
//	go test -run '^$' -bench 'TreeHash|ValidateTree|DecodeTree|CreateUpdatePath|ProcessUpdatePath|CloneTree' -benchtime 10x .
//
// The committer is member 0 and the receiver member 1, whose common
// ancestor is the lowest: the receiver derives the whole path, the most
// expensive case.

var benchSizes = []int{1000, 10000, 50000}

var (
	benchMu    sync.Mutex
	benchCache = map[string]*SynthesizedTree{}
)

func benchTree(b *testing.B, n int, sparse bool) *SynthesizedTree {
	benchMu.Lock()
	defer benchMu.Unlock()
	key := fmt.Sprint(n, sparse)
	if st, ok := benchCache[key]; ok {
		return st
	}
	st := synth(b, n, sparse, 0, 1)
	benchCache[key] = st
	return st
}

func shapeName(sparse bool) string {
	if sparse {
		return "sparse"
	}
	return "full"
}

func forEachBenchTree(b *testing.B, f func(b *testing.B, st *SynthesizedTree)) {
	for _, sparse := range []bool{false, true} {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s-%d", shapeName(sparse), n), func(b *testing.B) {
				f(b, benchTree(b, n, sparse))
			})
		}
	}
}

// invalidateAll drops every cached tree hash.
func invalidateAll(t *RatchetTree) {
	for i := range t.chunks {
		t.writable(NodeIndex(i << chunkShift)).valid = 0
	}
}

func BenchmarkSynthesizeTree(b *testing.B) {
	for _, sparse := range []bool{false, true} {
		b.Run(fmt.Sprintf("%s-%d", shapeName(sparse), 10000), func(b *testing.B) {
			for b.Loop() {
				synth(b, 10000, sparse, 0)
			}
		})
	}
}

func BenchmarkTreeHash(b *testing.B) {
	forEachBenchTree(b, func(b *testing.B, st *SynthesizedTree) {
		tree := st.Tree.Clone()
		for b.Loop() {
			invalidateAll(tree)
			tree.TreeHash()
		}
	})
}

// BenchmarkValidateTree is the validation of a tree received on join:
// tree hash from scratch, census, unmerged leaves, parent hashes and every
// leaf signature.
func BenchmarkValidateTree(b *testing.B) {
	forEachBenchTree(b, func(b *testing.B, st *SynthesizedTree) {
		tree := rebuilt(b, st.Tree)
		for b.Loop() {
			invalidateAll(tree)
			if err := tree.Validate(st.GroupID, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecodeTree is decoding the wire form and building the tree.
func BenchmarkDecodeTree(b *testing.B) {
	forEachBenchTree(b, func(b *testing.B, st *SynthesizedTree) {
		enc, err := st.Tree.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(enc)))
		for b.Loop() {
			var nodes TreeNodes
			if err := nodes.UnmarshalBinary(enc); err != nil {
				b.Fatal(err)
			}
			if _, err := RatchetTreeFromNodes(st.Tree.Suite(), nodes); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCreateUpdatePath is a commit's path: generate and apply the
// path, compute the provisional GroupContext's tree hash, encrypt.
func BenchmarkCreateUpdatePath(b *testing.B) {
	forEachBenchTree(b, func(b *testing.B, st *SynthesizedTree) {
		m := st.Members[0]
		m.Tree.TreeHash()
		for b.Loop() {
			tree := m.Tree.Clone()
			p, err := tree.GenerateUpdatePath(0, st.GroupID, tree.Leaf(0), m.Signer)
			if err != nil {
				b.Fatal(err)
			}
			gc := benchGroupContext(b, st, tree.TreeHash())
			if _, err := p.Encrypt(gc, nil); err != nil {
				b.Fatal(err)
			}
			p.Wipe()
		}
	})
}

// BenchmarkProcessUpdatePath is a receiver's part: validate the leaf and
// merge the path, compute the new tree hash, decrypt and derive.
func BenchmarkProcessUpdatePath(b *testing.B) {
	forEachBenchTree(b, func(b *testing.B, st *SynthesizedTree) {
		sender := st.Members[0].Tree.Clone()
		p, err := sender.GenerateUpdatePath(0, st.GroupID, sender.Leaf(0), st.Members[0].Signer)
		if err != nil {
			b.Fatal(err)
		}
		gc := benchGroupContext(b, st, sender.TreeHash())
		path, err := p.Encrypt(gc, nil)
		if err != nil {
			b.Fatal(err)
		}
		m := st.Members[1]
		// A member's tree has its hashes and census from joining on.
		m.Tree.TreeHash()
		m.Tree.getCensus()
		for b.Loop() {
			tree := m.Tree.Clone()
			if err := tree.MergeUpdatePath(0, path, st.GroupID, nil); err != nil {
				b.Fatal(err)
			}
			benchGroupContext(b, st, tree.TreeHash())
			if _, err := tree.DecryptUpdatePath(0, path, gc, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkCloneTree(b *testing.B) {
	forEachBenchTree(b, func(b *testing.B, st *SynthesizedTree) {
		tree := st.Members[1].Tree
		tree.getCensus()
		for b.Loop() {
			tree.Clone()
		}
	})
}

func benchGroupContext(b *testing.B, st *SynthesizedTree, treeHash []byte) []byte {
	gc := GroupContext{Version: ProtocolVersionMLS10, CipherSuite: st.Tree.Suite().ID(), GroupID: st.GroupID,
		Epoch: 7, TreeHash: treeHash, ConfirmedTranscriptHash: make([]byte, 32), Extensions: Extensions{}}
	enc, err := gc.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	return enc
}

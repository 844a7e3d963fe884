package mls

import (
	"crypto/rand"
	"errors"
	"fmt"
	"hash"
	"time"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/treemath"
)

// SynthOptions configures SynthesizeTree.
type SynthOptions struct {
	// Sparse leaves every parent blank and gives each member a key_package
	// leaf, as in a group whose members were all added by commits without
	// a path. Otherwise the tree is full: every parent whose two subtrees
	// hold members is set, as after each member committed in turn from
	// the last to the first.
	Sparse bool
	// GroupID is the group the leaf signatures bind to; random if nil.
	GroupID []byte
	// Members lists the members whose private state SynthesizeTree
	// returns.
	Members []LeafIndex
}

// SynthesizedTree is a valid tree made by SynthesizeTree.
type SynthesizedTree struct {
	// Tree is the public tree; it belongs to no member.
	Tree    *RatchetTree
	GroupID []byte
	// Members holds the private state of the members asked for.
	Members map[LeafIndex]*SynthMember
}

// SynthMember is the private state of one member of a synthesized tree.
type SynthMember struct {
	// Tree is a clone of the tree that belongs to the member, with the
	// private keys of its leaf and of every parent it knows.
	Tree   *RatchetTree
	Signer *ciphersuite.SigningKey
}

// SynthesizeTree builds a valid ratchet tree of n members at leaves 0 to
// n-1, for benchmarks and tests: real keys, valid signatures, and in a
// full tree valid parent hashes. Keys and signatures are made on all
// cores.
//
// In a full tree each parent was last set by the leftmost member under
// it, so a node's parent_hash links to its nearest non-blank ancestor
// exactly when it lies in that ancestor's left subtree; the other
// parent_hash values are stale, as after later commits, and random.
func SynthesizeTree(suite *ciphersuite.Suite, n int, opts SynthOptions) (*SynthesizedTree, error) {
	if n < 1 || n > maxLeaves {
		return nil, fmt.Errorf("mls: cannot synthesize a tree of %d members", n)
	}
	nl := uint32(1)
	for nl < uint32(n) {
		nl *= 2
	}
	t := newEmptyTree(suite, nl)
	groupID := opts.GroupID
	if groupID == nil {
		groupID = make([]byte, 16)
		rand.Read(groupID)
	}
	for _, m := range opts.Members {
		if int(m) >= n {
			return nil, fmt.Errorf("mls: member %d outside the tree", m)
		}
	}

	// Key pairs for every member and, in a full tree, every set parent.
	signers := make([]*ciphersuite.SigningKey, n)
	leafPrivs := make([][]byte, n)
	leafPubs := make([][]byte, n)
	err := parallelFor(n, 64, func(lo, hi int) error {
		for i := lo; i < hi; i++ {
			var err error
			if signers[i], err = suite.GenerateSigningKey(); err != nil {
				return err
			}
			if leafPrivs[i], leafPubs[i], err = suite.GenerateHPKEKeyPair(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	parentPrivs := make([][]byte, nl)
	isSet := func(x NodeIndex) bool {
		if x.IsLeaf() {
			return uint32(x.LeafIndex()) < uint32(n)
		}
		if opts.Sparse {
			return false
		}
		r, _ := treemath.Right(x)
		first, _ := leafRange(r)
		return uint32(first) < uint32(n)
	}
	if !opts.Sparse {
		err = parallelFor(int(nl)-1, 64, func(lo, hi int) error {
			for i := lo; i < hi; i++ {
				x := NodeIndex(2*i + 1)
				if !isSet(x) {
					continue
				}
				priv, pub, err := suite.GenerateHPKEKeyPair()
				if err != nil {
					return err
				}
				parentPrivs[i] = priv
				t.chunks[x>>chunkShift].parents[(x&(chunkNodes-1))>>1] = &ParentNode{EncryptionKey: pub}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}

	now := uint64(time.Now().Unix())
	makeLeaf := func(i int, parentHash []byte) (*leafSlot, error) {
		ln := &LeafNode{
			EncryptionKey: leafPubs[i],
			SignatureKey:  signers[i].PublicKey(),
			Credential:    NewBasicCredential(fmt.Appendf(nil, "member %d", i)),
			Capabilities: Capabilities{
				Versions:     []ProtocolVersion{ProtocolVersionMLS10},
				CipherSuites: []ciphersuite.ID{suite.ID()},
				Credentials:  []CredentialType{CredentialTypeBasic},
			},
		}
		if opts.Sparse {
			ln.LeafNodeSource = LeafNodeSourceKeyPackage
			ln.Lifetime = &Lifetime{NotBefore: now - 3600, NotAfter: now + 90*24*3600}
		} else {
			ln.LeafNodeSource = LeafNodeSourceCommit
			ln.ParentHash = parentHash
		}
		tbs, err := ln.TBS(groupID, LeafIndex(i))
		if err != nil {
			return nil, err
		}
		if ln.Signature, err = suite.SignWithLabel(signers[i], "LeafNodeTBS", tbs); err != nil {
			return nil, err
		}
		enc, err := ln.MarshalBinary()
		if err != nil {
			return nil, err
		}
		return &leafSlot{node: ln, enc: enc}, nil
	}
	putLeaf := func(i int, s *leafSlot) {
		x := LeafIndex(i).NodeIndex()
		t.chunks[x>>chunkShift].leaves[(x&(chunkNodes-1))>>1] = s
	}

	if opts.Sparse {
		err = parallelFor(n, 64, func(lo, hi int) error {
			for i := lo; i < hi; i++ {
				s, err := makeLeaf(i, nil)
				if err != nil {
					return err
				}
				putLeaf(i, s)
			}
			return nil
		})
	} else {
		err = t.synthesizeSpines(isSet, makeLeaf, putLeaf)
	}
	if err != nil {
		return nil, err
	}
	t.members, t.last, t.firstBlank = n, int64(n-1), uint32(n)
	t.hashOf(t.Root())

	st := &SynthesizedTree{Tree: t, GroupID: groupID, Members: make(map[LeafIndex]*SynthMember)}
	for _, m := range opts.Members {
		mt := t.Clone()
		mt.priv = &treePrivate{self: m, leaf: leafPrivs[m], nodes: make(map[NodeIndex][]byte)}
		for _, p := range treemath.DirectPath(m.NodeIndex(), nl) {
			if priv := parentPrivs[p>>1]; priv != nil {
				mt.priv.nodes[p] = priv
			}
		}
		st.Members[m] = &SynthMember{Tree: mt, Signer: signers[m]}
	}
	return st, nil
}

// synthesizeSpines sets the parent hashes and signs the leaves of a full
// synthesized tree whose parents hold their keys. A spine starts at a
// node whose parent_hash is stale (or at the top node, whose parent_hash
// is empty) and goes down through the nearest non-blank node of each left
// subtree to a leaf: each spine node's parent_hash is the parent hash of
// the node above with the right subtree as copath child. A spine needs
// the tree hashes of the subtrees hanging on its right, which are made of
// spines starting lower, so spines are done level by level, each level on
// all cores.
func (t *RatchetTree) synthesizeSpines(isSet func(NodeIndex) bool, makeLeaf func(int, []byte) (*leafSlot, error), putLeaf func(int, *leafSlot)) error {
	levels := make([][]NodeIndex, treemath.Level(t.Root())+1)
	topPH := make(map[NodeIndex][]byte)
	var mark func(x NodeIndex, linked, top bool)
	mark = func(x NodeIndex, linked, top bool) {
		if isSet(x) {
			if !linked {
				levels[treemath.Level(x)] = append(levels[treemath.Level(x)], x)
				if top {
					topPH[x] = []byte{}
				}
			}
			if x.IsLeaf() {
				return
			}
			linked, top = true, false
		}
		if !x.IsLeaf() {
			l, _ := treemath.Left(x)
			r, _ := treemath.Right(x)
			mark(l, linked, top)
			mark(r, false, false)
		}
	}
	mark(t.Root(), false, true)

	for level, tops := range levels {
		// Below level 6, several spines share a chunk: give each worker
		// whole chunks so that no two write to the same one.
		groups := [][]NodeIndex{}
		for _, x := range tops {
			if level < chunkShift && len(groups) > 0 && groups[len(groups)-1][0]>>chunkShift == x>>chunkShift {
				groups[len(groups)-1] = append(groups[len(groups)-1], x)
			} else {
				groups = append(groups, []NodeIndex{x})
			}
		}
		err := parallelFor(len(groups), 1, func(lo, hi int) error {
			h := t.suite.NewHash()
			for _, g := range groups[lo:hi] {
				for _, top := range g {
					ph, ok := topPH[top]
					if !ok {
						ph = make([]byte, t.nh)
						rand.Read(ph)
					}
					if err := t.synthesizeSpine(h, isSet, top, ph, makeLeaf, putLeaf); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// synthesizeSpine does one spine, from top, whose parent_hash is ph.
func (t *RatchetTree) synthesizeSpine(h hash.Hash, isSet func(NodeIndex) bool, top NodeIndex, ph []byte, makeLeaf func(int, []byte) (*leafSlot, error), putLeaf func(int, *leafSlot)) error {
	y := top
	for !y.IsLeaf() {
		c := t.chunks[y>>chunkShift]
		p := c.parents[(y&(chunkNodes-1))>>1]
		if p == nil {
			return errors.New("mls: synthesized spine through a blank node")
		}
		p.ParentHash = ph
		r, _ := treemath.Right(y)
		t.hashSubtree(h, r)
		ph = t.parentHash(h, p.EncryptionKey, ph, t.cachedHash(r))
		// The nearest non-blank node of the left subtree: members fill the
		// leaves from the left, so a blank node's members are on its left.
		y, _ = treemath.Left(y)
		for !isSet(y) {
			y, _ = treemath.Left(y)
		}
	}
	s, err := makeLeaf(int(y.LeafIndex()), ph)
	if err != nil {
		return err
	}
	putLeaf(int(y.LeafIndex()), s)
	t.hashSubtree(h, top)
	return nil
}

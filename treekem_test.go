package mls

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/treemath"
)

// propGroup simulates a group whose members each keep their own tree, to
// check that random sequences of commits keep every view identical.
type propGroup struct {
	t       *testing.T
	suite   *ciphersuite.Suite
	groupID []byte
	epoch   uint64
	members map[LeafIndex]*propMember
	rng     *rand.Rand
	names   int
}

type propMember struct {
	tree   *RatchetTree
	signer *ciphersuite.SigningKey
}

func (g *propGroup) groupContext(treeHash []byte) []byte {
	gc := GroupContext{Version: ProtocolVersionMLS10, CipherSuite: g.suite.ID(), GroupID: g.groupID,
		Epoch: g.epoch + 1, TreeHash: treeHash, ConfirmedTranscriptHash: []byte("cth"), Extensions: Extensions{}}
	enc, err := gc.MarshalBinary()
	if err != nil {
		g.t.Fatal(err)
	}
	return enc
}

func (g *propGroup) ids() []LeafIndex {
	ids := make([]LeafIndex, 0, len(g.members))
	for i := range g.members {
		ids = append(ids, i)
	}
	slices.Sort(ids)
	return ids
}

type propAdd struct {
	leaf   *LeafNode
	priv   []byte
	signer *ciphersuite.SigningKey
}

type propUpdate struct {
	who  LeafIndex
	leaf *LeafNode
	priv []byte
}

// step runs one commit by a random member with random Add, Update and
// Remove proposals, then checks that every member agrees.
func (g *propGroup) step(maxMembers int) (proposals int) {
	t := g.t
	ids := g.ids()
	committer := ids[g.rng.IntN(len(ids))]
	cm := g.members[committer]
	others := slices.DeleteFunc(slices.Clone(ids), func(i LeafIndex) bool { return i == committer })
	g.rng.Shuffle(len(others), func(a, b int) { others[a], others[b] = others[b], others[a] })
	nUpd := min(g.rng.IntN(3), len(others))
	nRem := min(g.rng.IntN(3), len(others)-nUpd)
	nAdd := min(g.rng.IntN(4), maxMembers-len(ids)+nRem)
	withPath := nUpd+nRem > 0 || nAdd == 0 || g.rng.IntN(3) > 0

	var updates []propUpdate
	for _, u := range others[:nUpd] {
		priv, pub, err := g.suite.GenerateHPKEKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		ln := *cm.tree.Leaf(u)
		ln.EncryptionKey, ln.LeafNodeSource, ln.ParentHash, ln.Lifetime = pub, LeafNodeSourceUpdate, nil, nil
		signLeaf(t, g.suite, &ln, g.members[u].signer, g.groupID, u)
		if err := cm.tree.ValidateLeafNode(&ln, LeafNodeSourceUpdate, g.groupID, u, nil); err != nil {
			t.Fatalf("update of %d: %v", u, err)
		}
		updates = append(updates, propUpdate{u, &ln, priv})
	}
	removes := others[nUpd : nUpd+nRem]
	var adds []propAdd
	for range nAdd {
		g.names++
		ln, priv, signer := newKeyPackageLeaf(t, g.suite, fmt.Sprint("member ", g.names))
		if err := cm.tree.ValidateLeafNode(ln, LeafNodeSourceKeyPackage, g.groupID, LeafIndex(cm.tree.NumLeaves()), nil); err != nil {
			t.Fatalf("add: %v", err)
		}
		adds = append(adds, propAdd{ln, priv, signer})
	}

	// Apply the proposals in RFC 9420 section 12.3 order to every view.
	for _, r := range removes {
		delete(g.members, r)
	}
	var added []LeafIndex
	for i, m := range g.members {
		for _, u := range updates {
			if err := m.tree.UpdateLeaf(u.who, u.leaf); err != nil {
				t.Fatal(err)
			}
			if u.who == i {
				if err := m.tree.SetLeafPrivateKey(i, u.priv); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, r := range removes {
			if err := m.tree.RemoveLeaf(r); err != nil {
				t.Fatal(err)
			}
		}
		var got []LeafIndex
		for _, a := range adds {
			j, err := m.tree.AddLeaf(a.leaf)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, j)
		}
		if added == nil {
			added = got
		} else if !slices.Equal(added, got) {
			t.Fatalf("members disagree on where the new members go: %v, %v", added, got)
		}
	}

	var pending *PendingUpdatePath
	if withPath {
		var err error
		pending, err = cm.tree.GenerateUpdatePath(committer, g.groupID, cm.tree.Leaf(committer), cm.signer)
		if err != nil {
			t.Fatal(err)
		}
		defer pending.Wipe()
		gc := g.groupContext(cm.tree.TreeHash())
		sent, err := pending.Encrypt(gc, added)
		if err != nil {
			t.Fatal(err)
		}
		enc, err := sent.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var path UpdatePath
		if err := path.UnmarshalBinary(enc); err != nil {
			t.Fatal(err)
		}
		for i, m := range g.members {
			if i == committer {
				continue
			}
			if err := m.tree.MergeUpdatePath(committer, &path, g.groupID, nil); err != nil {
				t.Fatalf("epoch %d: member %d merging the path of %d: %v", g.epoch, i, committer, err)
			}
			cs, err := m.tree.DecryptUpdatePath(committer, &path, gc, added)
			if err != nil {
				t.Fatalf("epoch %d: member %d decrypting the path of %d: %v", g.epoch, i, committer, err)
			}
			if !bytes.Equal(cs, pending.CommitSecret()) {
				t.Fatalf("epoch %d: member %d derived another commit secret", g.epoch, i)
			}
		}
	}

	// New members join from the committer's public tree and, with a
	// path, the path secret of their common ancestor (as a Welcome gives).
	for k, a := range adds {
		i := added[k]
		tree := rebuilt(t, cm.tree)
		if err := tree.SetLeafPrivateKey(i, a.priv); err != nil {
			t.Fatal(err)
		}
		if pending != nil {
			lca := treemath.CommonAncestor(committer.NodeIndex(), i.NodeIndex())
			if err := tree.ImportPathSecret(lca, pending.PathSecret(i)); err != nil {
				t.Fatalf("new member %d: %v", i, err)
			}
		}
		g.members[i] = &propMember{tree: tree, signer: a.signer}
	}
	g.epoch++

	want := cm.tree.TreeHash()
	for i, m := range g.members {
		if !bytes.Equal(m.tree.TreeHash(), want) {
			t.Fatalf("epoch %d: member %d has another tree hash", g.epoch, i)
		}
		checkPrivateKeys(t, m.tree)
	}
	if err := cm.tree.Validate(g.groupID, nil); err != nil {
		t.Fatalf("epoch %d: %v", g.epoch, err)
	}
	return nAdd + nUpd + nRem
}

// TestTreeKEMProperty runs hundreds of random Add, Update and Remove
// proposals, committed with and without paths, in groups of up to 100
// members, and checks after each commit that every member derives the
// same commit secret, holds the same tree, holds exactly the private keys
// the tree entitles it to, and that the tree validates.
func TestTreeKEMProperty(t *testing.T) {
	for _, tc := range []struct {
		suite ciphersuite.ID
		steps int
	}{
		{ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, 300},
		{ciphersuite.MLS_128_DHKEMP256_AES128GCM_SHA256_P256, 60},
		{ciphersuite.MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448, 40},
	} {
		t.Run(tc.suite.String(), func(t *testing.T) {
			steps := tc.steps
			if testing.Short() {
				steps /= 5
			}
			s := testSuite(t, tc.suite)
			g := &propGroup{t: t, suite: s, groupID: []byte("property group"),
				members: map[LeafIndex]*propMember{}, rng: rand.New(rand.NewPCG(1, uint64(tc.suite)))}
			ln, priv, signer := newKeyPackageLeaf(t, s, "creator")
			tree, err := NewRatchetTree(s, ln)
			if err != nil {
				t.Fatal(err)
			}
			if err := tree.SetLeafPrivateKey(0, priv); err != nil {
				t.Fatal(err)
			}
			g.members[0] = &propMember{tree: tree, signer: signer}
			ops := 0
			for k := range steps {
				// Grow to about 100 members, then churn around it.
				limit := 100
				if k < steps/3 {
					limit = 10 + 90*k/max(1, steps/3)
				}
				ops += g.step(limit)
				if k%25 == 0 {
					for _, m := range g.members {
						if !bytes.Equal(rebuilt(t, m.tree).TreeHash(), m.tree.TreeHash()) {
							t.Fatalf("step %d: cached tree hash differs from a fresh computation", k)
						}
						break
					}
				}
			}
			t.Logf("%d commits of %d proposals, group of %d at the end, %d leaves", steps, ops, len(g.members), g.members[g.ids()[0]].tree.NumLeaves())
		})
	}
}

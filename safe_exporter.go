package mls

import (
	"errors"
	"fmt"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/treemath"
)

// ErrExportConsumed reports a second SafeExport of a component in one
// epoch: its secret was deleted when it was first exported.
var ErrExportConsumed = errors.New("mls: the component's safe export of this epoch was already consumed")

// exporterLeaves is the width of the exporter tree: one leaf per
// ComponentID (draft-ietf-mls-extensions-10 section 4.4).
const exporterLeaves = 1 << 16

// exporterTree is the Exporter Tree of draft-ietf-mls-extensions-10
// section 4.4: a tree of secrets shaped like the secret tree of RFC 9420
// section 9, with 2^16 leaves, whose root is application_export_secret.
// Nodes are derived on demand; nodes holds the secrets known and not
// consumed, so that deriving a node's children deletes it, and exporting
// a leaf deletes the leaf (the deletion schedule of RFC 9420 section 9.2).
type exporterTree struct {
	suite *ciphersuite.Suite
	nodes map[treemath.NodeIndex][]byte
}

// newExporterTree returns the exporter tree rooted at root, which it takes.
func newExporterTree(s *ciphersuite.Suite, root []byte) *exporterTree {
	return &exporterTree{suite: s, nodes: map[treemath.NodeIndex][]byte{treemath.Root(exporterLeaves): root}}
}

// export returns the secret of component id's leaf and deletes it.
func (t *exporterTree) export(id ciphersuite.ComponentID) ([]byte, error) {
	leaf := treemath.LeafIndex(id).NodeIndex()
	// The lowest ancestor (or the leaf itself) whose secret is known.
	x := leaf
	for {
		if _, ok := t.nodes[x]; ok {
			break
		}
		p, ok := treemath.Parent(x, exporterLeaves)
		if !ok {
			return nil, ErrExportConsumed
		}
		x = p
	}
	for x != leaf {
		secret := t.nodes[x]
		l, _ := treemath.Left(x)
		r, _ := treemath.Right(x)
		left, err := t.suite.ExpandWithLabel(secret, "tree", []byte("left"), t.suite.HashSize())
		if err != nil {
			return nil, err
		}
		right, err := t.suite.ExpandWithLabel(secret, "tree", []byte("right"), t.suite.HashSize())
		if err != nil {
			clear(left)
			return nil, err
		}
		clear(secret)
		delete(t.nodes, x)
		t.nodes[l], t.nodes[r] = left, right
		if treemath.IsAncestor(l, leaf) {
			x = l
		} else {
			x = r
		}
	}
	out := t.nodes[leaf]
	delete(t.nodes, leaf)
	return out, nil
}

// erase zeroes every secret of the tree.
func (t *exporterTree) erase() {
	for x, v := range t.nodes {
		clear(v)
		delete(t.nodes, x)
	}
}

// SafeExport returns the safe exporter's secret of component id in the
// current epoch (draft-ietf-mls-extensions-10 section 4.4): the leaf of
// the epoch's exporter tree for id, Nh bytes, the same for every member.
// Unlike Export, it is forward secure: the secret, and the tree nodes it
// was derived from, are deleted at once, so a second SafeExport of id in
// the epoch fails with ErrExportConsumed, and a later compromise of the
// group's state does not reveal it. Components derive what they need from
// the secret they get.
func (g *Group) SafeExport(id ciphersuite.ComponentID) ([]byte, error) {
	if err := g.checkActive(); err != nil && g.state != stateReInit {
		return nil, err
	}
	if g.exporter == nil {
		return nil, fmt.Errorf("mls: no safe exporter in epoch %d (a group state saved by an older version)", g.gc.Epoch)
	}
	return g.exporter.export(id)
}

package conformance

import (
	"fmt"

	"github.com/arbormls/mls/internal/treemath"
)

func init() { register("tree-math", runTreeMath) }

type treeMathCase struct {
	NLeaves uint32    `json:"n_leaves"`
	NNodes  uint32    `json:"n_nodes"`
	Root    uint32    `json:"root"`
	Left    []*uint32 `json:"left"`
	Right   []*uint32 `json:"right"`
	Parent  []*uint32 `json:"parent"`
	Sibling []*uint32 `json:"sibling"`
}

func runTreeMath(data []byte) ([]CaseResult, error) {
	return runCases(data, func(c *treeMathCase) error {
		if w := treemath.NodeWidth(c.NLeaves); w != c.NNodes {
			return fmt.Errorf("node width %d, want %d", w, c.NNodes)
		}
		if r := treemath.Root(c.NLeaves); uint32(r) != c.Root {
			return fmt.Errorf("root %d, want %d", r, c.Root)
		}
		check := func(name string, want []*uint32, f func(x treemath.NodeIndex) (treemath.NodeIndex, bool)) error {
			if len(want) != int(c.NNodes) {
				return fmt.Errorf("%s: %d entries for %d nodes", name, len(want), c.NNodes)
			}
			for i, w := range want {
				got, ok := f(treemath.NodeIndex(i))
				switch {
				case w == nil && ok:
					return fmt.Errorf("%s(%d) = %d, want none", name, i, got)
				case w != nil && !ok:
					return fmt.Errorf("%s(%d) = none, want %d", name, i, *w)
				case w != nil && uint32(got) != *w:
					return fmt.Errorf("%s(%d) = %d, want %d", name, i, got, *w)
				}
			}
			return nil
		}
		if err := check("left", c.Left, treemath.Left); err != nil {
			return err
		}
		if err := check("right", c.Right, treemath.Right); err != nil {
			return err
		}
		n := c.NLeaves
		if err := check("parent", c.Parent, func(x treemath.NodeIndex) (treemath.NodeIndex, bool) { return treemath.Parent(x, n) }); err != nil {
			return err
		}
		return check("sibling", c.Sibling, func(x treemath.NodeIndex) (treemath.NodeIndex, bool) { return treemath.Sibling(x, n) })
	})
}

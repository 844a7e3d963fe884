package mls

import (
	"testing"

	"github.com/arbormls/mls/ciphersuite"
)

// TestBranchForcePath checks that ResumeOptions.ForcePath gives the first
// commit of a branch a path, which its Adds and PSK alone do not need.
func TestBranchForcePath(t *testing.T) {
	const suite = ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	cfg := &Config{PublicHandshake: true} // to read the commit's content
	tg := newTestGroup(t, suite, cfg, "alice")
	tg.add("alice", "bob")
	for _, force := range []bool{false, true} {
		_, bobKP := newKeyPackage(t, suite, "bob")
		_, pc, err := tg.members["alice"].Branch([]*KeyPackage{bobKP.KeyPackage}, &ResumeOptions{ForcePath: force})
		if err != nil {
			t.Fatal(err)
		}
		c := pc.Commit.PublicMessage.Content.Commit
		if got := c.Path != nil; got != force {
			t.Fatalf("ForcePath %v: commit has a path: %v", force, got)
		}
	}
}

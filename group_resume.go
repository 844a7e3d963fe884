package mls

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/arbormls/mls/ciphersuite"
)

// This file holds the groups that resume another: reinitialization (RFC
// 9420 section 11.2) and subgroup branching (section 11.3), linked to the
// old group by a resumption PSK.

// ProposeReInit proposes to close the group and continue it as a new group
// with the given ID (nil: 32 random bytes), cipher suite and GroupContext
// extensions, in the version of the current group.
func (g *Group) ProposeReInit(groupID []byte, suite ciphersuite.ID, exts Extensions) (*MLSMessage, error) {
	return g.propose(&Proposal{ReInit: g.newReInit(groupID, suite, exts)}, nil)
}

// newReInit returns a ReInit proposal, with a random group ID if none.
func (g *Group) newReInit(groupID []byte, suite ciphersuite.ID, exts Extensions) *ReInitProposal {
	if groupID == nil {
		groupID = make([]byte, 32)
		rand.Read(groupID)
	}
	return &ReInitProposal{GroupID: groupID, Version: g.gc.Version, CipherSuite: suite, Extensions: nonNil(exts)}
}

// PendingReInit returns the ReInit of the commit that closed the group, or
// nil while the group is open.
func (g *Group) PendingReInit() *ReInitProposal { return g.reinit }

// ResumeOptions are the choices of the member who creates a group that
// resumes this one.
type ResumeOptions struct {
	// Identity is the creator's identity in the new group; nil means the
	// same as in this group, which needs the same cipher suite.
	Identity *Identity
	// Config is the policy of the new group; nil means this group's.
	Config *Config
	// Leaf is used to build the creator's leaf, as in CreateOptions.
	Leaf *KeyPackageOptions
	// GroupID and Extensions are the new group's for a branch (nil: a
	// random ID, and this group's extensions). A ReInit sets its own.
	GroupID    []byte
	Extensions Extensions
	// RatchetTreeOutOfBand keeps the tree out of the Welcome.
	RatchetTreeOutOfBand bool
	// ForcePath gives the new group's first commit a path, which a
	// commit of Adds and a PSK does not need.
	ForcePath bool
}

// ReInit creates the group that continues this one after a commit with a
// ReInit proposal closed it (RFC 9420 section 11.2): a group with the
// ReInit's ID, version, suite and extensions, whose first commit adds the
// other members by keyPackages (fresh KeyPackages of the new suite) and
// injects this group's resumption PSK of usage reinit. It returns the new
// group and its pending commit, whose Welcome the others join with
// JoinOptions.PreviousGroup set to their copy of this group. Any member can
// do it, not only the one who committed the ReInit.
func (g *Group) ReInit(keyPackages []*KeyPackage, opts *ResumeOptions) (*Group, *PendingCommit, error) {
	ri := g.reinit
	if ri == nil {
		return nil, nil, errors.New("mls: no ReInit closed the group")
	}
	if opts == nil {
		opts = &ResumeOptions{}
	}
	o := *opts
	o.GroupID, o.Extensions = ri.GroupID, nonNil(ri.Extensions)
	return g.resume(ResumptionPSKUsageReInit, ri.CipherSuite, keyPackages, &o)
}

// Branch creates a subgroup of this group (RFC 9420 section 11.3): a new
// group of the same version and suite whose first commit adds the members
// of keyPackages (fresh KeyPackages of some members) and injects this
// group's current resumption PSK of usage branch. The members join with
// JoinOptions.PreviousGroup set to their copy of this group.
func (g *Group) Branch(keyPackages []*KeyPackage, opts *ResumeOptions) (*Group, *PendingCommit, error) {
	if err := g.checkActive(); err != nil {
		return nil, nil, err
	}
	if opts == nil {
		opts = &ResumeOptions{}
	}
	o := *opts
	if o.Extensions == nil {
		o.Extensions = cloneExtensions(g.gc.Extensions)
	}
	return g.resume(ResumptionPSKUsageBranch, g.suite.ID(), keyPackages, &o)
}

// resume creates a group of suite that resumes this one with a resumption
// PSK of usage, adding keyPackages in its first commit.
func (g *Group) resume(usage ResumptionPSKUsage, suite ciphersuite.ID, keyPackages []*KeyPackage, opts *ResumeOptions) (*Group, *PendingCommit, error) {
	id := opts.Identity
	if id == nil {
		id = g.id
	}
	if id.Suite() != suite {
		return nil, nil, fmt.Errorf("mls: an identity of suite %v is needed for the new group", suite)
	}
	cfg := opts.Config
	if cfg == nil {
		cfg = &g.cfg
	}
	ng, err := CreateGroup(id, cfg, &CreateOptions{GroupID: opts.GroupID, Extensions: opts.Extensions, Leaf: opts.Leaf})
	if err != nil {
		return nil, nil, err
	}
	ng.resumeFrom, ng.resumeUsage = g, usage
	psk := PreSharedKeyID{PSKType: PSKTypeResumption, Usage: usage, PSKGroupID: g.gc.GroupID, PSKEpoch: g.gc.Epoch}
	pc, err := ng.Commit(CommitOptions{Add: keyPackages, PSKs: []PreSharedKeyID{psk}, RatchetTreeOutOfBand: opts.RatchetTreeOutOfBand, Update: opts.ForcePath})
	if err != nil {
		return nil, nil, err
	}
	return ng, pc, nil
}

// checkResumption checks the resumption PSKs of usage reinit and branch of
// a Welcome against the group it resumes (RFC 9420 section 12.4.3.1): for
// a reinit, that the old group was closed by a ReInit in the PSK's epoch
// whose parameters the new group has, and that every old member is in the
// new group; for a branch, the same version and suite, and every new
// member a member of the old group. Members are matched by their
// credentials.
func (g *Group) checkResumption(psks []PreSharedKeyID, prev *Group) error {
	for _, psk := range psks {
		if psk.PSKType != PSKTypeResumption || psk.Usage == ResumptionPSKUsageApplication {
			continue
		}
		if prev == nil || !bytes.Equal(prev.gc.GroupID, psk.PSKGroupID) {
			return fmt.Errorf("mls: Welcome resumes another group (usage %v): JoinOptions.PreviousGroup must be it", psk.Usage)
		}
		switch psk.Usage {
		case ResumptionPSKUsageReInit:
			ri := prev.reinit
			if ri == nil || psk.PSKEpoch != prev.gc.Epoch {
				return errors.New("mls: reinit PSK of an epoch not closed by a ReInit")
			}
			want, err := ri.Extensions.MarshalBinary()
			if err != nil {
				return err
			}
			got, err := g.gc.Extensions.MarshalBinary()
			if err != nil {
				return err
			}
			if !bytes.Equal(ri.GroupID, g.gc.GroupID) || ri.Version != g.gc.Version || ri.CipherSuite != g.gc.CipherSuite || !bytes.Equal(want, got) {
				return errors.New("mls: the new group does not match the ReInit")
			}
			if !credentialsIn(prev.tree, g.tree) {
				return errors.New("mls: a member of the old group is missing from the reinitialized group")
			}
		case ResumptionPSKUsageBranch:
			if prev.gc.Version != g.gc.Version || prev.gc.CipherSuite != g.gc.CipherSuite {
				return errors.New("mls: a branch must keep the version and cipher suite")
			}
			if !credentialsIn(g.tree, prev.tree) {
				return errors.New("mls: a member of the branch is not a member of the old group")
			}
		default:
			return fmt.Errorf("mls: resumption PSK of usage %v", psk.Usage)
		}
	}
	return nil
}

// credentialsIn reports whether the credential of every member of a is
// the credential of some member of b.
func credentialsIn(a, b *RatchetTree) bool {
	have := make(map[string]bool, b.NumMembers())
	for i := range b.NumLeaves() {
		if ln := b.Leaf(LeafIndex(i)); ln != nil {
			if enc, err := ln.Credential.MarshalBinary(); err == nil {
				have[string(enc)] = true
			}
		}
	}
	for i := range a.NumLeaves() {
		if ln := a.Leaf(LeafIndex(i)); ln != nil {
			if enc, err := ln.Credential.MarshalBinary(); err != nil || !have[string(enc)] {
				return false
			}
		}
	}
	return true
}

package interop

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/arbormls/mls/interop/proto"
)

// This file plays the working group's interop scenarios (the step
// vocabulary of mls-implementations/interop/test-runner) against several
// Arbor servers on loopback ports, the actors spread over the servers, and
// checks after every commit that committer, members and joiners agree on
// the epoch_authenticator, and at the end of each script that the members
// named agree on StateAuth and on an exported secret.

// step is one scripted action; only the fields its action uses are set.
type step struct {
	Action       string        `json:"action"`
	Actor        string        `json:"actor"`
	Joiner       string        `json:"joiner"`
	Members      []string      `json:"members"`
	Joiners      []string      `json:"joiners"`
	Clients      []string      `json:"clients"`
	Welcome      int           `json:"welcome"`
	KeyPackage   int           `json:"keyPackage"`
	Removed      string        `json:"removed"`
	PSKID        int           `json:"pskID"`
	EpochID      uint64        `json:"epochID"`
	Extensions   []extJSON     `json:"extensions"`
	ByReference  []int         `json:"byReference"`
	ByValue      []description `json:"byValue"`
	ForcePath    bool          `json:"forcePath"`
	ExternalTree bool          `json:"externalTree"`
	RemovePrior  bool          `json:"removePrior"`
	PSKs         []int         `json:"psks"`
	AAD          string        `json:"aad"`
	Plaintext    string        `json:"plaintext"`
	Ciphertext   int           `json:"ciphertext"`
	Signer       string        `json:"signer"`
	Member       string        `json:"member"`
	Description  description   `json:"description"`
	// reinit
	Proposer          string `json:"proposer"`
	Committer         string `json:"committer"`
	Welcomer          string `json:"welcomer"`
	ChangeSuite       bool   `json:"changeSuite"`
	ChangeGroupID     bool   `json:"changeGroupID"`
	ExternalReInitRef int    `json:"externalReinit"`
}

type extJSON struct {
	Type uint32 `json:"type"`
	Data []byte `json:"data"` // base64 in JSON
}

type description struct {
	Type          string    `json:"type"`
	KeyPackage    int       `json:"keyPackage"`
	Removed       string    `json:"removed"`
	PSKID         int       `json:"pskID"`
	EpochID       uint64    `json:"epochID"`
	Extensions    []extJSON `json:"extensions"`
	ChangeSuite   bool      `json:"changeSuite"`
	ChangeGroupID bool      `json:"changeGroupID"`
}

// player runs one script for one suite, handshake mode and assignment of
// actors to servers.
type player struct {
	t       testing.TB
	suite   uint32
	encrypt bool
	servers []pb.MLSClientClient
	offset  int

	client  map[string]pb.MLSClientClient
	state   map[string]uint32
	tx      map[string]uint32
	signer  map[string]uint32
	out     []map[string][]byte // what each step produced, by key
	groupID []byte

	// identity gives an actor's credential identity; nil means the actor's
	// name. A run with a peer that accepts only identities of its own
	// grammar (core-crypto's Wire client ids) sets it; ids memoizes it so
	// that every server sees one identity per actor.
	identity func(actor string) []byte
	ids      map[string][]byte
	// exporterAgreement is set when some server cannot report the
	// epoch_authenticator or StateAuth: members then show that they agree
	// by MLS-Exporter("exporter", "", 32) after every commit and in verify.
	exporterAgreement bool
}

func newPlayer(t testing.TB, servers []pb.MLSClientClient, suite uint32, encrypt bool, offset int) *player {
	return &player{
		t: t, suite: suite, encrypt: encrypt, servers: servers, offset: offset,
		client: map[string]pb.MLSClientClient{}, state: map[string]uint32{},
		tx: map[string]uint32{}, signer: map[string]uint32{}, ids: map[string][]byte{},
	}
}

// id returns the credential identity of an actor.
func (p *player) id(actor string) []byte {
	if p.identity == nil {
		return []byte(actor)
	}
	id, ok := p.ids[actor]
	if !ok {
		id = p.identity(actor)
		p.ids[actor] = id
	}
	return id
}

// c returns the server of an actor, assigning actors to servers in turn.
func (p *player) c(actor string) pb.MLSClientClient {
	if c, ok := p.client[actor]; ok {
		return c
	}
	c := p.servers[(len(p.client)+p.offset)%len(p.servers)]
	p.client[actor] = c
	return c
}

func rpcCtx() context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	_ = cancel // released when the deadline passes; the test is short-lived
	return c
}

// scriptError is how get reports a script that names a missing output:
// it panics with one, and play turns it back into the error it returns.
// This keeps the many get calls inside expressions.
type scriptError struct{ err error }

func (p *player) get(i int, key string) []byte {
	if i < 0 || i >= len(p.out) {
		panic(scriptError{fmt.Errorf("no step %d", i)})
	}
	v, ok := p.out[i][key]
	if !ok {
		panic(scriptError{fmt.Errorf("step %d produced no %s", i, key)})
	}
	return v
}

// play runs the script and returns the first failure, naming its step.
func (p *player) play(script []step) (err error) {
	defer func() {
		if r := recover(); r != nil {
			se, ok := r.(scriptError)
			if !ok {
				panic(r)
			}
			err = se.err
		}
	}()
	for i, s := range script {
		p.out = append(p.out, map[string][]byte{})
		if err := p.step(i, s); err != nil {
			return fmt.Errorf("step %d (%s): %w", i, s.Action, err)
		}
	}
	return nil
}

func (p *player) run(script []step) {
	if err := p.play(script); err != nil {
		p.t.Fatalf("suite %d encrypt=%v %v", p.suite, p.encrypt, err)
	}
}

func exts(in []extJSON) []*pb.Extension {
	out := make([]*pb.Extension, len(in))
	for i, e := range in {
		out[i] = &pb.Extension{ExtensionType: e.Type, ExtensionData: e.Data}
	}
	return out
}

// otherSuite is the suite a ReInit changes to.
func otherSuite(s uint32) uint32 {
	if s == 1 {
		return 3
	}
	return 1
}

func (p *player) newGroupID(change bool) []byte {
	id := bytes.Clone(p.groupID)
	if change {
		id = append(id, "++"...)
	}
	return id
}

func (p *player) describe(d description) (*pb.ProposalDescription, error) {
	out := &pb.ProposalDescription{ProposalType: []byte(d.Type)}
	switch d.Type {
	case "add":
		out.KeyPackage = p.get(d.KeyPackage, "key_package")
	case "remove":
		out.RemovedId = p.id(d.Removed)
	case "externalPSK":
		out.PskId = p.get(d.PSKID, "psk_id")
	case "resumptionPSK":
		out.EpochId = d.EpochID
	case "groupContextExtensions":
		out.Extensions = exts(d.Extensions)
	case "reinit":
		out.Extensions = exts(d.Extensions)
		if d.ChangeSuite {
			p.suite = otherSuite(p.suite)
		}
		out.CipherSuite = p.suite
		out.GroupId = p.newGroupID(d.ChangeGroupID)
	default:
		return nil, fmt.Errorf("unknown proposal type %q", d.Type)
	}
	return out, nil
}

// sameEA checks one member's epoch authenticator against the committer's;
// under exporterAgreement the caller checks with p.agree instead.
func (p *player) sameEA(who string, got, want []byte) error {
	if p.exporterAgreement {
		return nil
	}
	if len(want) == 0 || !bytes.Equal(got, want) {
		return fmt.Errorf("%s disagrees on the epoch authenticator", who)
	}
	return nil
}

func (p *player) step(i int, s step) error {
	out := p.out[i]
	switch s.Action {
	case "createGroup":
		p.groupID = make([]byte, 16)
		rand.Read(p.groupID)
		resp, err := p.c(s.Actor).CreateGroup(rpcCtx(), &pb.CreateGroupRequest{
			GroupId: p.groupID, CipherSuite: p.suite, EncryptHandshake: p.encrypt, Identity: p.id(s.Actor),
		})
		if err != nil {
			return err
		}
		p.state[s.Actor] = resp.StateId
		if len(s.Members) == 0 {
			return nil
		}
		// Members join by one commit of Adds by value.
		var adds []*pb.ProposalDescription
		for _, m := range s.Members {
			kp, err := p.keyPackage(m, p.suite)
			if err != nil {
				return err
			}
			adds = append(adds, &pb.ProposalDescription{ProposalType: []byte("add"), KeyPackage: kp})
		}
		return p.fullCommit(out, s.Actor, nil, adds, nil, s.Members, false, false)

	case "createKeyPackage":
		kp, err := p.keyPackage(s.Actor, p.suite)
		out["key_package"] = kp
		return err

	case "joinGroup":
		resp, err := p.c(s.Actor).JoinGroup(rpcCtx(), &pb.JoinGroupRequest{
			TransactionId: p.tx[s.Actor], Welcome: p.get(s.Welcome, "welcome"),
			EncryptHandshake: p.encrypt, Identity: p.id(s.Actor),
		})
		if err != nil {
			return err
		}
		p.state[s.Actor] = resp.StateId

	case "externalJoin":
		gi, err := p.c(s.Actor).GroupInfo(rpcCtx(), &pb.GroupInfoRequest{StateId: p.state[s.Actor], ExternalTree: s.ExternalTree})
		if err != nil {
			return err
		}
		req := &pb.ExternalJoinRequest{
			GroupInfo: gi.GroupInfo, RatchetTree: gi.RatchetTree, EncryptHandshake: p.encrypt,
			Identity: p.id(s.Joiner), RemovePrior: s.RemovePrior,
		}
		for _, ix := range s.PSKs {
			req.Psks = append(req.Psks, &pb.PreSharedKey{PskId: p.get(ix, "psk_id"), PskSecret: p.get(ix, "psk_secret")})
		}
		resp, err := p.c(s.Joiner).ExternalJoin(rpcCtx(), req)
		if err != nil {
			return err
		}
		p.state[s.Joiner] = resp.StateId
		members := append([]string{s.Actor}, s.Members...)
		if err := p.handleCommit(members, nil, resp.Commit, resp.EpochAuthenticator); err != nil {
			return err
		}
		return p.agree(append(members, s.Joiner))

	case "installExternalPSK":
		id, secret := make([]byte, 32), make([]byte, 32)
		rand.Read(id)
		rand.Read(secret)
		out["psk_id"], out["psk_secret"] = id, secret
		for _, actor := range s.Clients {
			if _, err := p.c(actor).StorePSK(rpcCtx(), &pb.StorePSKRequest{
				StateOrTransactionId: p.state[actor], PskId: id, PskSecret: secret,
			}); err != nil {
				return err
			}
		}

	case "addProposal", "updateProposal", "removeProposal", "externalPSKProposal",
		"resumptionPSKProposal", "groupContextExtensionsProposal":
		prop, err := p.proposal(s)
		out["proposal"] = prop
		return err

	case "fullCommit":
		var byRef [][]byte
		for _, ix := range s.ByReference {
			byRef = append(byRef, p.get(ix, "proposal"))
		}
		var byVal []*pb.ProposalDescription
		for _, d := range s.ByValue {
			pd, err := p.describe(d)
			if err != nil {
				return err
			}
			byVal = append(byVal, pd)
		}
		return p.fullCommit(out, s.Actor, byRef, byVal, s.Members, s.Joiners, s.ForcePath, s.ExternalTree)

	case "protect":
		resp, err := p.c(s.Actor).Protect(rpcCtx(), &pb.ProtectRequest{
			StateId: p.state[s.Actor], AuthenticatedData: []byte(s.AAD), Plaintext: []byte(s.Plaintext),
		})
		if err != nil {
			return err
		}
		out["ciphertext"], out["aad"], out["plaintext"] = resp.Ciphertext, []byte(s.AAD), []byte(s.Plaintext)

	case "unprotect":
		resp, err := p.c(s.Actor).Unprotect(rpcCtx(), &pb.UnprotectRequest{
			StateId: p.state[s.Actor], Ciphertext: p.get(s.Ciphertext, "ciphertext"),
		})
		if err != nil {
			return err
		}
		if !bytes.Equal(resp.Plaintext, p.get(s.Ciphertext, "plaintext")) || !bytes.Equal(resp.AuthenticatedData, p.get(s.Ciphertext, "aad")) {
			return fmt.Errorf("wrong plaintext or authenticated data")
		}

	case "reinit":
		return p.reinit(s)

	case "branch":
		return p.branch(s)

	case "newMemberAddProposal":
		gi, err := p.c(s.Actor).GroupInfo(rpcCtx(), &pb.GroupInfoRequest{StateId: p.state[s.Actor]})
		if err != nil {
			return err
		}
		resp, err := p.c(s.Joiner).NewMemberAddProposal(rpcCtx(), &pb.NewMemberAddProposalRequest{GroupInfo: gi.GroupInfo, Identity: p.id(s.Joiner)})
		if err != nil {
			return err
		}
		p.tx[s.Joiner] = resp.TransactionId
		out["proposal"] = resp.Proposal

	case "addExternalSigner":
		es, err := p.c(s.Signer).CreateExternalSigner(rpcCtx(), &pb.CreateExternalSignerRequest{CipherSuite: p.suite, Identity: p.id(s.Signer)})
		if err != nil {
			return err
		}
		p.signer[s.Signer] = es.SignerId
		resp, err := p.c(s.Actor).AddExternalSigner(rpcCtx(), &pb.AddExternalSignerRequest{StateId: p.state[s.Actor], ExternalSender: es.ExternalSender})
		if err != nil {
			return err
		}
		out["proposal"] = resp.Proposal

	case "externalSignerProposal":
		gi, err := p.c(s.Member).GroupInfo(rpcCtx(), &pb.GroupInfoRequest{StateId: p.state[s.Member], ExternalTree: true})
		if err != nil {
			return err
		}
		d, err := p.describe(s.Description)
		if err != nil {
			return err
		}
		resp, err := p.c(s.Actor).ExternalSignerProposal(rpcCtx(), &pb.ExternalSignerProposalRequest{
			SignerId: p.signer[s.Actor], GroupInfo: gi.GroupInfo, RatchetTree: gi.RatchetTree, Description: d,
		})
		if err != nil {
			return err
		}
		out["proposal"] = resp.Proposal

	case "verify":
		return p.verify(s.Members)

	default:
		return fmt.Errorf("unknown action %q", s.Action)
	}
	return nil
}

func (p *player) keyPackage(actor string, suite uint32) ([]byte, error) {
	resp, err := p.c(actor).CreateKeyPackage(rpcCtx(), &pb.CreateKeyPackageRequest{CipherSuite: suite, Identity: p.id(actor)})
	if err != nil {
		return nil, err
	}
	p.tx[actor] = resp.TransactionId
	return resp.KeyPackage, nil
}

func (p *player) proposal(s step) ([]byte, error) {
	c, id := p.c(s.Actor), p.state[s.Actor]
	var resp *pb.ProposalResponse
	var err error
	switch s.Action {
	case "addProposal":
		resp, err = c.AddProposal(rpcCtx(), &pb.AddProposalRequest{StateId: id, KeyPackage: p.get(s.KeyPackage, "key_package")})
	case "updateProposal":
		resp, err = c.UpdateProposal(rpcCtx(), &pb.UpdateProposalRequest{StateId: id})
	case "removeProposal":
		resp, err = c.RemoveProposal(rpcCtx(), &pb.RemoveProposalRequest{StateId: id, RemovedId: p.id(s.Removed)})
	case "externalPSKProposal":
		resp, err = c.ExternalPSKProposal(rpcCtx(), &pb.ExternalPSKProposalRequest{StateId: id, PskId: p.get(s.PSKID, "psk_id")})
	case "resumptionPSKProposal":
		resp, err = c.ResumptionPSKProposal(rpcCtx(), &pb.ResumptionPSKProposalRequest{StateId: id, EpochId: s.EpochID})
	default:
		resp, err = c.GroupContextExtensionsProposal(rpcCtx(), &pb.GroupContextExtensionsProposalRequest{StateId: id, Extensions: exts(s.Extensions)})
	}
	if err != nil {
		return nil, err
	}
	return resp.Proposal, nil
}

// fullCommit: the committer commits and merges, the members process the
// proposals and the commit, the joiners join; all must agree.
func (p *player) fullCommit(out map[string][]byte, actor string, byRef [][]byte, byVal []*pb.ProposalDescription, members, joiners []string, forcePath, externalTree bool) error {
	c := p.c(actor)
	cr, err := c.Commit(rpcCtx(), &pb.CommitRequest{
		StateId: p.state[actor], ByReference: byRef, ByValue: byVal, ForcePath: forcePath, ExternalTree: externalTree,
	})
	if err != nil {
		return fmt.Errorf("Commit: %w", err)
	}
	out["commit"], out["welcome"] = cr.Commit, cr.Welcome
	hr, err := c.HandlePendingCommit(rpcCtx(), &pb.HandlePendingCommitRequest{StateId: p.state[actor]})
	if err != nil {
		return fmt.Errorf("HandlePendingCommit: %w", err)
	}
	p.state[actor] = hr.StateId
	ea := hr.EpochAuthenticator
	if err := p.handleCommit(members, byRef, cr.Commit, ea); err != nil {
		return err
	}
	for _, j := range joiners {
		req := &pb.JoinGroupRequest{TransactionId: p.tx[j], Welcome: cr.Welcome, EncryptHandshake: p.encrypt, Identity: p.id(j)}
		if externalTree {
			req.RatchetTree = cr.RatchetTree
		}
		jr, err := p.c(j).JoinGroup(rpcCtx(), req)
		if err != nil {
			return fmt.Errorf("JoinGroup %s: %w", j, err)
		}
		if err := p.sameEA(j, jr.EpochAuthenticator, ea); err != nil {
			return err
		}
		p.state[j] = jr.StateId
	}
	return p.agree(append(append([]string{actor}, members...), joiners...))
}

func (p *player) handleCommit(members []string, byRef [][]byte, commit, ea []byte) error {
	for _, m := range members {
		resp, err := p.c(m).HandleCommit(rpcCtx(), &pb.HandleCommitRequest{StateId: p.state[m], Proposal: byRef, Commit: commit})
		if err != nil {
			return fmt.Errorf("HandleCommit %s: %w", m, err)
		}
		if err := p.sameEA(m, resp.EpochAuthenticator, ea); err != nil {
			return err
		}
		p.state[m] = resp.StateId
	}
	return nil
}

func (p *player) reinit(s step) error {
	notCommitter := map[string]bool{s.Welcomer: true}
	notWelcomer := map[string]bool{s.Committer: true}
	for _, m := range append([]string{s.Proposer}, s.Members...) {
		if m != "" {
			notCommitter[m], notWelcomer[m] = true, true
		}
	}
	delete(notCommitter, s.Committer)
	delete(notWelcomer, s.Welcomer)

	var prop []byte
	if s.Proposer != "" {
		groupID := p.newGroupID(s.ChangeGroupID)
		if s.ChangeSuite {
			p.suite = otherSuite(p.suite)
		}
		resp, err := p.c(s.Proposer).ReInitProposal(rpcCtx(), &pb.ReInitProposalRequest{
			StateId: p.state[s.Proposer], CipherSuite: p.suite, GroupId: groupID, Extensions: exts(s.Extensions),
		})
		if err != nil {
			return fmt.Errorf("ReInitProposal: %w", err)
		}
		prop = resp.Proposal
	} else {
		prop = p.get(s.ExternalReInitRef, "proposal")
	}

	reinitID, kps := map[string]uint32{}, map[string][]byte{}
	c := p.c(s.Committer)
	cr, err := c.ReInitCommit(rpcCtx(), &pb.CommitRequest{StateId: p.state[s.Committer], ByReference: [][]byte{prop}, ForcePath: s.ForcePath})
	if err != nil {
		return fmt.Errorf("ReInitCommit: %w", err)
	}
	hr, err := c.HandlePendingReInitCommit(rpcCtx(), &pb.HandlePendingCommitRequest{StateId: p.state[s.Committer]})
	if err != nil {
		return fmt.Errorf("HandlePendingReInitCommit: %w", err)
	}
	reinitID[s.Committer], kps[s.Committer] = hr.ReinitId, hr.KeyPackage
	for m := range notCommitter {
		resp, err := p.c(m).HandleReInitCommit(rpcCtx(), &pb.HandleCommitRequest{StateId: p.state[m], Proposal: [][]byte{prop}, Commit: cr.Commit})
		if err != nil {
			return fmt.Errorf("HandleReInitCommit %s: %w", m, err)
		}
		if err := p.sameEA(m, resp.EpochAuthenticator, hr.EpochAuthenticator); err != nil {
			return err
		}
		reinitID[m], kps[m] = resp.ReinitId, resp.KeyPackage
	}

	var list [][]byte
	for m := range notWelcomer {
		list = append(list, kps[m])
	}
	wr, err := p.c(s.Welcomer).ReInitWelcome(rpcCtx(), &pb.ReInitWelcomeRequest{
		ReinitId: reinitID[s.Welcomer], KeyPackage: list, ForcePath: s.ForcePath, ExternalTree: s.ExternalTree,
	})
	if err != nil {
		return fmt.Errorf("ReInitWelcome: %w", err)
	}
	p.state[s.Welcomer] = wr.StateId
	var tree []byte
	if s.ExternalTree {
		tree = wr.RatchetTree
	}
	for m := range notWelcomer {
		resp, err := p.c(m).HandleReInitWelcome(rpcCtx(), &pb.HandleReInitWelcomeRequest{ReinitId: reinitID[m], Welcome: wr.Welcome, RatchetTree: tree})
		if err != nil {
			return fmt.Errorf("HandleReInitWelcome %s: %w", m, err)
		}
		if err := p.sameEA(m, resp.EpochAuthenticator, wr.EpochAuthenticator); err != nil {
			return err
		}
		p.state[m] = resp.StateId
	}
	return p.agree(append([]string{s.Welcomer}, slices.Collect(maps.Keys(notWelcomer))...))
}

func (p *player) branch(s step) error {
	var kps [][]byte
	for _, m := range s.Members {
		kp, err := p.keyPackage(m, p.suite)
		if err != nil {
			return err
		}
		kps = append(kps, kp)
	}
	id := make([]byte, 16)
	rand.Read(id)
	br, err := p.c(s.Actor).CreateBranch(rpcCtx(), &pb.CreateBranchRequest{
		StateId: p.state[s.Actor], GroupId: id, Extensions: exts(s.Extensions), KeyPackages: kps,
		ForcePath: s.ForcePath, ExternalTree: s.ExternalTree,
	})
	if err != nil {
		return fmt.Errorf("CreateBranch: %w", err)
	}
	p.state[s.Actor] = br.StateId
	var tree []byte
	if s.ExternalTree {
		tree = br.RatchetTree
	}
	for _, m := range s.Members {
		resp, err := p.c(m).HandleBranch(rpcCtx(), &pb.HandleBranchRequest{
			StateId: p.state[m], TransactionId: p.tx[m], Welcome: br.Welcome, RatchetTree: tree,
		})
		if err != nil {
			return fmt.Errorf("HandleBranch %s: %w", m, err)
		}
		if err := p.sameEA(m, resp.EpochAuthenticator, br.EpochAuthenticator); err != nil {
			return err
		}
		p.state[m] = resp.StateId
	}
	return p.agree(append([]string{s.Actor}, s.Members...))
}

// exporterLabel is the MLS-Exporter label of exporterAgreement: core-crypto
// exports MLS-Exporter("exporter", "", L) and nothing else.
const exporterLabel = "exporter"

// agree checks, under exporterAgreement, that the members agree on
// MLS-Exporter("exporter", "", 32); otherwise the epoch authenticators
// were compared already.
func (p *player) agree(members []string) error {
	if !p.exporterAgreement {
		return nil
	}
	var first []byte
	for i, m := range members {
		e, err := p.c(m).Export(rpcCtx(), &pb.ExportRequest{StateId: p.state[m], Label: exporterLabel, KeyLength: 32})
		if err != nil {
			return fmt.Errorf("Export %s: %w", m, err)
		}
		if len(e.ExportedSecret) != 32 {
			return fmt.Errorf("%s: short export", m)
		}
		if i == 0 {
			first = e.ExportedSecret
		} else if !bytes.Equal(first, e.ExportedSecret) {
			return fmt.Errorf("%s disagrees with %s on the exported secret", m, members[0])
		}
	}
	return nil
}

// verify checks that the members agree on StateAuth and on an exported
// secret (under exporterAgreement, on the exported secret only).
func (p *player) verify(members []string) error {
	if p.exporterAgreement {
		return p.agree(members)
	}
	var auth, secret []byte
	for i, m := range members {
		a, err := p.c(m).StateAuth(rpcCtx(), &pb.StateAuthRequest{StateId: p.state[m]})
		if err != nil {
			return fmt.Errorf("StateAuth %s: %w", m, err)
		}
		e, err := p.c(m).Export(rpcCtx(), &pb.ExportRequest{StateId: p.state[m], Label: "interop", Context: []byte("ctx"), KeyLength: 32})
		if err != nil {
			return fmt.Errorf("Export %s: %w", m, err)
		}
		if len(a.StateAuthSecret) == 0 || len(e.ExportedSecret) != 32 {
			return fmt.Errorf("%s: empty state auth or short export", m)
		}
		if i == 0 {
			auth, secret = a.StateAuthSecret, e.ExportedSecret
		} else if !bytes.Equal(auth, a.StateAuthSecret) || !bytes.Equal(secret, e.ExportedSecret) {
			return fmt.Errorf("%s disagrees with %s on state auth or exported secret", m, members[0])
		}
	}
	return nil
}

// startServers starts n servers on ephemeral loopback ports.
func startServers(t testing.TB, n int) []pb.MLSClientClient {
	clients, _ := startServersWith(t, n)
	return clients
}

// startServersWith is startServers that also returns the servers.
func startServersWith(t testing.TB, n int) ([]pb.MLSClientClient, []*Server) {
	var out []pb.MLSClientClient
	var srvs []*Server
	for range n {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := NewServer()
		gs := grpc.NewServer()
		pb.RegisterMLSClientServer(gs, srv)
		go gs.Serve(lis)
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			conn.Close()
			gs.Stop()
			srv.Close()
		})
		out = append(out, pb.NewMLSClientClient(conn))
		srvs = append(srvs, srv)
	}
	return out, srvs
}

// rfcSuites are the cipher suites of RFC 9420.
var rfcSuites = []uint32{1, 2, 3, 4, 5, 6, 7}

func loadScenarios(t *testing.T) map[string][]step {
	data, err := os.ReadFile("testdata/scenarios.json")
	if err != nil {
		t.Fatal(err)
	}
	var scripts map[string][]step
	if err := json.Unmarshal(data, &scripts); err != nil {
		t.Fatal(err)
	}
	return scripts
}

// TestScenarios plays every script for every RFC suite, in both handshake
// modes, on two servers (the actors alternating between them, starting
// with either).
func TestScenarios(t *testing.T) {
	servers := startServers(t, 2)
	scripts := loadScenarios(t)
	for _, name := range slices.Sorted(maps.Keys(scripts)) {
		for _, suite := range rfcSuites {
			for i, encrypt := range []bool{true, false} {
				t.Run(fmt.Sprintf("%s/suite%d/encrypt=%v", name, suite, encrypt), func(t *testing.T) {
					newPlayer(t, servers, suite, encrypt, i).run(scripts[name])
				})
			}
		}
	}
}

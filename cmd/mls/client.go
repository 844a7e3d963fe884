package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/arbormls/mls"
)

const defaultSuite = "1" // MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519

func cmdInit(args []string, out io.Writer) error {
	c := newCommand("init", "--state DIR --identity NAME [--public-handshake]",
		"Create a client in DIR (made if missing) with a basic credential NAME.\n"+
			"Its signing key of each cipher suite is made when first needed.")
	state := c.stateFlag()
	name := c.fs.String("identity", "", "the basic credential's identity `name`")
	public := c.fs.Bool("public-handshake", false, "send proposals and commits as PublicMessages, readable by the Delivery Service")
	if err := c.parse(args, out, "state", "identity"); err != nil {
		return err
	}
	if *name == "" {
		return errors.New("init: --identity is empty")
	}
	cl, err := openState(*state, false)
	if err != nil {
		return err
	}
	defer cl.close()
	if cl.info.Name != "" {
		return fmt.Errorf("state folder %s already holds client %q", *state, cl.info.Name)
	}
	cl.info.Name = *name
	cl.info.PublicHandshake = *public
	if err := cl.saveInfo(); err != nil {
		return err
	}
	return writeJSON(out, map[string]string{"identity": *name, "state": *state})
}

func cmdKeyPackage(args []string, out io.Writer) error {
	c := newCommand("keypackage", "--state DIR [--suite N] [--last-resort] --out FILE",
		"Make a KeyPackage, keep it with its private keys in the state folder until a\n"+
			"Welcome uses it, and write it to FILE as an MLSMessage.")
	state := c.stateFlag()
	suiteFlag := c.fs.String("suite", defaultSuite, "cipher suite code `point`, decimal or 0x-hex")
	lastResort := c.fs.Bool("last-resort", false, "mark it last resort: it stays usable after a join")
	outFile := c.fs.String("out", "", "the KeyPackage `file`")
	if err := c.parse(args, out, "state", "out"); err != nil {
		return err
	}
	suite, err := parseSuite(*suiteFlag)
	if err != nil {
		return err
	}
	cl, id, err := openIdentity(*state, suite)
	if err != nil {
		return err
	}
	defer cl.close()
	b, err := mls.NewKeyPackage(id, &mls.KeyPackageOptions{LastResort: *lastResort})
	if err != nil {
		return err
	}
	var o outputs
	if err := o.addMessage(*outFile, &mls.MLSMessage{KeyPackage: b.KeyPackage}); err != nil {
		return err
	}
	if err := cl.store.PutKeyPackage(cl.ctx, b); err != nil {
		o.discard()
		return err
	}
	if err := o.commit(); err != nil {
		return err
	}
	return writeJSON(out, map[string]any{
		"key_package_ref": hex.EncodeToString(b.Ref()),
		"cipher_suite":    uint16(suite),
		"last_resort":     *lastResort,
	})
}

func cmdPSK(args []string, out io.Writer) error {
	c := newCommand("psk", "--state DIR --id HEX --secret HEX",
		"Store an external pre-shared key, for commits with --psk ID and for joining\n"+
			"or processing commits that inject it.")
	state := c.stateFlag()
	idHex := c.fs.String("id", "", "the psk_id, in `hex`")
	secretHex := c.fs.String("secret", "", "the PSK, in `hex`")
	if err := c.parse(args, out, "state", "id", "secret"); err != nil {
		return err
	}
	id, err := parseHex("id", *idHex)
	if err != nil {
		return err
	}
	secret, err := parseHex("secret", *secretHex)
	if err != nil {
		return err
	}
	if len(id) == 0 || len(secret) == 0 {
		return errors.New("psk: --id and --secret must not be empty")
	}
	cl, err := openState(*state, true)
	if err != nil {
		return err
	}
	defer cl.close()
	if err := cl.store.PutExternalPSK(cl.ctx, id, secret); err != nil {
		return err
	}
	return writeJSON(out, map[string]string{"psk_id": *idHex})
}

// groupJSON is the report of commands that end in a group's epoch.
type groupJSON struct {
	GroupID string `json:"group_id"`
	Epoch   uint64 `json:"epoch"`
	OwnLeaf uint32 `json:"own_leaf"`
}

func groupReport(g *mls.Group) groupJSON {
	return groupJSON{hex.EncodeToString(g.GroupID()), g.Epoch(), uint32(g.OwnLeaf())}
}

func cmdGroupCreate(args []string, out io.Writer) error {
	c := newCommand("group create", "--state DIR [--suite N] [--group-id HEX]",
		"Create a group, in epoch 0, whose only member is this client.")
	state := c.stateFlag()
	suiteFlag := c.fs.String("suite", defaultSuite, "cipher suite code `point`, decimal or 0x-hex")
	gidHex := c.fs.String("group-id", "", "the group ID in `hex` (default: 32 random bytes)")
	if err := c.parse(args, out, "state"); err != nil {
		return err
	}
	suite, err := parseSuite(*suiteFlag)
	if err != nil {
		return err
	}
	gid, err := parseHex("group-id", *gidHex)
	if err != nil {
		return err
	}
	cl, id, err := openIdentity(*state, suite)
	if err != nil {
		return err
	}
	defer cl.close()
	if len(gid) > 0 {
		if _, err := cl.store.GroupState(cl.ctx, gid); err == nil {
			return fmt.Errorf("state folder %s already holds group %s", *state, *gidHex)
		}
	}
	var opts mls.CreateOptions
	if len(gid) > 0 {
		opts.GroupID = gid
	}
	g, err := mls.CreateGroup(id, cl.config(), &opts)
	if err != nil {
		return err
	}
	if err := cl.saveAndWrite(g, &outputs{}); err != nil {
		return err
	}
	return writeJSON(out, groupReport(g))
}

// commitFlags are the flags shared by group add and group commit.
type commitFlags struct {
	state, group, commitOut, welcomeOut, treeOut, groupInfoOut *string
	add, remove, psk                                           listFlag
	update                                                     *bool
}

func (f *commitFlags) define(c *command, addFlag string) {
	f.state = c.stateFlag()
	f.group = c.groupFlag()
	c.fs.Var(&f.add, addFlag, "add the owner of this KeyPackage `file` (repeatable)")
	f.commitOut = c.fs.String("commit-out", "", "where to write the commit `file`")
	f.welcomeOut = c.fs.String("welcome-out", "", "where to write the Welcome `file` for added members")
	f.treeOut = c.fs.String("tree-out", "", "write the ratchet tree to this `file` and leave it out of the Welcome")
	f.groupInfoOut = c.fs.String("group-info-out", "", "also write the new epoch's GroupInfo (for external joins) to this `file`")
}

func cmdGroupAdd(args []string, out io.Writer) error {
	c := newCommand("group add", "--state DIR --group HEX --key-package FILE [--key-package FILE ...] --commit-out FILE --welcome-out FILE [--tree-out FILE]",
		"Commit adding the owners of the KeyPackages. Without --tree-out the ratchet\n"+
			"tree travels in the Welcome. The commit is merged at once: send it to the\n"+
			"other members and do not process it here.")
	var f commitFlags
	f.define(c, "key-package")
	if err := c.parse(args, out, "state", "group", "key-package", "commit-out", "welcome-out"); err != nil {
		return err
	}
	return runCommit(&f, out)
}

func cmdGroupCommit(args []string, out io.Writer) error {
	c := newCommand("group commit", "--state DIR --group HEX [--update] [--remove LEAF ...] [--add FILE ...] [--psk ID ...] --commit-out FILE [--welcome-out FILE]",
		"Commit the proposals received in the epoch and those the flags ask for; with\n"+
			"only --update (or nothing), an empty commit with a path. The commit is merged\n"+
			"at once: send it to the other members and do not process it here.")
	var f commitFlags
	f.define(c, "add")
	f.update = c.fs.Bool("update", false, "refresh this client's leaf and path")
	c.fs.Var(&f.remove, "remove", "remove the member at this `leaf` index (repeatable)")
	c.fs.Var(&f.psk, "psk", "inject the external PSK with this `id` in hex (repeatable; see mls psk)")
	if err := c.parse(args, out, "state", "group", "commit-out"); err != nil {
		return err
	}
	return runCommit(&f, out)
}

func runCommit(f *commitFlags, out io.Writer) error {
	var opts mls.CommitOptions
	if f.update != nil {
		opts.Update = *f.update
	}
	for _, path := range f.add {
		m, err := readMessage(path, mls.WireFormatKeyPackage)
		if err != nil {
			return err
		}
		opts.Add = append(opts.Add, m.KeyPackage)
	}
	if len(opts.Add) > 0 && *f.welcomeOut == "" {
		return errors.New("the commit adds members: --welcome-out is required")
	}
	for _, s := range f.remove {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return fmt.Errorf("--remove: not a leaf index: %q", s)
		}
		opts.Remove = append(opts.Remove, mls.LeafIndex(n))
	}
	for _, s := range f.psk {
		id, err := parseHex("psk", s)
		if err != nil {
			return err
		}
		opts.PSKs = append(opts.PSKs, mls.PreSharedKeyID{PSKType: mls.PSKTypeExternal, PSKID: id})
	}
	opts.RatchetTreeOutOfBand = *f.treeOut != ""
	opts.GroupInfo = *f.groupInfoOut != ""

	cl, g, err := openGroup(*f.state, *f.group)
	if err != nil {
		return err
	}
	defer cl.close()
	pc, err := g.Commit(opts)
	if err != nil {
		return err
	}
	if pc.Welcome != nil && *f.welcomeOut == "" {
		// Proposals received earlier add members: their Welcome must go
		// somewhere. Nothing is saved, so the state is unchanged.
		return errors.New("the commit adds members (proposed earlier): --welcome-out is required")
	}
	// The tool plays a client whose Delivery Service accepted the commit:
	// it merges at once.
	change, err := g.MergePendingCommit()
	if err != nil {
		return err
	}
	var o outputs
	err = o.addMessage(*f.commitOut, pc.Commit)
	if err == nil && pc.Welcome != nil {
		err = o.addMessage(*f.welcomeOut, pc.Welcome)
	}
	if err == nil && *f.treeOut != "" {
		err = o.addMessage(*f.treeOut, g.RatchetTree())
	}
	if err == nil && *f.groupInfoOut != "" {
		err = o.addMessage(*f.groupInfoOut, pc.GroupInfo)
	}
	if err != nil {
		o.discard()
		return err
	}
	if err := cl.saveAndWrite(g, &o); err != nil {
		return err
	}
	return writeJSON(out, epochChangeReport(g, change))
}

func cmdGroupPropose(args []string, out io.Writer) error {
	c := newCommand("group propose", "--state DIR --group HEX (--add FILE | --remove LEAF | --update | --psk ID) --out FILE",
		"Send one proposal. The next commit of any member may include it; this\n"+
			"client's next commit does.")
	state := c.stateFlag()
	group := c.groupFlag()
	add := c.fs.String("add", "", "propose to add the owner of this KeyPackage `file`")
	remove := c.fs.String("remove", "", "propose to remove the member at this `leaf` index")
	update := c.fs.Bool("update", false, "propose to refresh this client's leaf")
	psk := c.fs.String("psk", "", "propose to inject the external PSK with this `id` in hex")
	outFile := c.fs.String("out", "", "where to write the proposal `file`")
	if err := c.parse(args, out, "state", "group", "out"); err != nil {
		return err
	}
	n := 0
	for _, given := range []bool{*add != "", *remove != "", *update, *psk != ""} {
		if given {
			n++
		}
	}
	if n != 1 {
		return errors.New("group propose: give exactly one of --add, --remove, --update, --psk")
	}
	var kp *mls.KeyPackage
	if *add != "" {
		m, err := readMessage(*add, mls.WireFormatKeyPackage)
		if err != nil {
			return err
		}
		kp = m.KeyPackage
	}
	var leaf uint64
	if *remove != "" {
		var err error
		if leaf, err = strconv.ParseUint(*remove, 10, 32); err != nil {
			return fmt.Errorf("--remove: not a leaf index: %q", *remove)
		}
	}
	pskID, err := parseHex("psk", *psk)
	if err != nil {
		return err
	}
	cl, g, err := openGroup(*state, *group)
	if err != nil {
		return err
	}
	defer cl.close()
	var m *mls.MLSMessage
	switch {
	case kp != nil:
		m, err = g.ProposeAdd(kp)
	case *remove != "":
		m, err = g.ProposeRemove(mls.LeafIndex(leaf))
	case *update:
		m, err = g.ProposeUpdate()
	default:
		m, err = g.ProposePSK(mls.PreSharedKeyID{PSKType: mls.PSKTypeExternal, PSKID: pskID})
	}
	if err != nil {
		return err
	}
	var o outputs
	if err := o.addMessage(*outFile, m); err != nil {
		return err
	}
	if err := cl.saveAndWrite(g, &o); err != nil {
		return err
	}
	return writeJSON(out, map[string]any{"group_id": *group, "epoch": g.Epoch()})
}

func cmdGroupLeave(args []string, out io.Writer) error {
	c := newCommand("group leave", "--state DIR --group HEX --out FILE",
		"Propose this client's own removal with a SelfRemove proposal (draft-ietf-mls-\n"+
			"extensions), always a PublicMessage. Any other member's next commit (mls group\n"+
			"commit) removes this client without its help; processing that commit reports\n"+
			"removed_self. Every member must support SelfRemove.")
	state := c.stateFlag()
	group := c.groupFlag()
	outFile := c.fs.String("out", "", "where to write the proposal `file`")
	if err := c.parse(args, out, "state", "group", "out"); err != nil {
		return err
	}
	cl, g, err := openGroup(*state, *group)
	if err != nil {
		return err
	}
	defer cl.close()
	m, err := g.Leave()
	if err != nil {
		return err
	}
	var o outputs
	if err := o.addMessage(*outFile, m); err != nil {
		return err
	}
	if err := cl.saveAndWrite(g, &o); err != nil {
		return err
	}
	return writeJSON(out, map[string]any{"group_id": *group, "epoch": g.Epoch()})
}

// changeJSON reports a new epoch.
type changeJSON struct {
	GroupID     string       `json:"group_id"`
	Epoch       uint64       `json:"epoch"`
	Committer   uint32       `json:"committer"`
	Added       []memberJSON `json:"added"`
	Removed     []memberJSON `json:"removed"`
	Updated     []memberJSON `json:"updated"`
	RemovedSelf bool         `json:"removed_self"`
	PSKs        []string     `json:"psks,omitempty"`
	ReInit      bool         `json:"reinit,omitempty"`
}

func epochChangeReport(g *mls.Group, ch *mls.EpochChange) changeJSON {
	r := changeJSON{
		GroupID:     hex.EncodeToString(g.GroupID()),
		Epoch:       ch.Epoch,
		Committer:   uint32(ch.CommitterLeaf),
		Added:       membersJSON(ch.Added),
		Removed:     membersJSON(ch.Removed),
		Updated:     membersJSON(ch.Updated),
		RemovedSelf: ch.RemovedSelf,
		ReInit:      ch.ReInit != nil,
	}
	for _, p := range ch.PSKs {
		if p.PSKType == mls.PSKTypeExternal {
			r.PSKs = append(r.PSKs, hex.EncodeToString(p.PSKID))
		} else {
			r.PSKs = append(r.PSKs, fmt.Sprintf("resumption:%x:%d", p.PSKGroupID, p.PSKEpoch))
		}
	}
	return r
}

func cmdGroupJoin(args []string, out io.Writer) error {
	c := newCommand("group join", "--state DIR --welcome FILE [--tree FILE]",
		"Join a group from a Welcome sent for one of this client's KeyPackages.\n"+
			"--tree gives the ratchet tree when the Welcome does not carry it.")
	state := c.stateFlag()
	welcomeFile := c.fs.String("welcome", "", "the Welcome `file`")
	treeFile := c.fs.String("tree", "", "the ratchet tree `file`")
	if err := c.parse(args, out, "state", "welcome"); err != nil {
		return err
	}
	tree, err := readTree(*treeFile)
	if err != nil {
		return err
	}
	w, err := readMessage(*welcomeFile, mls.WireFormatWelcome)
	if err != nil {
		return err
	}
	cl, err := openState(*state, true)
	if err != nil {
		return err
	}
	defer cl.close()
	g, err := cl.joinWelcome(w, tree)
	if err != nil {
		return err
	}
	return writeJSON(out, groupReport(g))
}

// joinWelcome joins the group of the Welcome w with the KeyPackage of this
// client it was sent for (and tree, when the Welcome does not carry the
// ratchet tree), saves the group, and only then uses the KeyPackage up
// (RFC 9420 section 16.8), so that a crash cannot lose both.
func (cl *client) joinWelcome(w *mls.MLSMessage, tree mls.TreeNodes) (*mls.Group, error) {
	return cl.joinWelcomeWith(w, &mls.JoinOptions{RatchetTree: tree})
}

// joinWelcomeWith is joinWelcome with the join options opts, such as a
// RatchetTreeFunc that fetches the tree from the Delivery Service.
func (cl *client) joinWelcomeWith(w *mls.MLSMessage, opts *mls.JoinOptions) (*mls.Group, error) {
	var bundle *mls.KeyPackageBundle
	for _, s := range w.Welcome.Secrets {
		b, err := cl.store.KeyPackage(cl.ctx, s.NewMember)
		if err == nil {
			bundle = b
			break
		}
		if !errors.Is(err, mls.ErrNotFound) {
			return nil, err
		}
	}
	if bundle == nil {
		return nil, errors.New("the Welcome is for none of this client's KeyPackages")
	}
	id, err := cl.identity(bundle.KeyPackage.CipherSuite)
	if err != nil {
		return nil, err
	}
	g, err := mls.Join(id, w, bundle, cl.config(), opts)
	if err != nil {
		return nil, err
	}
	if err := cl.refuseActive(g.GroupID(), g.Epoch()); err != nil {
		return nil, err
	}
	if err := cl.saveAndWrite(g, &outputs{}); err != nil {
		return nil, err
	}
	// Only a successful join uses the KeyPackage up; TakeKeyPackage keeps a
	// last-resort one.
	if _, err := cl.store.TakeKeyPackage(cl.ctx, bundle.Ref()); err != nil {
		return nil, err
	}
	return g, nil
}

// refuseActive fails if the state folder holds an active group gid:
// joining again would overwrite it. The state of a group this client was
// removed from may be replaced by a join into a later epoch, but not by
// one into that epoch or an earlier one: that is an old Welcome replayed
// (a last-resort KeyPackage opens it again at any time), which would wind
// the group back.
func (cl *client) refuseActive(gid []byte, epoch uint64) error {
	old, err := mls.LoadGroupFromStore(cl.ctx, cl.store, gid, cl.config())
	if errors.Is(err, mls.ErrNotFound) {
		return nil
	}
	if err == nil && !old.Active() {
		if epoch <= old.Epoch() {
			return fmt.Errorf("refusing to join group %x at epoch %d: this client left it at epoch %d (an old Welcome?)", gid, epoch, old.Epoch())
		}
		return nil
	}
	return fmt.Errorf("state folder %s already holds group %x", cl.dir, gid)
}

func cmdGroupExternalJoin(args []string, out io.Writer) error {
	c := newCommand("group external-join", "--state DIR --group-info FILE [--tree FILE] --commit-out FILE",
		"Join a group by external commit from a GroupInfo with external_pub (see\n"+
			"mls group info --out). The commit is merged at once: send it to the members.")
	state := c.stateFlag()
	giFile := c.fs.String("group-info", "", "the GroupInfo `file`")
	treeFile := c.fs.String("tree", "", "the ratchet tree `file`, when the GroupInfo does not carry it")
	commitOut := c.fs.String("commit-out", "", "where to write the external commit `file`")
	if err := c.parse(args, out, "state", "group-info", "commit-out"); err != nil {
		return err
	}
	gi, err := readMessage(*giFile, mls.WireFormatGroupInfo)
	if err != nil {
		return err
	}
	tree, err := readTree(*treeFile)
	if err != nil {
		return err
	}
	cl, id, err := openIdentity(*state, gi.GroupInfo.GroupContext.CipherSuite)
	if err != nil {
		return err
	}
	defer cl.close()
	g, commit, err := mls.JoinExternal(gi, id, cl.config(), &mls.ExternalJoinOptions{RatchetTree: tree})
	if err != nil {
		return err
	}
	if err := cl.refuseActive(g.GroupID(), g.Epoch()); err != nil {
		return err
	}
	var o outputs
	if err := o.addMessage(*commitOut, commit); err != nil {
		return err
	}
	if err := cl.saveAndWrite(g, &o); err != nil {
		return err
	}
	return writeJSON(out, groupReport(g))
}

// processJSON reports a processed message.
type processJSON struct {
	Kind   string `json:"kind"`
	Epoch  uint64 `json:"epoch"`
	Sender string `json:"sender"`
	// SenderLeaf and SenderIdentity name a member sender.
	SenderLeaf     *uint32 `json:"sender_leaf,omitempty"`
	SenderIdentity string  `json:"sender_identity,omitempty"`
	// Proposal.
	ProposalType string `json:"proposal_type,omitempty"`
	ProposalRef  string `json:"proposal_ref,omitempty"`
	// Commit.
	NewEpoch *changeJSON `json:"new_epoch,omitempty"`
	// Application message.
	Data string `json:"data_hex,omitempty"`
}

func cmdGroupProcess(args []string, out io.Writer) error {
	c := newCommand("group process", "--state DIR --group HEX --in FILE",
		"Process a commit or proposal of another member (or an external commit) and\n"+
			"report what changed. An application message is accepted too (see mls recv).")
	state := c.stateFlag()
	group := c.groupFlag()
	in := c.fs.String("in", "", "the message `file`")
	if err := c.parse(args, out, "state", "group", "in"); err != nil {
		return err
	}
	r, g, err := receive(*state, *group, *in, nil)
	if err != nil {
		return err
	}
	rep := processJSON{Kind: r.Kind.String(), Epoch: r.Epoch, Sender: r.Sender.SenderType.String()}
	if r.Member != nil {
		leaf := uint32(r.Member.Leaf)
		rep.SenderLeaf = &leaf
		rep.SenderIdentity = credentialName(&r.Member.Credential)
	}
	switch r.Kind {
	case mls.KindProposal:
		rep.ProposalType = r.Proposal.Type().String()
		rep.ProposalRef = hex.EncodeToString(r.ProposalRef)
	case mls.KindCommit:
		ch := epochChangeReport(g, r.NewEpoch)
		rep.NewEpoch = &ch
	case mls.KindApplication:
		rep.Data = hex.EncodeToString(r.Data)
	}
	return writeJSON(out, rep)
}

// receive processes the message in file in the group and saves the group,
// unless accept rejects what it was.
func receive(state, group, file string, accept func(*mls.Received) error) (*mls.Received, *mls.Group, error) {
	m, err := readMessage(file, mls.WireFormatPublicMessage, mls.WireFormatPrivateMessage)
	if err != nil {
		return nil, nil, err
	}
	cl, g, err := openGroup(state, group)
	if err != nil {
		return nil, nil, err
	}
	defer cl.close()
	r, err := g.Process(m)
	if err != nil {
		return nil, nil, err
	}
	if accept != nil {
		if err := accept(r); err != nil {
			return nil, nil, err
		}
	}
	if err := cl.saveAndWrite(g, &outputs{}); err != nil {
		return nil, nil, err
	}
	return r, g, nil
}

func cmdGroupInfo(args []string, out io.Writer) error {
	c := newCommand("group info", "--state DIR --group HEX [--out FILE] [--tree-out FILE]",
		"Report the group's state. --out also writes a signed GroupInfo with\n"+
			"external_pub (and the ratchet tree, unless --tree-out writes it apart) for\n"+
			"an external join.")
	state := c.stateFlag()
	group := c.groupFlag()
	outFile := c.fs.String("out", "", "where to write the GroupInfo `file`")
	treeOut := c.fs.String("tree-out", "", "where to write the ratchet tree `file`")
	if err := c.parse(args, out, "state", "group"); err != nil {
		return err
	}
	cl, g, err := openGroup(*state, *group)
	if err != nil {
		return err
	}
	defer cl.close()
	var o outputs
	if *outFile != "" {
		gi, err := g.GroupInfo(&mls.GroupInfoOptions{RatchetTreeOutOfBand: *treeOut != ""})
		if err == nil {
			err = o.addMessage(*outFile, gi)
		}
		if err != nil {
			return err
		}
	}
	if *treeOut != "" {
		if err := o.addMessage(*treeOut, g.RatchetTree()); err != nil {
			o.discard()
			return err
		}
	}
	if err := o.commit(); err != nil {
		return err
	}
	suite := g.CipherSuite()
	return writeJSON(out, map[string]any{
		"group_id":            hex.EncodeToString(g.GroupID()),
		"epoch":               g.Epoch(),
		"cipher_suite":        uint16(suite),
		"cipher_suite_name":   suite.String(),
		"own_leaf":            uint32(g.OwnLeaf()),
		"active":              g.Active(),
		"members":             membersJSON(g.Members()),
		"epoch_authenticator": hex.EncodeToString(g.EpochAuthenticator()),
		"tree_hash":           hex.EncodeToString(g.TreeHash()),
	})
}

func cmdGroupExport(args []string, out io.Writer) error {
	c := newCommand("group export", "--state DIR --group HEX --label STR [--context HEX] --length N",
		"Print MLS-Exporter(label, context, length) of the current epoch in hex\n"+
			"(RFC 9420 section 8.5): {\"exported_secret\": HEX}.")
	state := c.stateFlag()
	group := c.groupFlag()
	label := c.fs.String("label", "", "the exporter `label`")
	ctxHex := c.fs.String("context", "", "the exporter `context` in hex")
	length := c.fs.Int("length", 0, "the `length` in bytes")
	if err := c.parse(args, out, "state", "group", "label", "length"); err != nil {
		return err
	}
	context, err := parseHex("context", *ctxHex)
	if err != nil {
		return err
	}
	if *length <= 0 || *length > 0xffff {
		return fmt.Errorf("--length: must be 1 to 65535, not %d", *length)
	}
	cl, g, err := openGroup(*state, *group)
	if err != nil {
		return err
	}
	defer cl.close()
	secret, err := g.Export(*label, context, *length)
	if err != nil {
		return err
	}
	return writeJSON(out, map[string]string{"exported_secret": hex.EncodeToString(secret)})
}

func cmdSend(args []string, out io.Writer) error {
	c := newCommand("send", "--state DIR --group HEX (--text STR | --in FILE) --out FILE",
		"Encrypt an application message for the group into a PrivateMessage.")
	state := c.stateFlag()
	group := c.groupFlag()
	text := c.fs.String("text", "", "the message `text`")
	in := c.fs.String("in", "", "read the message from this `file`")
	outFile := c.fs.String("out", "", "where to write the message `file`")
	if err := c.parse(args, out, "state", "group", "out"); err != nil {
		return err
	}
	var data []byte
	switch {
	case *in != "" && *text != "":
		return errors.New("send: give --text or --in, not both")
	case *in != "":
		var err error
		if data, err = readInput(*in); err != nil {
			return err
		}
	default:
		data = []byte(*text)
	}
	cl, g, err := openGroup(*state, *group)
	if err != nil {
		return err
	}
	defer cl.close()
	m, err := g.Send(data)
	if err != nil {
		return err
	}
	var o outputs
	if err := o.addMessage(*outFile, m); err != nil {
		return err
	}
	if err := cl.saveAndWrite(g, &o); err != nil {
		return err
	}
	return writeJSON(out, map[string]any{"group_id": *group, "epoch": g.Epoch(), "bytes": len(data)})
}

func cmdRecv(args []string, out io.Writer) error {
	c := newCommand("recv", "--state DIR --group HEX --in FILE",
		"Decrypt an application message and write its plaintext to standard output.")
	state := c.stateFlag()
	group := c.groupFlag()
	in := c.fs.String("in", "", "the message `file`")
	if err := c.parse(args, out, "state", "group", "in"); err != nil {
		return err
	}
	r, _, err := receive(*state, *group, *in, func(r *mls.Received) error {
		if r.Kind != mls.KindApplication {
			return fmt.Errorf("%s holds a %v, not an application message (use mls group process)", *in, r.Kind)
		}
		return nil
	})
	if err != nil {
		return err
	}
	_, err = out.Write(r.Data)
	return err
}

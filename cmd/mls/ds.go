package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/dirstore"
	"github.com/arbormls/mls/dsclient"
)

const dsUsage = `usage: mls ds SUBCOMMAND --state DIR ...

Client commands through an mlsd Delivery Service (see ds/README.md). The
server's URL is given once, to register, and kept in the state folder.
Groups are named: a group's ID is the bytes of its NAME.

subcommands:
  register  --server URL --user NAME [--vouch-state DIR]
                                       register this client (made if missing); a
                                       user's later device needs DIR, the state
                                       folder of a registered device of the user
  publish   [--count N]                publish N KeyPackages and a last-resort one
  create    --group NAME               create a group and claim its name at the server
  invite    --group NAME USER...       add every client of each USER
  send      --group NAME TEXT...       send a message
  leave     --group NAME               propose this client's removal (SelfRemove);
                                       the next member to commit removes it
  sync      [--wait DURATION]          process the inbox; report what happened (JSON)
  chat      --group NAME               live chat (same as mls chat)

Run "mls ds SUBCOMMAND --help" for its flags.
`

var dsCommands = map[string]func(args []string, out io.Writer) error{
	"register": cmdDSRegister,
	"publish":  cmdDSPublish,
	"create":   cmdDSCreate,
	"invite":   cmdDSInvite,
	"send":     cmdDSSend,
	"leave":    cmdDSLeave,
	"sync":     cmdDSSync,
	"chat":     cmdChat,
}

func cmdDS(args []string, out io.Writer) error {
	return dispatch("ds", dsUsage, dsCommands, args, out)
}

// serverInfo is what the client file keeps of its Delivery Service.
type serverInfo struct {
	URL      string `json:"url"`
	ClientID string `json:"client_id"`
	User     string `json:"user"`
	Suite    uint16 `json:"suite"`
	// Registered is set once the server accepted the registration.
	Registered bool `json:"registered"`
	// Seq is the sequence number of the last inbox message processed:
	// the next inbox read asks for what follows it.
	Seq uint64 `json:"seq"`
}

// Timeouts of the requests of one-shot commands and of chat's sends; a
// long poll adds its wait.
const (
	requestTimeout = 30 * time.Second
	chatWait       = 30 * time.Second
)

// session is an open state folder with its Delivery Service.
type session struct {
	cl  *client
	id  *mls.Identity
	srv *serverInfo
	ds  *dsclient.Client
	// groups caches the groups loaded, so that every step works on the
	// one in-memory state that is saved.
	groups map[string]*mls.Group
	// cursor mirrors srv.Seq for chat's poller goroutine.
	cursor atomic.Uint64
}

// openSession opens the state folder of a registered client.
func openSession(dir string) (*session, error) {
	cl, err := openState(dir, true)
	if err != nil {
		return nil, err
	}
	srv := cl.info.Server
	if srv == nil || !srv.Registered {
		cl.close()
		return nil, fmt.Errorf("the client in %s is not registered with a server (run mls ds register)", dir)
	}
	s, err := newSession(cl, srv)
	if err != nil {
		cl.close()
		return nil, err
	}
	return s, nil
}

func newSession(cl *client, srv *serverInfo) (*session, error) {
	id, err := cl.identity(ciphersuite.ID(srv.Suite))
	if err != nil {
		return nil, err
	}
	c, err := dsclient.New(srv.URL, srv.ClientID, id.SigningKey)
	if err != nil {
		return nil, err
	}
	s := &session{cl: cl, id: id, srv: srv, ds: c, groups: map[string]*mls.Group{}}
	s.cursor.Store(srv.Seq)
	return s, nil
}

func (s *session) close() { s.cl.close() }

// groupID checks a group name and returns the group ID it stands for: its
// bytes. Names are printable text so that they show as they are.
func groupID(name string) ([]byte, error) {
	if name == "" || len(name) > dirstoreMaxID {
		return nil, fmt.Errorf("--group: a group name is 1 to %d bytes", dirstoreMaxID)
	}
	for _, r := range name {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return nil, fmt.Errorf("--group: %q is not printable text", name)
		}
	}
	return []byte(name), nil
}

// openGroupSession checks the group name and opens the session of the
// state folder: the start of every command on a named group.
func openGroupSession(state, name string) (*session, []byte, error) {
	gid, err := groupID(name)
	if err != nil {
		return nil, nil, err
	}
	s, err := openSession(state)
	if err != nil {
		return nil, nil, err
	}
	return s, gid, nil
}

// dirstoreMaxID is the longest group ID a state folder holds, which is
// also the longest mlsd serves (dsclient.MaxGroupIDLen; a test checks
// they agree).
const dirstoreMaxID = dirstore.MaxIDLen

// group returns the group gid, loaded once; nil if the state folder does
// not hold it.
func (s *session) group(gid []byte) (*mls.Group, error) {
	if g, ok := s.groups[string(gid)]; ok {
		return g, nil
	}
	g, err := mls.LoadGroupFromStore(s.cl.ctx, s.cl.store, gid, s.cl.config())
	if errors.Is(err, mls.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s.groups[string(gid)] = g
	return g, nil
}

// mustGroup is group for commands that need the group.
func (s *session) mustGroup(gid []byte) (*mls.Group, error) {
	g, err := s.group(gid)
	if err == nil && g == nil {
		err = fmt.Errorf("no group %q in state folder %s (create it, or run mls ds sync once invited)", gid, s.cl.dir)
	}
	return g, err
}

func (s *session) save(g *mls.Group) error { return g.Save(s.cl.ctx, s.cl.store) }

// setSeq records that the inbox message seq is processed, once the state
// it led to is saved.
func (s *session) setSeq(seq uint64) error {
	s.srv.Seq = seq
	s.cursor.Store(seq)
	return s.cl.saveInfo()
}

func cmdDSRegister(args []string, out io.Writer) error {
	c := newCommand("ds register", "--state DIR --server URL --user NAME [--vouch-state DIR] [--suite N]",
		"Register this client with the Delivery Service at URL under the user NAME,\n"+
			"making the client (identity NAME) if DIR holds none. The URL is kept in DIR\n"+
			"for the other mls ds commands. Running it again does nothing.\n"+
			"The first client of a user registers alone; another device of the user must\n"+
			"be vouched for by one already registered: --vouch-state names its state folder.")
	state := c.stateFlag()
	url := c.fs.String("server", "", "the Delivery Service's `URL`, e.g. http://127.0.0.1:7420")
	user := c.fs.String("user", "", "the user `name` others invite")
	vouchState := c.fs.String("vouch-state", "", "state folder `DIR` of a registered client of the same user, which vouches for this one")
	suiteFlag := c.fs.String("suite", defaultSuite, "cipher suite code `point` of the client's key, decimal or 0x-hex")
	private := c.fs.Bool("private-handshakes", false, "a new client sends its proposals and commits as PrivateMessages, for servers run with --allow-unverified-groups")
	if err := c.parse(args, out, "state", "server", "user"); err != nil {
		return err
	}
	if *user == "" || len(*user) > 256 || strings.ContainsAny(*user, "/?#") {
		return errors.New("ds register: --user must be 1 to 256 bytes without /, ? or #")
	}
	suite, err := parseSuite(*suiteFlag)
	if err != nil {
		return err
	}
	cl, err := openState(*state, false)
	if err != nil {
		return err
	}
	defer cl.close()
	switch cl.info.Name {
	case "":
		cl.info.Name = *user
		// mlsd verifies every group it serves (ds/README.md, "Delivery
		// Service modes"), which needs PublicMessage handshakes.
		cl.info.PublicHandshake = !*private
		if err := cl.saveInfo(); err != nil {
			return err
		}
	case *user:
	default:
		// Members see the credential's identity; it must be the user name
		// the server vouches for, or invitations would be refused.
		return fmt.Errorf("state folder %s holds client %q, not %q", *state, cl.info.Name, *user)
	}
	srv := cl.info.Server
	if srv != nil && (srv.URL != *url || srv.User != *user || srv.Suite != uint16(suite)) {
		if srv.Registered {
			return fmt.Errorf("state folder %s is registered with %s as %q (suite %d) already", *state, srv.URL, srv.User, srv.Suite)
		}
		// An attempt that did not complete, with other flags (a mistyped
		// URL, say): start again.
		srv = nil
	}
	if srv == nil {
		// Checked before anything is recorded.
		id, err := cl.identity(suite)
		if err != nil {
			return err
		}
		srv = &serverInfo{URL: *url, ClientID: *user + "-" + strings.ToLower(rand.Text()[:12]), User: *user, Suite: uint16(suite)}
		if _, err := dsclient.New(srv.URL, srv.ClientID, id.SigningKey); err != nil {
			return err
		}
		// The ID is saved before the request: if the answer is lost, the
		// next attempt sends the same ID and key, and a 409 then means
		// this client is registered.
		cl.info.Server = srv
		if err := cl.saveInfo(); err != nil {
			return err
		}
	}
	if !srv.Registered {
		s, err := newSession(cl, srv)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		if *vouchState == "" {
			err = s.ds.Register(ctx, *user)
		} else {
			err = registerVouched(ctx, s, *vouchState, *url, *user)
		}
		var herr *dsclient.Error
		if errors.As(err, &herr) && herr.Status == http.StatusForbidden && *vouchState == "" {
			return fmt.Errorf("%w (user %q has clients: register with --vouch-state DIR, the state folder of one of them)", err, *user)
		}
		if errors.As(err, &herr) && herr.Status == http.StatusConflict {
			// Taken: by this client's own earlier attempt if a signed
			// request under the ID goes through.
			if _, cerr := s.ds.CountKeyPackages(ctx); cerr == nil {
				err = nil
			}
		}
		if err != nil {
			return err
		}
		srv.Registered = true
		if err := cl.saveInfo(); err != nil {
			return err
		}
	}
	return writeJSON(out, map[string]any{"server": srv.URL, "user": srv.User, "client_id": srv.ClientID, "cipher_suite": srv.Suite})
}

// registerVouched registers the client of s as a device of user, vouched
// for by the registered client of the state folder dir: a client of the
// same user at the same server.
func registerVouched(ctx context.Context, s *session, dir, url, user string) error {
	if filepath.Clean(dir) == filepath.Clean(s.cl.dir) {
		return errors.New("ds register: --vouch-state must be another client's state folder")
	}
	v, err := openSession(dir)
	if err != nil {
		return fmt.Errorf("--vouch-state: %w", err)
	}
	defer v.close()
	if v.srv.URL != url || v.srv.User != user {
		return fmt.Errorf("--vouch-state: the client in %s is registered with %s as %q, not with %s as %q", dir, v.srv.URL, v.srv.User, url, user)
	}
	return s.ds.RegisterDevice(ctx, user, v.srv.ClientID, v.id.SigningKey)
}

func cmdDSPublish(args []string, out io.Writer) error {
	c := newCommand("ds publish", "--state DIR [--count N]",
		"Make N KeyPackages and one last-resort KeyPackage (used when the others are\n"+
			"gone), keep their private keys in DIR, and publish them. Prints how many\n"+
			"unclaimed ones the server holds, last-resort ones excluded.")
	state := c.stateFlag()
	n := c.fs.Int("count", 5, "how many ordinary KeyPackages")
	if err := c.parse(args, out, "state"); err != nil {
		return err
	}
	if *n < 0 || *n > 500 {
		return fmt.Errorf("ds publish: --count must be 0 to 500, not %d", *n)
	}
	s, err := openSession(*state)
	if err != nil {
		return err
	}
	defer s.close()
	var kps []*mls.KeyPackage
	for i := range *n + 1 {
		b, err := mls.NewKeyPackage(s.id, &mls.KeyPackageOptions{LastResort: i == *n})
		if err != nil {
			return err
		}
		// Kept before publishing, so that a Welcome for any published one
		// finds its private keys.
		if err := s.cl.store.PutKeyPackage(s.cl.ctx, b); err != nil {
			return err
		}
		kps = append(kps, b.KeyPackage)
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	count, err := s.ds.PublishKeyPackages(ctx, kps)
	if err != nil {
		return err
	}
	return writeJSON(out, map[string]int{"published": len(kps), "count": count})
}

func cmdDSCreate(args []string, out io.Writer) error {
	c := newCommand("ds create", "--state DIR --group NAME",
		"Create the group NAME with this client as its only member, and commit once\n"+
			"so that the server knows it: a name another client took is refused.")
	state := c.stateFlag()
	name := c.groupNameFlag()
	if err := c.parse(args, out, "state", "group"); err != nil {
		return err
	}
	s, gid, err := openGroupSession(*state, *name)
	if err != nil {
		return err
	}
	defer s.close()
	if g, err := s.group(gid); err != nil {
		return err
	} else if g != nil {
		return fmt.Errorf("state folder %s already holds group %q", *state, *name)
	}
	g, err := mls.CreateGroup(s.id, s.cl.config(), &mls.CreateOptions{GroupID: gid})
	if err != nil {
		return err
	}
	s.groups[string(gid)] = g
	if err := s.save(g); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	_, _, err = s.commit(ctx, g, mls.CommitOptions{}, false)
	var conflict *dsclient.ConflictError
	if errors.As(err, &conflict) {
		// Epoch 0 of a group the server knows: someone else's.
		if derr := s.cl.store.DeleteGroupState(s.cl.ctx, gid); derr != nil {
			return derr
		}
		return fmt.Errorf("a group named %q exists at the server already", *name)
	}
	if err != nil {
		return err
	}
	return writeJSON(out, map[string]any{"group": *name, "epoch": g.Epoch()})
}

func cmdDSInvite(args []string, out io.Writer) error {
	c := newCommand("ds invite", "--state DIR --group NAME USER...",
		"Add every client of each USER: claim one KeyPackage per client, commit the\n"+
			"additions and submit the commit with the Welcome and the GroupInfo. The\n"+
			"commit is merged once the server accepts it; if another member's commit\n"+
			"won the epoch, the inbox is processed (reported as events) and the\n"+
			"commit made again, once.")
	c.takesArgs = true
	state := c.stateFlag()
	name := c.groupNameFlag()
	if err := c.parse(args, out, "state", "group"); err != nil {
		return err
	}
	if len(c.pos) == 0 {
		return errors.New("ds invite: no USER to invite")
	}
	s, gid, err := openGroupSession(*state, *name)
	if err != nil {
		return err
	}
	defer s.close()
	g, err := s.mustGroup(gid)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*requestTimeout)
	defer cancel()
	var adds []*mls.KeyPackage
	for _, user := range c.pos {
		kps, err := s.claim(ctx, g, user)
		if err != nil {
			return err
		}
		adds = append(adds, kps...)
	}
	if len(adds) == 0 {
		return errors.New("ds invite: every client of these users is in the group already")
	}
	ch, events, err := s.commit(ctx, g, mls.CommitOptions{Add: adds}, true)
	if err != nil {
		return err
	}
	return writeJSON(out, map[string]any{"group": *name, "epoch": ch.Epoch, "added": names(ch.Added), "events": nonNil(events)})
}

// claim claims a KeyPackage of each client of user, but this one, and
// checks that each is of the group's suite and names user in a basic
// credential: members see that name, so a client of one user must not
// pass for another. Clients already in the group are left out.
func (s *session) claim(ctx context.Context, g *mls.Group, user string) ([]*mls.KeyPackage, error) {
	claimed, err := s.ds.Claim(ctx, user)
	if err != nil {
		return nil, err
	}
	in := map[string]bool{}
	for _, m := range g.Members() {
		in[string(m.SignatureKey)] = true
	}
	var out []*mls.KeyPackage
	n := 0
	for _, c := range claimed {
		if c.Client == s.srv.ClientID {
			continue
		}
		n++
		kp, err := c.Parse()
		if err != nil {
			return nil, err
		}
		cred := &kp.LeafNode.Credential
		if cred.CredentialType != mls.CredentialTypeBasic || string(cred.Identity) != user {
			return nil, fmt.Errorf("the KeyPackage of %s's client %q names %q, not %q", user, c.Client, credentialName(cred), user)
		}
		if kp.CipherSuite != g.CipherSuite() {
			return nil, fmt.Errorf("the KeyPackage of %s's client %q is of suite %d, the group of %d", user, c.Client, kp.CipherSuite, g.CipherSuite())
		}
		if !in[string(kp.LeafNode.SignatureKey)] {
			out = append(out, kp)
		}
	}
	switch {
	case len(claimed) == 0:
		return nil, fmt.Errorf("user %q has no KeyPackages at the server (not registered, or none published)", user)
	case n == 0:
		return nil, fmt.Errorf("user %q has no client but this one", user)
	}
	return out, nil
}

// commit commits opts in g, submits the commit with its Welcome and a
// GroupInfo carrying the ratchet tree (from which the server learns the
// member set), and merges it once the server accepted it. The group is
// saved at each step: with the pending commit before it leaves, and in
// the new epoch after. When another commit won the epoch, the commit is
// discarded and, with retry, the inbox processed and the commit made once
// more; the events are those of that inbox.
func (s *session) commit(ctx context.Context, g *mls.Group, opts mls.CommitOptions, retry bool) (*mls.EpochChange, []event, error) {
	events, err := s.settle(ctx, g)
	if err != nil {
		return nil, events, err
	}
	opts.GroupInfo = true
	// A group the server verifies (PublicMessage handshakes) gets its
	// tree from the server: Welcomes and GroupInfos leave it out, so that
	// they stay small in a big group. The commit that creates the group
	// gives the server the tree.
	opts.RatchetTreeOutOfBand = s.cl.info.PublicHandshake && g.Epoch() > 0
	for attempt := 0; ; attempt++ {
		pc, err := g.Commit(opts)
		if err != nil {
			return nil, events, err
		}
		if err := s.save(g); err != nil {
			return nil, events, err
		}
		_, err = s.ds.Commit(ctx, g.GroupID(), pc.Commit, pc.Welcome, pc.GroupInfo)
		if err == nil {
			ch, err := g.MergePendingCommit()
			if err != nil {
				return nil, events, err
			}
			return ch, events, s.save(g)
		}
		var herr *dsclient.Error
		if !errors.As(err, &herr) || herr.Status >= 500 {
			// The server may have taken it: the pending commit stays, and
			// the next command finds out (resolvePending).
			return nil, events, fmt.Errorf("%w (the commit's outcome is unknown; mls ds sync settles it)", err)
		}
		// Refused for sure.
		if derr := g.DiscardPendingCommit(); derr != nil {
			return nil, events, derr
		}
		if serr := s.save(g); serr != nil {
			return nil, events, serr
		}
		var conflict *dsclient.ConflictError
		if !errors.As(err, &conflict) || !retry || attempt > 0 {
			return nil, events, err
		}
		// The inbox holds the commit that won; after it, commit again.
		evs, serr := s.sync(ctx, 0)
		events = append(events, evs...)
		if serr != nil {
			return nil, events, serr
		}
		if !g.Active() {
			return nil, events, fmt.Errorf("removed from group %q by the commit that won", g.GroupID())
		}
	}
}

// settle resolves g's pending commit, left by an earlier run that did not
// learn whether the server took it, before g is used: a message sent in
// the old epoch would not reach members the commit added.
func (s *session) settle(ctx context.Context, g *mls.Group) ([]event, error) {
	if !g.HasPendingCommit() {
		return nil, nil
	}
	return s.resolvePending(ctx, g)
}

// resolvePending settles a pending commit whose submission's outcome was
// not learnt. The server's latest GroupInfo of the next epoch signed by
// this client's leaf says it was accepted (only this client signs as its
// leaf, and it has one commit outstanding at a time); a GroupInfo of the
// current epoch, or none, says it was not. Otherwise the inbox decides: it
// holds the commit that won the epoch, if it was another's (see process).
func (s *session) resolvePending(ctx context.Context, g *mls.Group) ([]event, error) {
	m, err := s.ds.GroupInfo(ctx, g.GroupID())
	var herr *dsclient.Error
	switch {
	case errors.As(err, &herr) && (herr.Status == http.StatusForbidden || herr.Status == http.StatusNotFound):
		// No group at the server, or this client is not a member.
		return nil, s.discard(g)
	case err != nil:
		return nil, err
	}
	gi := m.GroupInfo
	me, _ := g.Member(g.OwnLeaf())
	switch e := gi.GroupContext.Epoch; {
	case e == g.Epoch()+1 && gi.Signer == g.OwnLeaf() && gi.Verify(me.SignatureKey) == nil:
		if _, err := g.MergePendingCommit(); err != nil {
			return nil, err
		}
		return nil, s.save(g)
	case e <= g.Epoch():
		return nil, s.discard(g)
	}
	evs, err := s.sync(ctx, 0)
	if err == nil && g.HasPendingCommit() {
		err = errors.New("a commit of this client is pending and the server does not say whether it took it")
	}
	return evs, err
}

func (s *session) discard(g *mls.Group) error {
	if err := g.DiscardPendingCommit(); err != nil {
		return err
	}
	return s.save(g)
}

func cmdDSSend(args []string, out io.Writer) error {
	c := newCommand("ds send", "--state DIR --group NAME TEXT...",
		"Send the TEXT (the arguments joined by spaces) to the group's members.")
	c.takesArgs = true
	state := c.stateFlag()
	name := c.groupNameFlag()
	if err := c.parse(args, out, "state", "group"); err != nil {
		return err
	}
	text := strings.Join(c.pos, " ")
	if text == "" {
		return errors.New("ds send: no TEXT to send")
	}
	s, gid, err := openGroupSession(*state, *name)
	if err != nil {
		return err
	}
	defer s.close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*requestTimeout)
	defer cancel()
	n, events, err := s.send(ctx, gid, []byte(text))
	if err != nil {
		return err
	}
	g, _ := s.group(gid)
	return writeJSON(out, map[string]any{"group": *name, "epoch": g.Epoch(), "delivered": n, "events": nonNil(events)})
}

func cmdDSLeave(args []string, out io.Writer) error {
	c := newCommand("ds leave", "--state DIR --group NAME",
		"Leave the group: send a SelfRemove proposal, which the next member to commit\n"+
			"(any mls ds send or invite) commits without this client. mls ds sync then\n"+
			"reports the commit with removed_self.")
	state := c.stateFlag()
	name := c.groupNameFlag()
	if err := c.parse(args, out, "state", "group"); err != nil {
		return err
	}
	s, gid, err := openGroupSession(*state, *name)
	if err != nil {
		return err
	}
	defer s.close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*requestTimeout)
	defer cancel()
	var events []event
	for attempt := 0; ; attempt++ {
		g, err := s.mustGroup(gid)
		if err != nil {
			return err
		}
		evs, err := s.settle(ctx, g)
		events = append(events, evs...)
		if err != nil {
			return err
		}
		m, err := g.Leave()
		if err != nil {
			return err
		}
		if err := s.save(g); err != nil {
			return err
		}
		_, err = s.ds.Send(ctx, gid, m)
		var conflict *dsclient.ConflictError
		if errors.As(err, &conflict) && attempt == 0 {
			// A commit ended the epoch first: process it and propose again
			// in the new epoch.
			evs, err := s.sync(ctx, 0)
			events = append(events, evs...)
			if err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		return writeJSON(out, map[string]any{"group": *name, "epoch": g.Epoch(), "events": nonNil(events)})
	}
}

// send encrypts data for the group and delivers it. Proposals cached in
// the epoch are committed first, as RFC 9420 section 12.4 asks before
// application data. A message of an epoch the server no longer takes is
// sent again after processing the inbox, once.
func (s *session) send(ctx context.Context, gid []byte, data []byte) (int, []event, error) {
	var events []event
	for attempt := 0; ; attempt++ {
		g, err := s.mustGroup(gid)
		if err != nil {
			return 0, events, err
		}
		evs, err := s.settle(ctx, g)
		events = append(events, evs...)
		if err != nil {
			return 0, events, err
		}
		m, err := g.Send(data)
		if errors.Is(err, mls.ErrUncommittedProposals) {
			_, evs, cerr := s.commit(ctx, g, mls.CommitOptions{}, true)
			events = append(events, evs...)
			if cerr != nil {
				return 0, events, cerr
			}
			m, err = g.Send(data)
		}
		if err != nil {
			return 0, events, err
		}
		// The ratchet step is saved before the message leaves.
		if err := s.save(g); err != nil {
			return 0, events, err
		}
		n, err := s.ds.Send(ctx, gid, m)
		var conflict *dsclient.ConflictError
		if !errors.As(err, &conflict) || attempt > 0 {
			return n, events, err
		}
		evs, err = s.sync(ctx, 0)
		events = append(events, evs...)
		if err != nil {
			return 0, events, err
		}
	}
}

func cmdDSSync(args []string, out io.Writer) error {
	c := newCommand("ds sync", "--state DIR [--wait DURATION]",
		"Process the inbox in order: join groups from Welcomes, apply commits and\n"+
			"proposals, decrypt messages; then acknowledge them. Prints the events as\n"+
			"JSON. With --wait, waits up to DURATION for a first message.")
	state := c.stateFlag()
	wait := c.fs.Duration("wait", 0, "how long to wait for a message, e.g. 10s")
	if err := c.parse(args, out, "state"); err != nil {
		return err
	}
	if *wait < 0 || *wait > time.Hour {
		return errors.New("ds sync: --wait must be 0 to 1h")
	}
	s, err := openSession(*state)
	if err != nil {
		return err
	}
	defer s.close()
	ctx, cancel := context.WithTimeout(context.Background(), *wait+2*requestTimeout)
	defer cancel()
	events, err := s.sync(ctx, *wait)
	if err != nil {
		return err
	}
	// Commits whose outcome an earlier run did not learn.
	gids, err := s.cl.store.GroupIDs(s.cl.ctx)
	if err != nil {
		return err
	}
	for _, gid := range gids {
		g, err := s.group(gid)
		if err != nil {
			return err
		}
		evs, err := s.settle(ctx, g)
		events = append(events, evs...)
		if err != nil {
			return err
		}
	}
	return writeJSON(out, map[string]any{"events": nonNil(events), "seq": s.srv.Seq})
}

// sync reads the inbox to its end, processing each message (see process)
// and acknowledging the pages. wait applies to the first read.
func (s *session) sync(ctx context.Context, wait time.Duration) ([]event, error) {
	var events []event
	for {
		msgs, err := s.ds.Inbox(ctx, s.srv.Seq, wait)
		if err != nil {
			return events, err
		}
		if len(msgs) == 0 {
			return events, nil
		}
		evs, err := s.processAll(ctx, msgs)
		events = append(events, evs...)
		if err != nil {
			return events, err
		}
		wait = 0
	}
}

// processAll processes a page of the inbox and acknowledges it. A message
// already processed (by an earlier read) is skipped.
func (s *session) processAll(ctx context.Context, msgs []dsclient.InboxMessage) ([]event, error) {
	var events []event
	for _, im := range msgs {
		if im.Seq <= s.srv.Seq {
			continue
		}
		evs, err := s.process(im)
		events = append(events, evs...)
		if err != nil {
			return events, err
		}
	}
	// Best effort: the cursor, not the server, says what is done, so a
	// lost ack only leaves messages on the server for a while.
	if len(msgs) > 0 {
		s.ds.Ack(ctx, msgs[len(msgs)-1].Seq)
	}
	return events, nil
}

// event is one thing the inbox brought.
type event struct {
	Seq   uint64 `json:"seq"`
	Group string `json:"group,omitempty"`
	// Kind is "message", "joined" (this client, from a Welcome), "commit",
	// "proposal" or "error" (the message was refused and skipped).
	Kind  string `json:"kind"`
	Epoch uint64 `json:"epoch,omitempty"`
	From  string `json:"from,omitempty"`
	Text  string `json:"text,omitempty"`
	// DataHex is a message that is not UTF-8 text.
	DataHex      string   `json:"data_hex,omitempty"`
	Members      []string `json:"members,omitempty"`
	Added        []string `json:"added,omitempty"`
	Removed      []string `json:"removed,omitempty"`
	RemovedSelf  bool     `json:"removed_self,omitempty"`
	ProposalType string   `json:"proposal_type,omitempty"`
	Error        string   `json:"error,omitempty"`
}

// process handles one inbox message and records it as processed. A
// message that cannot be processed (malformed, of an unknown group, failing
// a check) is reported and skipped: one bad message must not stop the
// inbox. Only failures to save are errors.
func (s *session) process(im dsclient.InboxMessage) ([]event, error) {
	ev, err := s.processMessage(im)
	if err != nil {
		return nil, err
	}
	ev.Seq = im.Seq
	return []event{ev}, s.setSeq(im.Seq)
}

// stateError marks a failure to load or save state: it stops processing,
// so that the inbox position does not move past a message whose effect
// was not saved.
type stateError struct{ error }

func (s *session) processMessage(im dsclient.InboxMessage) (event, error) {
	ev, err := s.apply(im)
	var se stateError
	if errors.As(err, &se) {
		return ev, se.error
	}
	if err != nil {
		ev.Kind, ev.Error = "error", err.Error()
	}
	return ev, nil
}

func (s *session) apply(im dsclient.InboxMessage) (event, error) {
	var ev event
	msg, err := im.Parse()
	if err != nil {
		return ev, err
	}
	if msg.Welcome != nil {
		// A Welcome without the tree: the server hands out the tree it
		// verified, which Join checks against the GroupInfo's tree hash.
		g, err := s.cl.joinWelcomeWith(msg, &mls.JoinOptions{RatchetTreeFunc: s.ds.TreeFunc(s.cl.ctx)})
		if err != nil {
			return ev, err
		}
		s.groups[string(g.GroupID())] = g
		ev.Kind, ev.Group, ev.Epoch = "joined", textOrHex(g.GroupID()), g.Epoch()
		ev.Members = names(g.Members())
		return ev, nil
	}
	var gid []byte
	var epoch uint64
	switch {
	case msg.PublicMessage != nil:
		gid, epoch = msg.PublicMessage.Content.GroupID, msg.PublicMessage.Content.Epoch
	case msg.PrivateMessage != nil:
		gid, epoch = msg.PrivateMessage.GroupID, msg.PrivateMessage.Epoch
	default:
		return ev, fmt.Errorf("unexpected %v", msg.WireFormat())
	}
	ev.Group = textOrHex(gid)
	if len(gid) > dirstoreMaxID {
		// No state of such a group can be saved here, so it is no state
		// error: the message is reported and skipped, and the inbox
		// moves on (a server of the same limit never sends one).
		return ev, fmt.Errorf("group ID of %d bytes: this client holds group IDs of at most %d", len(gid), dirstoreMaxID)
	}
	g, err := s.group(gid)
	if err != nil {
		return ev, stateError{err}
	}
	if g == nil {
		return ev, errors.New("message of a group this client is not in")
	}
	if g.HasPendingCommit() && epoch == g.Epoch()+1 {
		// Traffic of the next epoch, and no other member's commit for
		// this one came first (the server delivers a commit to every
		// member of its epoch, in order): the server took this client's
		// commit, whose answer was lost. The epoch field is not
		// authenticated, so the merge is kept only if the message then
		// processes in the merged epoch; it is saved with it below.
		if _, err := g.MergePendingCommit(); err != nil {
			return ev, err
		}
	}
	r, err := g.Process(msg)
	if err != nil {
		// Forget the in-memory group: the next use loads the saved
		// state, with its pending commit if this message merged it.
		delete(s.groups, string(gid))
		return ev, err
	}
	if err := s.save(g); err != nil {
		return ev, stateError{err}
	}
	ev.Epoch = r.Epoch
	if r.Member != nil {
		ev.From = credentialName(&r.Member.Credential)
	}
	switch r.Kind {
	case mls.KindApplication:
		ev.Kind = "message"
		if utf8.Valid(r.Data) {
			ev.Text = string(r.Data)
		} else {
			ev.DataHex = hex.EncodeToString(r.Data)
		}
	case mls.KindProposal:
		ev.Kind, ev.ProposalType = "proposal", r.Proposal.Type().String()
	case mls.KindCommit:
		ev.Kind, ev.Epoch = "commit", r.NewEpoch.Epoch
		ev.Added, ev.Removed = names(r.NewEpoch.Added), names(r.NewEpoch.Removed)
		ev.RemovedSelf = r.NewEpoch.RemovedSelf
	}
	return ev, nil
}

// names are the members' credential names.
func names(ms []mls.Member) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, credentialName(&m.Credential))
	}
	return out
}

// nonNil makes an empty list print as [] rather than null.
func nonNil(evs []event) []event {
	if evs == nil {
		return []event{}
	}
	return evs
}

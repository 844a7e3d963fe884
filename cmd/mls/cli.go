package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/dirstore"
	"github.com/arbormls/mls/internal/bounded"
)

// errHelpShown ends a command whose --help was printed: exit status 0.
var errHelpShown = errors.New("help shown")

// command is one command's flag set with its usage text.
type command struct {
	name  string // "group add"
	args  string // synopsis after the name
	about string
	fs    *flag.FlagSet
	pos   []string // positional arguments, in order
	// takesArgs allows positional arguments; other commands refuse them.
	takesArgs bool
}

func newCommand(name, args, about string) *command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// Parse errors become one-line errors; --help prints to stdout.
	fs.SetOutput(io.Discard)
	return &command{name: name, args: args, about: about, fs: fs}
}

// parse parses args, letting flags and positional arguments mix, and checks
// that every flag in required was given.
func (c *command) parse(args []string, out io.Writer, required ...string) error {
	for {
		err := c.fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			c.printUsage(out)
			return errHelpShown
		}
		if err != nil {
			msg := strings.Replace(err.Error(), "flag provided but not defined: -", "unknown flag --", 1)
			return fmt.Errorf("%s: %s (see mls %s --help)", c.name, msg, c.name)
		}
		rest := c.fs.Args()
		if len(rest) == 0 {
			break
		}
		c.pos = append(c.pos, rest[0])
		args = rest[1:]
	}
	if len(c.pos) > 0 && !c.takesArgs {
		return fmt.Errorf("%s: unexpected argument %q (see mls %s --help)", c.name, c.pos[0], c.name)
	}
	set := map[string]bool{}
	c.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, name := range required {
		if !set[name] {
			return fmt.Errorf("%s: --%s is required (see mls %s --help)", c.name, name, c.name)
		}
	}
	return nil
}

func (c *command) printUsage(out io.Writer) {
	fmt.Fprintf(out, "usage: mls %s %s\n\n%s\n\nflags:\n", c.name, c.args, c.about)
	c.fs.VisitAll(func(f *flag.Flag) {
		name, use := flag.UnquoteUsage(f)
		if name != "" {
			name = " " + name
		}
		if f.DefValue != "" && f.DefValue != "false" {
			use += " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(out, "  --%s%s\n      %s\n", f.Name, name, use)
	})
}

// stateFlag defines --state, which every client command takes.
func (c *command) stateFlag() *string {
	return c.fs.String("state", "", "the client's state `folder`")
}

// groupNameFlag defines --group for the server-mode commands, which name
// groups (the name's bytes are the group ID).
func (c *command) groupNameFlag() *string {
	return c.fs.String("group", "", "the group's `name`")
}

// groupFlag defines --group, the group a command works on.
func (c *command) groupFlag() *string {
	return c.fs.String("group", "", "the group `ID` in hex")
}

// listFlag is a flag that may be repeated.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// parseHex decodes a hex flag value, naming the flag in the error.
func parseHex(what, s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("--%s: not hex: %q", what, s)
	}
	return b, nil
}

// parseSuite reads a cipher suite code point, decimal or 0x-hex, and
// checks that it is available.
func parseSuite(s string) (ciphersuite.ID, error) {
	n, err := strconv.ParseUint(s, 0, 16)
	if err != nil {
		return 0, fmt.Errorf("--suite: not a cipher suite code point: %q", s)
	}
	if _, err := ciphersuite.Lookup(ciphersuite.ID(n)); err != nil {
		return 0, err
	}
	return ciphersuite.ID(n), nil
}

// writeJSON writes v as indented JSON followed by a newline.
func writeJSON(out io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = out.Write(append(b, '\n'))
	return err
}

// defaultMaxInput bounds every file the tool reads whole (messages, trees,
// message bodies): a Welcome carrying the ratchet tree of a 50,000-member
// group of suite 1 is about 13 MB, so 64 MiB leaves room without letting a
// huge file or an endless device (mls inspect /dev/zero) exhaust memory.
// MLS_MAX_INPUT (bytes) raises it, for post-quantum suites' larger trees.
const defaultMaxInput = 64 << 20

// maxClientFile bounds client.json, which holds a name, a few identities
// and a server's address.
const maxClientFile = 1 << 20

// maxInput returns the bound on input files: MLS_MAX_INPUT when it is a
// positive number of bytes, else defaultMaxInput.
func maxInput() int64 {
	if v := os.Getenv("MLS_MAX_INPUT"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return defaultMaxInput
}

// readInput reads a file given on the command line, at most maxInput()
// bytes of it.
func readInput(path string) ([]byte, error) {
	data, err := bounded.ReadFile(path, maxInput())
	if errors.Is(err, bounded.ErrTooLarge) {
		return nil, fmt.Errorf("%w (set MLS_MAX_INPUT to a number of bytes to allow more)", err)
	}
	return data, err
}

// readMessage reads an MLSMessage file and checks its wire format when
// want is not zero.
func readMessage(path string, want ...mls.WireFormat) (*mls.MLSMessage, error) {
	data, err := readInput(path)
	if err != nil {
		return nil, err
	}
	var m mls.MLSMessage
	if err := m.UnmarshalBinary(data); err != nil {
		return nil, fmt.Errorf("%s: not an MLSMessage: %w", path, err)
	}
	if len(want) == 0 {
		return &m, nil
	}
	for _, w := range want {
		if m.WireFormat() == w {
			return &m, nil
		}
	}
	return nil, fmt.Errorf("%s: holds a %v, not a %v", path, m.WireFormat(), want[0])
}

// readTree reads a ratchet tree file (optional<Node> ratchet_tree<V>).
func readTree(path string) (mls.TreeNodes, error) {
	if path == "" {
		return nil, nil
	}
	data, err := readInput(path)
	if err != nil {
		return nil, err
	}
	var t mls.TreeNodes
	if err := t.UnmarshalBinary(data); err != nil {
		return nil, fmt.Errorf("%s: not a ratchet tree: %w", path, err)
	}
	return t, nil
}

// client is one client's state folder, open and locked.
type client struct {
	ctx   context.Context
	dir   string
	store *dirstore.Store
	info  clientInfo
}

// clientInfo is the client's own file in the state folder, next to what
// dirstore keeps: the name given to init and one signing identity per
// cipher suite, created when a KeyPackage or group of that suite is first
// made. A signature key of one suite cannot serve another in general (the
// schemes differ), so the tool keeps them apart even where they agree.
type clientInfo struct {
	Name string `json:"name"`
	// Identities maps a suite's code point (decimal) to the hex of
	// mls.Identity.MarshalBinary, private key included.
	Identities map[string]string `json:"identities"`
	// PublicHandshake sends this client's proposals and commits as
	// PublicMessages (init --public-handshake).
	PublicHandshake bool `json:"public_handshake,omitempty"`
	// Server is the Delivery Service the client registered with (mls ds
	// register), if any.
	Server *serverInfo `json:"server,omitempty"`
}

const clientFile = "client.json"

// openState opens and locks dir. With mustExist the folder must hold a
// client made by init.
func openState(dir string, mustExist bool) (*client, error) {
	if mustExist {
		if _, err := os.Stat(filepath.Join(dir, clientFile)); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no client in state folder %s (run mls init)", dir)
		}
	}
	st, err := dirstore.Open(dir, nil)
	if errors.Is(err, dirstore.ErrInUse) {
		return nil, fmt.Errorf("state folder %s is in use by another mls command", dir)
	}
	if err != nil {
		return nil, err
	}
	c := &client{ctx: context.Background(), dir: dir, store: st}
	data, err := bounded.ReadFile(filepath.Join(dir, clientFile), maxClientFile)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !mustExist:
		return c, nil
	case err != nil:
		st.Close()
		return nil, err
	}
	if err := json.Unmarshal(data, &c.info); err != nil || c.info.Name == "" {
		st.Close()
		return nil, fmt.Errorf("state folder %s: %s is damaged", dir, clientFile)
	}
	return c, nil
}

func (c *client) close() { c.store.Close() }

// openIdentity opens the state folder of an existing client and returns
// its identity for suite. The caller closes the client.
func openIdentity(dir string, suite ciphersuite.ID) (*client, *mls.Identity, error) {
	c, err := openState(dir, true)
	if err != nil {
		return nil, nil, err
	}
	id, err := c.identity(suite)
	if err != nil {
		c.close()
		return nil, nil, err
	}
	return c, id, nil
}

// saveInfo writes the client file: temporary file, sync, rename, so a
// crash leaves the old or the new one. dirstore removes the temporary
// file a crash leaves (it has dirstore's prefix).
func (c *client) saveInfo() error {
	data, err := json.MarshalIndent(c.info, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(c.dir, clientFile), data, 0o600)
}

// identity returns the client's identity for suite, creating it on first
// use.
func (c *client) identity(suite ciphersuite.ID) (*mls.Identity, error) {
	key := strconv.Itoa(int(suite))
	if h, ok := c.info.Identities[key]; ok {
		data, err := hex.DecodeString(h)
		id := new(mls.Identity)
		if err == nil {
			err = id.UnmarshalBinary(data)
		}
		if err != nil {
			return nil, fmt.Errorf("state folder %s: identity of suite %d is damaged", c.dir, suite)
		}
		return id, nil
	}
	id, err := mls.NewBasicIdentity(suite, c.info.Name)
	if err != nil {
		return nil, err
	}
	data, err := id.MarshalBinary()
	if err != nil {
		return nil, err
	}
	if c.info.Identities == nil {
		c.info.Identities = map[string]string{}
	}
	c.info.Identities[key] = hex.EncodeToString(data)
	if err := c.saveInfo(); err != nil {
		return nil, err
	}
	return id, nil
}

// config is the policy of every group of the tool: the library defaults
// (encrypted handshake messages unless init said otherwise, every
// credential accepted), with the external PSKs of the state folder.
func (c *client) config() *mls.Config {
	return &mls.Config{
		PublicHandshake: c.info.PublicHandshake,
		PSKs: func(id *mls.PreSharedKeyID) ([]byte, error) {
			return mls.LookupPSK(c.ctx, c.store, id)
		},
	}
}

// loadGroup loads the group whose hex ID is groupHex.
func (c *client) loadGroup(groupHex string) (*mls.Group, error) {
	id, err := parseHex("group", groupHex)
	if err != nil {
		return nil, err
	}
	if len(id) == 0 {
		return nil, errors.New("--group: empty group ID")
	}
	g, err := mls.LoadGroupFromStore(c.ctx, c.store, id, c.config())
	if errors.Is(err, mls.ErrNotFound) {
		return nil, fmt.Errorf("no group %s in state folder %s", groupHex, c.dir)
	}
	return g, err
}

// openGroup opens the state folder and loads the group whose hex ID is
// groupHex. The caller closes the client.
func openGroup(dir, groupHex string) (*client, *mls.Group, error) {
	c, err := openState(dir, true)
	if err != nil {
		return nil, nil, err
	}
	g, err := c.loadGroup(groupHex)
	if err != nil {
		c.close()
		return nil, nil, err
	}
	return c, g, nil
}

// outputs are files to write once the state they belong to is saved.
// A message must never leave before the state that follows it is safe:
// after a crash the client would reuse the ratchet keys it was sealed
// with. So each file is written to a temporary file first, the state is
// saved, and only then are the files renamed into place.
type outputs struct {
	files []pendingFile
}

type pendingFile struct{ tmp, path string }

// add writes data to a temporary file next to path.
func (o *outputs) add(path string, data []byte) error {
	// MLS messages are public: mode 0644 less the umask, like any file the
	// user makes.
	tmp, err := writeTemp(path, ".mls-out-", data, 0o644)
	if err != nil {
		return err
	}
	o.files = append(o.files, pendingFile{tmp, path})
	return nil
}

// writeTemp writes data, synced, to a new file next to path whose name is
// prefix and random letters, and returns its name.
func writeTemp(path, prefix string, data []byte, perm os.FileMode) (string, error) {
	tmp := filepath.Join(filepath.Dir(path), prefix+rand.Text())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// addMessage adds the wire form of m.
func (o *outputs) addMessage(path string, m interface{ MarshalBinary() ([]byte, error) }) error {
	data, err := m.MarshalBinary()
	if err != nil {
		return err
	}
	return o.add(path, data)
}

// discard removes the temporary files.
func (o *outputs) discard() {
	for _, f := range o.files {
		os.Remove(f.tmp)
	}
	o.files = nil
}

// commit renames the temporary files into place.
func (o *outputs) commit() error {
	for i, f := range o.files {
		if err := os.Rename(f.tmp, f.path); err != nil {
			for _, g := range o.files[i:] {
				os.Remove(g.tmp)
			}
			return err
		}
	}
	o.files = nil
	return nil
}

// saveAndWrite saves g, then puts the output files in place.
func (c *client) saveAndWrite(g *mls.Group, o *outputs) error {
	if err := g.Save(c.ctx, c.store); err != nil {
		o.discard()
		return err
	}
	return o.commit()
}

// writeFileAtomic replaces path with data: a temporary file, synced, then
// renamed over it, so that a crash leaves the old or the new content.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := writeTemp(path, ".tmp-", data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// memberJSON is a member in reports.
type memberJSON struct {
	Leaf           uint32 `json:"leaf"`
	Identity       string `json:"identity"`
	CredentialType string `json:"credential_type"`
}

func membersJSON(ms []mls.Member) []memberJSON {
	out := make([]memberJSON, 0, len(ms))
	for _, m := range ms {
		out = append(out, memberJSON{uint32(m.Leaf), credentialName(&m.Credential), m.Credential.CredentialType.String()})
	}
	return out
}

// credentialName is a credential's identity for reports: a basic
// credential's identity as text when it is UTF-8, else its hex; an X.509
// credential's end-entity subject.
func credentialName(cr *mls.Credential) string {
	switch cr.CredentialType {
	case mls.CredentialTypeBasic:
		return textOrHex(cr.Identity)
	case mls.CredentialTypeX509:
		if s := certSubject(cr.Certificates); s != "" {
			return s
		}
	}
	return hex.EncodeToString(cr.Data)
}

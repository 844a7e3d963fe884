package interop

import (
	"bytes"
	"crypto/subtle"
	"math"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/arbormls/mls"
)

// clientState is what the server keeps for one handle: a KeyPackage
// waiting for its Welcome (a transaction), an external signer, and later a
// member's group state. Its mutex serializes the RPCs that use it; freed
// is set under the mutex once Free has erased it.
type clientState struct {
	mu    sync.Mutex
	freed bool

	identity   *mls.Identity
	keyPackage *mls.KeyPackageBundle // the transaction's KeyPackage, until joined

	// group is a member's group state. For a ReInit handle it is the
	// closed group, and identity and keyPackage are the member's identity
	// and KeyPackage in the cipher suite of the group that follows.
	group  *mls.Group
	cfg    *mls.Config
	reinit bool
}

// erase zeroes the private key bytes of a transaction or signer and drops
// the state's references. The parsed key objects inside package
// ciphersuite cannot be reached from here; dropping them leaves them to
// the garbage collector. The keys of a state with a group (a member's, or
// a ReInit's) are not zeroed: the group uses them, and other states share
// them (a branch keeps its group's identity, a ReInit handle's identity and
// KeyPackage become the new group's), so zeroing them would break a state
// still in use. The caller holds c.mu.
func (c *clientState) erase() {
	if c.group == nil {
		if c.identity != nil && c.identity.SigningKey != nil {
			clear(c.identity.SigningKey.Bytes())
		}
		if c.keyPackage != nil {
			clear(c.keyPackage.InitPrivateKey())
			clear(c.keyPackage.EncryptionPrivateKey())
		}
	}
	c.identity, c.keyPackage, c.group, c.cfg = nil, nil, nil, nil
	c.freed = true
}

// stateTable maps the handles given to the test runner to client states.
// It is safe for concurrent use.
type stateTable struct {
	mu     sync.Mutex
	last   uint32 // the last ID handed out; 0 is never one
	states map[uint32]*clientState
}

func newStateTable() *stateTable {
	return &stateTable{states: make(map[uint32]*clientState)}
}

// add stores c under a fresh ID and returns it.
func (t *stateTable) add(c *clientState) (uint32, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == math.MaxUint32 {
		return 0, status.Error(codes.ResourceExhausted, "mls: state IDs used up")
	}
	t.last++
	t.states[t.last] = c
	return t.last, nil
}

// use runs f on the state with the given ID, holding its mutex.
func (t *stateTable) use(id uint32, f func(*clientState) error) error {
	t.mu.Lock()
	c := t.states[id]
	t.mu.Unlock()
	if c == nil {
		return unknownState(id)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.freed { // freed between the lookup and the lock
		return unknownState(id)
	}
	return f(c)
}

// exists reports whether id names a live state.
func (t *stateTable) exists(id uint32) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.states[id] != nil
}

// count returns the number of live states.
func (t *stateTable) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.states)
}

// free removes the state with the given ID and erases it once no RPC is
// using it any more.
func (t *stateTable) free(id uint32) error {
	t.mu.Lock()
	c := t.states[id]
	delete(t.states, id)
	t.mu.Unlock()
	if c == nil {
		return unknownState(id)
	}
	c.mu.Lock()
	c.erase()
	c.mu.Unlock()
	return nil
}

// remove forgets the state with the given ID without erasing it: its keys
// now belong to a group (a transaction whose KeyPackage was used to join).
func (t *stateTable) remove(id uint32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.states, id)
}

// freeAll erases every state, for shutdown.
func (t *stateTable) freeAll() {
	t.mu.Lock()
	states := t.states
	t.states = make(map[uint32]*clientState)
	t.mu.Unlock()
	for _, c := range states {
		c.mu.Lock()
		c.erase()
		c.mu.Unlock()
	}
}

func unknownState(id uint32) error {
	return status.Errorf(codes.NotFound, "mls: no state with ID %d", id)
}

// pskStore holds the external PSKs given by StorePSK, by PSK ID. It is
// per server rather than per state: the runner installs one PSK in every
// client that needs it, and may do so before a client has any state (it
// then sends ID 0), so all states of a server share the PSKs stored in it.
type pskStore struct {
	mu   sync.Mutex
	psks map[string][]byte
}

func newPSKStore() *pskStore {
	return &pskStore{psks: make(map[string][]byte)}
}

// store keeps a copy of secret under id. Storing the same PSK again is
// harmless (the runner does so for each client on this server); another
// secret under a stored ID is an error, since one of the two clients would
// then derive a different key schedule.
func (p *pskStore) store(id, secret []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if old, ok := p.psks[string(id)]; ok {
		if subtle.ConstantTimeCompare(old, secret) == 1 {
			return nil
		}
		return status.Error(codes.AlreadyExists, "mls: a different secret is stored under this PSK ID")
	}
	p.psks[string(id)] = bytes.Clone(secret)
	return nil
}

// get returns a copy of the secret stored under id.
func (p *pskStore) get(id []byte) ([]byte, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.psks[string(id)]
	return bytes.Clone(s), ok
}

// eraseAll zeroes and drops every stored secret.
func (p *pskStore) eraseAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, s := range p.psks {
		clear(s)
		delete(p.psks, id)
	}
}

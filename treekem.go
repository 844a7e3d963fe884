package mls

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/treemath"
)

// ErrPathDecryption is returned when a member cannot decrypt the path
// secret meant for it, or what it decrypts does not give the public keys
// the UpdatePath announced.
var ErrPathDecryption = errors.New("mls: cannot decrypt UpdatePath")

// PendingUpdatePath is a committer's new path (RFC 9420 sections 7.4 to
// 7.6), already applied to its tree by GenerateUpdatePath. The path
// secrets are encrypted by Encrypt once the caller has computed the
// provisional GroupContext, which needs the new tree hash. Call Wipe once
// the Commit and the Welcome messages are built.
type PendingUpdatePath struct {
	tree    *RatchetTree
	sender  LeafIndex
	steps   []pathStep
	keys    [][]byte // public key of each node of the filtered direct path
	secrets [][]byte // path secret of each node of the filtered direct path
	commit  []byte
	leaf    *LeafNode
}

// FreeLeaf returns the leftmost blank leaf, extending the tree when there
// is none: where an Add places a new member, and where an external joiner
// commits from (RFC 9420 section 12.4.3.2).
func (t *RatchetTree) FreeLeaf() (LeafIndex, error) {
	i := t.leftmostBlankLeaf()
	if uint32(i) == t.n {
		if err := t.extend(); err != nil {
			return 0, err
		}
	}
	return i, nil
}

// GenerateUpdatePath refreshes the direct path of the member at sender,
// the owner of the tree (RFC 9420 sections 7.4 and 7.5): it blanks the
// direct path, derives path secrets and node key pairs up the filtered
// direct path from a fresh random secret, sets the parent hashes top down,
// and replaces the sender's leaf with a copy of leaf (whose credential,
// capabilities, extensions and signature key are kept) with a fresh
// encryption key, source commit, the parent hash, and a signature by
// signer over groupID and sender. The new private keys are stored in the
// tree. sender may be a blank leaf, for an external commit (see FreeLeaf).
// The new leaf is not validated: callers that change its capabilities or
// extensions check it with ValidateLeafNode like any commit leaf.
func (t *RatchetTree) GenerateUpdatePath(sender LeafIndex, groupID []byte, leaf *LeafNode, signer *ciphersuite.SigningKey) (*PendingUpdatePath, error) {
	if uint32(sender) >= t.n {
		return nil, fmt.Errorf("mls: sender leaf %d outside the tree", sender)
	}
	if t.priv != nil && t.priv.self != sender {
		return nil, errors.New("mls: the tree belongs to another member")
	}
	if !bytes.Equal(signer.PublicKey(), leaf.SignatureKey) {
		return nil, errors.New("mls: signer does not match the leaf's signature key")
	}
	s := t.suite
	p := &PendingUpdatePath{tree: t, sender: sender, steps: t.filteredDirectPath(sender)}
	// The path secrets: a random one, then each derived from the one
	// below; the one after the last node is the commit secret. A path
	// without nodes derives it from the random secret all the same.
	p.secrets = make([][]byte, len(p.steps))
	secret := make([]byte, s.HashSize())
	rand.Read(secret)
	var err error
	for j := range p.steps {
		p.secrets[j] = secret
		if secret, err = s.DeriveSecret(secret, "path"); err != nil {
			p.Wipe()
			return nil, err
		}
	}
	if len(p.steps) == 0 {
		p.commit, err = s.DeriveSecret(secret, "path")
		clear(secret)
		if err != nil {
			return nil, err
		}
	} else {
		p.commit = secret
	}
	// The key pairs, which cost a scalar multiplication each, on all
	// cores: one per node, and a fresh one for the leaf.
	nodePrivs := make([][]byte, len(p.steps))
	p.keys = make([][]byte, len(p.steps))
	var leafPriv, leafPub []byte
	err = parallelFor(len(p.steps)+1, 1, func(lo, hi int) error {
		for j := lo; j < hi; j++ {
			var err error
			if j == len(p.steps) {
				leafPriv, leafPub, err = s.GenerateHPKEKeyPair()
			} else {
				nodePrivs[j], p.keys[j], err = derivePathKeyPair(s, p.secrets[j])
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		p.Wipe()
		return nil, err
	}
	phs, leafPH := t.pathParentHashes(p.steps, p.keys)

	nl := *leaf
	nl.raw = nil
	nl.EncryptionKey = leafPub
	nl.LeafNodeSource = LeafNodeSourceCommit
	nl.Lifetime = nil
	nl.ParentHash = leafPH
	tbs, err := nl.TBS(groupID, sender)
	if err == nil {
		nl.Signature, err = s.SignWithLabel(signer, "LeafNodeTBS", tbs)
	}
	var enc []byte
	if err == nil {
		enc, err = nl.MarshalBinary()
	}
	if err != nil {
		p.Wipe()
		return nil, err
	}
	p.leaf = &nl

	t.blankDirectPath(sender)
	if t.priv == nil {
		t.priv = &treePrivate{self: sender, nodes: make(map[NodeIndex][]byte)}
	}
	for j, st := range p.steps {
		t.setParent(st.node, &ParentNode{EncryptionKey: p.keys[j], ParentHash: phs[j]})
		t.priv.nodes[st.node] = nodePrivs[j]
	}
	t.setLeafSlot(sender, &leafSlot{node: &nl, enc: enc})
	t.priv.leaf = leafPriv
	return p, nil
}

// derivePathKeyPair derives the key pair of a node from its path secret:
// DeriveKeyPair(DeriveSecret(path_secret, "node")) (RFC 9420 section 7.4).
func derivePathKeyPair(s *ciphersuite.Suite, pathSecret []byte) (priv, pub []byte, err error) {
	nodeSecret, err := s.DeriveSecret(pathSecret, "node")
	if err != nil {
		return nil, nil, err
	}
	defer clear(nodeSecret)
	return s.DeriveHPKEKeyPair(nodeSecret)
}

// LeafNode returns the committer's new leaf node.
func (p *PendingUpdatePath) LeafNode() *LeafNode { return p.leaf }

// CommitSecret returns the commit secret: the path secret that follows the
// last one (RFC 9420 section 12.4.2).
func (p *PendingUpdatePath) CommitSecret() []byte { return slices.Clone(p.commit) }

// PathSecret returns the path secret that a new member at leaf to must
// receive in its Welcome: that of the lowest node of the filtered direct
// path above it (RFC 9420 section 12.4.3.1), or nil if there is none.
func (p *PendingUpdatePath) PathSecret(to LeafIndex) []byte {
	lca := treemath.CommonAncestor(p.sender.NodeIndex(), to.NodeIndex())
	for j, st := range p.steps {
		if st.node == lca {
			return slices.Clone(p.secrets[j])
		}
	}
	return nil
}

// Encrypt encrypts each path secret to every node in the resolution of
// the corresponding copath child, except the leaves in exclude (the
// members added by the same Commit), with EncryptWithLabel(.,
// "UpdatePathNode", groupContext, path_secret), and returns the
// UpdatePath. groupContext is the encoded provisional GroupContext, whose
// tree hash is that of the tree after GenerateUpdatePath (RFC 9420
// section 12.4.2). The seals run on all cores.
func (p *PendingUpdatePath) Encrypt(groupContext []byte, exclude []LeafIndex) (*UpdatePath, error) {
	if p.leaf == nil {
		return nil, errors.New("mls: UpdatePath already wiped")
	}
	t := p.tree
	exclude = slices.Sorted(slices.Values(exclude))
	type job struct {
		step, k int
		pub     []byte
	}
	var jobs []job
	path := &UpdatePath{LeafNode: *p.leaf, Nodes: make([]UpdatePathNode, len(p.steps))}
	for j, st := range p.steps {
		res := excludeLeaves(t.Resolution(st.copathChild), exclude)
		path.Nodes[j] = UpdatePathNode{EncryptionKey: p.keys[j], EncryptedPathSecret: make([]HPKECiphertext, len(res))}
		for k, y := range res {
			jobs = append(jobs, job{j, k, t.encryptionKey(y)})
		}
	}
	enc := t.suite.NewEncryptor("UpdatePathNode", groupContext)
	err := parallelFor(len(jobs), 4, func(lo, hi int) error {
		for _, jb := range jobs[lo:hi] {
			kem, ct, err := enc.Seal(jb.pub, p.secrets[jb.step])
			if err != nil {
				return err
			}
			path.Nodes[jb.step].EncryptedPathSecret[jb.k] = HPKECiphertext{KEMOutput: kem, Ciphertext: ct}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return path, nil
}

// Wipe zeroes the path secrets and the commit secret held by p.
func (p *PendingUpdatePath) Wipe() {
	for _, s := range p.secrets {
		clear(s)
	}
	clear(p.commit)
	p.secrets, p.commit = nil, nil
}

// excludeLeaves drops from res the leaves listed in the sorted exclude.
func excludeLeaves(res []NodeIndex, exclude []LeafIndex) []NodeIndex {
	if len(exclude) == 0 {
		return res
	}
	out := res[:0]
	for _, y := range res {
		if y.IsLeaf() {
			if _, found := slices.BinarySearch(exclude, y.LeafIndex()); found {
				continue
			}
		}
		out = append(out, y)
	}
	return out
}

// MergeUpdatePath checks the UpdatePath of a commit sent by the member at
// sender and merges it into the tree (RFC 9420 sections 7.5 and 12.4.2):
// the path has one node per node of the sender's filtered direct path; the
// new leaf passes ValidateLeafNode with source commit; no public key of
// the path is already in the tree; the parent hashes, computed top down,
// end in the leaf's parent_hash. Then the direct path is blanked and the
// filtered direct path set to the path's keys and parent hashes. On error
// the tree is unchanged. The tree keeps a shallow copy of the path's leaf
// node, which must not be modified afterwards. Decrypt the path secret
// with DecryptUpdatePath once the provisional GroupContext is known.
func (t *RatchetTree) MergeUpdatePath(sender LeafIndex, path *UpdatePath, groupID []byte, opts *LeafValidationOptions) error {
	if uint32(sender) >= t.n {
		return fmt.Errorf("mls: sender leaf %d outside the tree", sender)
	}
	if t.priv != nil && t.priv.self == sender {
		return errors.New("mls: cannot merge one's own UpdatePath")
	}
	steps := t.filteredDirectPath(sender)
	if len(path.Nodes) != len(steps) {
		return fmt.Errorf("mls: UpdatePath has %d nodes, the filtered direct path %d", len(path.Nodes), len(steps))
	}
	leaf := &path.LeafNode
	slot, gc, err := prepareLeaf(leaf, opts)
	if err != nil {
		return err
	}
	c := t.getCensus()
	if err := t.validateLeaf(slot, LeafNodeSourceCommit, false, groupID, sender, opts, gc, c); err != nil {
		return err
	}
	keys := make([][]byte, len(steps))
	seen := make(map[string]bool, len(steps)+1)
	seen[string(leaf.EncryptionKey)] = true
	for j := range path.Nodes {
		k := path.Nodes[j].EncryptionKey
		if seen[string(k)] || getBytes(&c.encKeys, k) != 0 {
			return validationErr(ErrDuplicateEncryptionKey, "unique_encryption_key", steps[j].node, "UpdatePath key already in the tree")
		}
		seen[string(k)] = true
		keys[j] = k
	}
	phs, leafPH := t.pathParentHashes(steps, keys)
	if !bytes.Equal(leaf.ParentHash, leafPH) {
		return validationErr(ErrParentHash, "parent_hash", sender.NodeIndex(), "leaf parent_hash does not match the UpdatePath")
	}
	t.blankDirectPath(sender)
	for j, st := range steps {
		t.setParent(st.node, &ParentNode{EncryptionKey: keys[j], ParentHash: phs[j]})
	}
	stored := *leaf
	slot.node = &stored
	t.setLeafSlot(sender, slot)
	return nil
}

// DecryptUpdatePath decrypts, as the owner of the tree, the path secret
// that the UpdatePath merged by MergeUpdatePath carries for it (RFC 9420
// section 7.5): from the copath node whose resolution holds a node the
// owner has the private key of. It derives the path secrets and key pairs
// of the nodes above, checks them against the path's public keys, stores
// the private keys, and returns the commit secret. exclude lists the
// leaves added by the same Commit, which the sender did not encrypt to;
// groupContext is the encoded provisional GroupContext.
func (t *RatchetTree) DecryptUpdatePath(sender LeafIndex, path *UpdatePath, groupContext []byte, exclude []LeafIndex) ([]byte, error) {
	if t.priv == nil || t.priv.self == sender || uint32(sender) >= t.n {
		return nil, errors.New("mls: no member of the tree to decrypt for")
	}
	self := t.priv.self
	steps := t.filteredDirectPath(sender)
	lca := treemath.CommonAncestor(sender.NodeIndex(), self.NodeIndex())
	j, res, err := t.checkPathCiphertexts(steps, path, exclude, lca)
	if err != nil {
		return nil, err
	}
	if j < 0 {
		return nil, fmt.Errorf("%w: no path node above leaf %d", ErrPathDecryption, self)
	}
	var key []byte
	k := -1
	for i, y := range res {
		if y == self.NodeIndex() && t.priv.leaf != nil {
			k, key = i, t.priv.leaf
			break
		}
		if pk, ok := t.priv.nodes[y]; ok {
			k, key = i, pk
			break
		}
	}
	if k < 0 {
		return nil, fmt.Errorf("%w: no private key for the resolution of node %d", ErrPathDecryption, steps[j].copathChild)
	}
	ct := path.Nodes[j].EncryptedPathSecret[k]
	secret, err := t.suite.DecryptWithLabel(key, "UpdatePathNode", groupContext, ct.KEMOutput, ct.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPathDecryption, err)
	}
	privs, commit, err := t.derivePath(steps[j:], secret)
	if err != nil {
		return nil, err
	}
	for i, st := range steps[j:] {
		t.priv.nodes[st.node] = privs[i]
	}
	return commit, nil
}

// checkPathCiphertexts checks that path, merged into t from the leaf
// whose filtered direct path is steps, has one ciphertext per node of the
// resolution of each copath child, without the leaves in exclude (the
// members added by the same commit), as RFC 9420 section 7.6 requires.
// Members check it before they decrypt, observers on its own. It returns
// the index in steps of the node keep and that node's resolution, or -1.
func (t *RatchetTree) checkPathCiphertexts(steps []pathStep, path *UpdatePath, exclude []LeafIndex, keep NodeIndex) (int, []NodeIndex, error) {
	if len(path.Nodes) != len(steps) {
		return -1, nil, fmt.Errorf("mls: UpdatePath has %d nodes, the filtered direct path %d", len(path.Nodes), len(steps))
	}
	exclude = slices.Sorted(slices.Values(exclude))
	j := -1
	var res []NodeIndex
	for k, st := range steps {
		r := excludeLeaves(t.Resolution(st.copathChild), exclude)
		if len(r) != len(path.Nodes[k].EncryptedPathSecret) {
			return -1, nil, fmt.Errorf("mls: UpdatePath node %d has %d ciphertexts for a resolution of %d", st.node, len(path.Nodes[k].EncryptedPathSecret), len(r))
		}
		if st.node == keep {
			j, res = k, r
		}
	}
	return j, res, nil
}

// derivePath derives the key pairs of the nodes of steps from the path
// secret of the first, checking each public key against the tree. It
// returns the private keys and the path secret after the last node,
// zeroing every other secret, secret included. The key pairs are derived
// on all cores.
func (t *RatchetTree) derivePath(steps []pathStep, secret []byte) (privs [][]byte, next []byte, err error) {
	s := t.suite
	secrets := make([][]byte, len(steps))
	defer func() {
		for _, ps := range secrets {
			clear(ps)
		}
	}()
	for i := range steps {
		secrets[i] = secret
		if secret, err = s.DeriveSecret(secret, "path"); err != nil {
			return nil, nil, err
		}
	}
	privs = make([][]byte, len(steps))
	err = parallelFor(len(steps), 1, func(lo, hi int) error {
		for i := lo; i < hi; i++ {
			priv, pub, err := derivePathKeyPair(s, secrets[i])
			if err != nil {
				return err
			}
			if !bytes.Equal(pub, t.Parent(steps[i].node).EncryptionKey) {
				return fmt.Errorf("%w: derived public key of node %d differs", ErrPathDecryption, steps[i].node)
			}
			privs[i] = priv
		}
		return nil
	})
	if err != nil {
		clear(secret)
		return nil, nil, err
	}
	return privs, secret, nil
}

// SetLeafPrivateKey makes the tree belong to the member at leaf self,
// whose HPKE private key is priv, after checking it against the leaf.
func (t *RatchetTree) SetLeafPrivateKey(self LeafIndex, priv []byte) error {
	ln := t.Leaf(self)
	if ln == nil {
		return fmt.Errorf("%w: leaf %d", ErrBlankLeaf, self)
	}
	if t.priv != nil && t.priv.self != self {
		return errors.New("mls: the tree belongs to another member")
	}
	pub, err := t.suite.HPKEPublicKey(priv)
	if err != nil {
		return err
	}
	if !bytes.Equal(pub, ln.EncryptionKey) {
		return errors.New("mls: private key does not match the leaf")
	}
	if t.priv == nil {
		t.priv = &treePrivate{self: self, nodes: make(map[NodeIndex][]byte)}
	}
	t.priv.leaf = slices.Clone(priv)
	return nil
}

// SetPathSecret stores the private key derived from the path secret of
// the parent node x, which must be on the owner's direct path and hold
// the matching public key.
func (t *RatchetTree) SetPathSecret(x NodeIndex, pathSecret []byte) error {
	steps, err := t.ownPathFrom(x)
	if err != nil {
		return err
	}
	privs, next, err := t.derivePath(steps[:1], slices.Clone(pathSecret))
	if err != nil {
		return err
	}
	clear(next)
	t.priv.nodes[x] = privs[0]
	return nil
}

// ImportPathSecret stores the private keys given by the path secret of
// the parent node x that a Welcome carries (RFC 9420 section 12.4.3.1):
// the key of x, then of each non-blank ancestor of x, each path secret
// derived from the one below with DeriveSecret(., "path"). Every key must
// match the tree's public key.
func (t *RatchetTree) ImportPathSecret(x NodeIndex, pathSecret []byte) error {
	steps, err := t.ownPathFrom(x)
	if err != nil {
		return err
	}
	privs, next, err := t.derivePath(steps, slices.Clone(pathSecret))
	if err != nil {
		return err
	}
	clear(next)
	for i, st := range steps {
		t.priv.nodes[st.node] = privs[i]
	}
	return nil
}

// ownPathFrom returns x and the non-blank nodes above it, after checking
// that x is a non-blank parent on the owner's direct path.
func (t *RatchetTree) ownPathFrom(x NodeIndex) ([]pathStep, error) {
	if t.priv == nil {
		return nil, errors.New("mls: the tree belongs to no member")
	}
	if x.IsLeaf() || t.Parent(x) == nil || !treemath.IsAncestor(x, t.priv.self.NodeIndex()) {
		return nil, fmt.Errorf("mls: node %d is not a non-blank parent above the own leaf", x)
	}
	steps := []pathStep{{node: x}}
	for y := x; ; {
		p, ok := treemath.Parent(y, t.n)
		if !ok {
			return steps, nil
		}
		if t.Parent(p) != nil {
			steps = append(steps, pathStep{node: p})
		}
		y = p
	}
}

// HasPrivateKey reports whether the owner of the tree holds the private
// key of node x.
func (t *RatchetTree) HasPrivateKey(x NodeIndex) bool {
	if t.priv == nil {
		return false
	}
	if x == t.priv.self.NodeIndex() {
		return t.priv.leaf != nil
	}
	_, ok := t.priv.nodes[x]
	return ok
}

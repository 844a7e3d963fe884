package mls

import (
	"crypto/rand"
	"errors"

	"github.com/arbormls/mls/ciphersuite"
)

// SynthesizeGroup returns, for benchmarks and tests, the Groups of the
// members opts.Members of one n-member group whose ratchet tree
// SynthesizeTree builds (full or sparse as opts says), in that order.
// Building a large group by n real commits takes minutes; this takes
// seconds.
//
// The members share one consistent state, as if they had all processed
// the same history: the same GroupContext (epoch 1, the tree's hash and a
// random confirmed transcript hash), the same epoch secrets derived from
// one random joiner_secret, hence the same secret tree, confirmation tag
// and interim transcript hash. Each holds its own leaf's and path's
// private keys and its signature key. From there on they are ordinary
// Groups: a commit by one is processed by the others through the public
// API. The members not in opts.Members exist only as public leaves.
// cfg may be nil. Not for production use: no real group has this origin.
func SynthesizeGroup(suite *ciphersuite.Suite, n int, opts SynthOptions, cfg *Config) ([]*Group, error) {
	if len(opts.Members) == 0 {
		return nil, errors.New("mls: SynthesizeGroup needs at least one member")
	}
	seen := make(map[LeafIndex]bool)
	for _, m := range opts.Members {
		if seen[m] {
			return nil, errors.New("mls: SynthesizeGroup member listed twice")
		}
		seen[m] = true
	}
	st, err := SynthesizeTree(suite, n, opts)
	if err != nil {
		return nil, err
	}
	gc := GroupContext{
		Version:                 ProtocolVersionMLS10,
		CipherSuite:             suite.ID(),
		GroupID:                 st.GroupID,
		Epoch:                   1,
		TreeHash:                st.Tree.TreeHash(),
		ConfirmedTranscriptHash: make([]byte, suite.HashSize()),
		Extensions:              Extensions{},
	}
	rand.Read(gc.ConfirmedTranscriptHash)
	gcBytes, err := gc.MarshalBinary()
	if err != nil {
		return nil, err
	}
	joiner := make([]byte, suite.HashSize())
	rand.Read(joiner)
	defer clear(joiner)

	groups := make([]*Group, 0, len(opts.Members))
	for _, leaf := range opts.Members {
		m := st.Members[leaf]
		id := &Identity{Credential: m.Tree.Leaf(leaf).Credential, SigningKey: m.Signer}
		g, err := newGroup(id, cfg)
		if err != nil {
			return nil, err
		}
		g.self, g.tree = leaf, m.Tree
		// As LoadGroup does, so that the first commit is not O(n).
		g.tree.getCensus()
		// Each member derives the same secrets from the same inputs, as
		// members who joined by one Welcome do.
		secrets, err := DeriveEpochSecretsFromJoiner(suite, joiner, nil, gcBytes)
		if err != nil {
			return nil, err
		}
		secrets.EraseJoinerSecrets()
		tag := ConfirmationTag(suite, secrets.ConfirmationKey(), gc.ConfirmedTranscriptHash)
		interim, err := InterimTranscriptHash(suite, gc.ConfirmedTranscriptHash, tag)
		if err != nil {
			secrets.Erase()
			return nil, err
		}
		mgc := gc
		mgc.GroupID = append([]byte(nil), gc.GroupID...)
		if err := g.installEpoch(&mgc, gcBytes, secrets, interim, tag); err != nil {
			secrets.Erase()
			return nil, err
		}
		groups = append(groups, g)
	}
	return groups, nil
}

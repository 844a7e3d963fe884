package conformance

import (
	"bytes"
	"fmt"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
)

func init() { register("secret-tree", runSecretTree) }

type secretTreeCase struct {
	CipherSuite      uint16   `json:"cipher_suite"`
	EncryptionSecret hexBytes `json:"encryption_secret"`
	SenderData       struct {
		SenderDataSecret hexBytes `json:"sender_data_secret"`
		Ciphertext       hexBytes `json:"ciphertext"`
		Key              hexBytes `json:"key"`
		Nonce            hexBytes `json:"nonce"`
	} `json:"sender_data"`
	Leaves [][]struct {
		Generation       uint32   `json:"generation"`
		ApplicationKey   hexBytes `json:"application_key"`
		ApplicationNonce hexBytes `json:"application_nonce"`
		HandshakeKey     hexBytes `json:"handshake_key"`
		HandshakeNonce   hexBytes `json:"handshake_nonce"`
	} `json:"leaves"`
}

func runSecretTree(data []byte) ([]CaseResult, error) {
	return runCases(data, func(c *secretTreeCase) error {
		s, err := ciphersuite.Lookup(ciphersuite.ID(c.CipherSuite))
		if err != nil {
			return err
		}
		sd := c.SenderData
		key, nonce, err := mls.SenderDataKeyNonce(s, sd.SenderDataSecret, sd.Ciphertext)
		if err != nil {
			return err
		}
		if !bytes.Equal(key, sd.Key) {
			return mismatch("sender data key", key, sd.Key)
		}
		if !bytes.Equal(nonce, sd.Nonce) {
			return mismatch("sender data nonce", nonce, sd.Nonce)
		}
		n := uint32(len(c.Leaves))
		// The receiver jumps straight to each listed generation; the sender
		// walks its ratchet there one message at a time. Both must agree
		// with the vector.
		receiver, err := mls.NewSecretTree(s, c.EncryptionSecret, n, mls.SecretTreeConfig{})
		if err != nil {
			return err
		}
		sender, err := mls.NewSecretTree(s, c.EncryptionSecret, n, mls.SecretTreeConfig{})
		if err != nil {
			return err
		}
		for leaf, gens := range c.Leaves {
			l := mls.LeafIndex(leaf)
			for _, g := range gens {
				for _, r := range []struct {
					rt         mls.RatchetType
					key, nonce []byte
				}{
					{mls.HandshakeRatchet, g.HandshakeKey, g.HandshakeNonce},
					{mls.ApplicationRatchet, g.ApplicationKey, g.ApplicationNonce},
				} {
					what := fmt.Sprintf("leaf %d %s generation %d", leaf, r.rt, g.Generation)
					key, nonce, err := receiver.Key(l, r.rt, g.Generation)
					if err != nil {
						return fmt.Errorf("%s: %w", what, err)
					}
					if err := checkKeyNonce(what+" (receiver)", key, nonce, r.key, r.nonce); err != nil {
						return err
					}
					for {
						gen, key, nonce, err := sender.NextKey(l, r.rt)
						if err != nil {
							return fmt.Errorf("%s (sender): %w", what, err)
						}
						if gen > g.Generation {
							return fmt.Errorf("%s (sender): skipped to %d", what, gen)
						}
						if gen == g.Generation {
							if err := checkKeyNonce(what+" (sender)", key, nonce, r.key, r.nonce); err != nil {
								return err
							}
							break
						}
					}
				}
			}
		}
		return nil
	})
}

func checkKeyNonce(what string, key, nonce, wantKey, wantNonce []byte) error {
	if !bytes.Equal(key, wantKey) {
		return mismatch(what+" key", key, wantKey)
	}
	if !bytes.Equal(nonce, wantNonce) {
		return mismatch(what+" nonce", nonce, wantNonce)
	}
	return nil
}

package conformance

import (
	"bytes"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/codec"
)

func init() { register("psk_secret", runPSKSecret) }

type pskSecretCase struct {
	CipherSuite uint16 `json:"cipher_suite"`
	PSKs        []struct {
		PSKID    hexBytes `json:"psk_id"`
		PSK      hexBytes `json:"psk"`
		PSKNonce hexBytes `json:"psk_nonce"`
	} `json:"psks"`
	PSKSecret hexBytes `json:"psk_secret"`
}

func runPSKSecret(data []byte) ([]CaseResult, error) {
	return runCases(data, func(c *pskSecretCase) error {
		s, err := ciphersuite.Lookup(ciphersuite.ID(c.CipherSuite))
		if err != nil {
			return err
		}
		psks := make([]mls.PSKInput, len(c.PSKs))
		for i, p := range c.PSKs {
			// PreSharedKeyID of type external(1): psk_id<V>, psk_nonce<V>.
			b := codec.NewBuilder(2 + len(p.PSKID) + len(p.PSKNonce) + 8)
			b.AddUint8(1)
			b.AddOpaque(p.PSKID)
			b.AddOpaque(p.PSKNonce)
			id, err := b.Bytes()
			if err != nil {
				return err
			}
			psks[i] = mls.PSKInput{ID: id, Secret: p.PSK}
		}
		got, err := mls.ComputePSKSecret(s, psks)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, c.PSKSecret) {
			return mismatch("psk_secret", got, c.PSKSecret)
		}
		return nil
	})
}

package conformance

import (
	"bytes"
	"errors"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
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
		// The PSKs go through the same lookup a joiner uses, keyed by the
		// encoded PreSharedKeyID.
		ids := make([]mls.PreSharedKeyID, len(c.PSKs))
		values := map[string][]byte{}
		for i, p := range c.PSKs {
			ids[i] = mls.PreSharedKeyID{PSKType: mls.PSKTypeExternal, PSKID: p.PSKID, PSKNonce: p.PSKNonce}
			enc, err := ids[i].MarshalBinary()
			if err != nil {
				return err
			}
			values[string(enc)] = p.PSK
		}
		got, err := mls.ResolvePSKSecret(s, ids, func(id *mls.PreSharedKeyID) ([]byte, error) {
			enc, err := id.MarshalBinary()
			if err != nil {
				return nil, err
			}
			v, ok := values[string(enc)]
			if !ok {
				return nil, errors.New("unknown PSK")
			}
			return v, nil
		})
		if err != nil {
			return err
		}
		if !bytes.Equal(got, c.PSKSecret) {
			return mismatch("psk_secret", got, c.PSKSecret)
		}
		return nil
	})
}

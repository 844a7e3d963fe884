package conformance

import (
	"errors"

	"github.com/arbormls/mls"
)

func init() { register("welcome", runWelcome) }

type welcomeCase struct {
	CipherSuite uint16   `json:"cipher_suite"`
	InitPriv    hexBytes `json:"init_priv"`
	SignerPub   hexBytes `json:"signer_pub"`
	KeyPackage  hexBytes `json:"key_package"`
	Welcome     hexBytes `json:"welcome"`
}

// runWelcome joins by each Welcome as far as its cryptography goes: find
// and decrypt the GroupSecrets, decrypt the GroupInfo, verify its signature
// with signer_pub, and check its confirmation tag against the key schedule.
func runWelcome(data []byte) ([]CaseResult, error) {
	return runCases(data, func(c *welcomeCase) error {
		var kpMsg, wMsg mls.MLSMessage
		if err := kpMsg.UnmarshalBinary(c.KeyPackage); err != nil {
			return err
		}
		if err := wMsg.UnmarshalBinary(c.Welcome); err != nil {
			return err
		}
		if kpMsg.KeyPackage == nil || wMsg.Welcome == nil {
			return errors.New("key_package or welcome holds another kind of message")
		}
		if uint16(wMsg.Welcome.CipherSuite) != c.CipherSuite {
			return errors.New("welcome of another cipher suite than the case")
		}
		signerKey := func(*mls.GroupInfo) ([]byte, error) { return c.SignerPub, nil }
		opened, err := mls.OpenWelcome(wMsg.Welcome, kpMsg.KeyPackage, c.InitPriv, nil, signerKey)
		if err != nil {
			return err
		}
		opened.EpochSecrets.Erase()
		return nil
	})
}

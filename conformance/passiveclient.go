package conformance

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
)

func init() {
	// One runner for every file of the passive-client shape: the two
	// official files by name, passive-client-random by name too, and any
	// other with --format passive-client.
	register("passive-client-welcome", runPassiveClient)
	register("passive-client-handling-commit", runPassiveClient)
	registerShape("passive-client", runPassiveClient)
	registerShape("passive-client-random", runPassiveClient)
}

type passiveClientCase struct {
	CipherSuite    uint16   `json:"cipher_suite"`
	ExternalPSKs   []extPSK `json:"external_psks"`
	KeyPackage     hexBytes `json:"key_package"`
	SignaturePriv  hexBytes `json:"signature_priv"`
	EncryptionPriv hexBytes `json:"encryption_priv"`
	InitPriv       hexBytes `json:"init_priv"`
	Welcome        hexBytes `json:"welcome"`
	RatchetTree    hexBytes `json:"ratchet_tree"`

	InitialEpochAuthenticator hexBytes       `json:"initial_epoch_authenticator"`
	Epochs                    []passiveEpoch `json:"epochs"`
}

type extPSK struct {
	PSKID hexBytes `json:"psk_id"`
	PSK   hexBytes `json:"psk"`
}

type passiveEpoch struct {
	Proposals          []hexBytes `json:"proposals"`
	Commit             hexBytes   `json:"commit"`
	EpochAuthenticator hexBytes   `json:"epoch_authenticator"`
}

// runPassiveClient plays a client that joins a group and then only
// receives: join by the Welcome (tree inline or given out of band, with
// the external PSKs), then for each epoch process the proposals (which
// caches them) and the commit, comparing the epoch authenticator after
// the join and after every commit.
func runPassiveClient(data []byte) ([]CaseResult, error) {
	return runCases(data, func(c *passiveClientCase) error {
		suite, err := ciphersuite.Lookup(ciphersuite.ID(c.CipherSuite))
		if err != nil {
			return err
		}
		kp, err := decodeMessage(c.KeyPackage)
		if err != nil || kp.KeyPackage == nil {
			return fmt.Errorf("key_package: not a KeyPackage (%v)", err)
		}
		initPriv, encPriv := padScalar(suite.ID(), c.InitPriv), padScalar(suite.ID(), c.EncryptionPriv)
		bundle, err := mls.NewKeyPackageBundle(kp.KeyPackage, initPriv, encPriv)
		if err != nil {
			return err
		}
		sk, err := suite.ParseSigningKey(c.SignaturePriv)
		if err != nil {
			return err
		}
		if !bytes.Equal(sk.PublicKey(), kp.KeyPackage.LeafNode.SignatureKey) {
			return errors.New("signature_priv does not match the KeyPackage")
		}
		id := &mls.Identity{Credential: kp.KeyPackage.LeafNode.Credential, SigningKey: sk}
		psks := func(pid *mls.PreSharedKeyID) ([]byte, error) {
			for _, p := range c.ExternalPSKs {
				if pid.PSKType == mls.PSKTypeExternal && bytes.Equal(p.PSKID, pid.PSKID) {
					return p.PSK, nil
				}
			}
			return nil, errors.New("unknown PSK")
		}
		welcome, err := decodeMessage(c.Welcome)
		if err != nil {
			return err
		}
		opts := &mls.JoinOptions{}
		if c.RatchetTree != nil {
			if err := opts.RatchetTree.UnmarshalBinary(c.RatchetTree); err != nil {
				return err
			}
		}
		g, err := mls.Join(id, welcome, bundle, &mls.Config{PSKs: psks}, opts)
		if err != nil {
			return fmt.Errorf("join: %w", err)
		}
		if got := g.EpochAuthenticator(); !bytes.Equal(got, c.InitialEpochAuthenticator) {
			return mismatch("initial epoch_authenticator", got, c.InitialEpochAuthenticator)
		}
		for i, e := range c.Epochs {
			for j, p := range e.Proposals {
				if err := processExpecting(g, p, mls.KindProposal); err != nil {
					return fmt.Errorf("epoch %d, proposal %d: %w", i, j, err)
				}
			}
			if err := processExpecting(g, e.Commit, mls.KindCommit); err != nil {
				return fmt.Errorf("epoch %d, commit: %w", i, err)
			}
			if got := g.EpochAuthenticator(); !bytes.Equal(got, e.EpochAuthenticator) {
				return fmt.Errorf("epoch %d: %w", i, mismatch("epoch_authenticator", got, e.EpochAuthenticator))
			}
		}
		return nil
	})
}

// decodeMessage decodes an MLSMessage.
func decodeMessage(data []byte) (*mls.MLSMessage, error) {
	m := new(mls.MLSMessage)
	if err := m.UnmarshalBinary(data); err != nil {
		return nil, err
	}
	return m, nil
}

// processExpecting processes an encoded message and checks its kind.
func processExpecting(g *mls.Group, data []byte, want mls.MessageKind) error {
	m, err := decodeMessage(data)
	if err != nil {
		return err
	}
	r, err := g.Process(m)
	if err != nil {
		return err
	}
	if r.Kind != want {
		return fmt.Errorf("processed a %v, want a %v", r.Kind, want)
	}
	return nil
}

// padScalar left-pads a P-521 HPKE private key to the 66 bytes of
// SerializePrivateKey: the vectors hold some without their leading zero
// byte, which the ciphersuite's HPKE functions do not take.
func padScalar(id ciphersuite.ID, priv []byte) []byte {
	const p521 = 66
	if id != ciphersuite.MLS_256_DHKEMP521_AES256GCM_SHA512_P521 || len(priv) >= p521 {
		return priv
	}
	return append(make([]byte, p521-len(priv)), priv...)
}

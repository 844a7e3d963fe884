package conformance

import (
	"bytes"
	"fmt"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
)

func init() { register("key-schedule", runKeySchedule) }

type keyScheduleCase struct {
	CipherSuite       uint16   `json:"cipher_suite"`
	GroupID           hexBytes `json:"group_id"`
	InitialInitSecret hexBytes `json:"initial_init_secret"`
	Epochs            []struct {
		TreeHash                hexBytes `json:"tree_hash"`
		CommitSecret            hexBytes `json:"commit_secret"`
		PSKSecret               hexBytes `json:"psk_secret"`
		ConfirmedTranscriptHash hexBytes `json:"confirmed_transcript_hash"`
		GroupContext            hexBytes `json:"group_context"`

		JoinerSecret       hexBytes `json:"joiner_secret"`
		WelcomeSecret      hexBytes `json:"welcome_secret"`
		InitSecret         hexBytes `json:"init_secret"`
		SenderDataSecret   hexBytes `json:"sender_data_secret"`
		EncryptionSecret   hexBytes `json:"encryption_secret"`
		ExporterSecret     hexBytes `json:"exporter_secret"`
		EpochAuthenticator hexBytes `json:"epoch_authenticator"`
		ExternalSecret     hexBytes `json:"external_secret"`
		ConfirmationKey    hexBytes `json:"confirmation_key"`
		MembershipKey      hexBytes `json:"membership_key"`
		ResumptionPSK      hexBytes `json:"resumption_psk"`
		ExternalPub        hexBytes `json:"external_pub"`

		Exporter struct {
			// The label is used as the string it is (it merely looks
			// like hex); only context and secret are hex-encoded.
			Label   string   `json:"label"`
			Context hexBytes `json:"context"`
			Length  int      `json:"length"`
			Secret  hexBytes `json:"secret"`
		} `json:"exporter"`
	} `json:"epochs"`
}

// encodeGroupContext encodes the GroupContext of an epoch of the vectors,
// whose extensions are always empty.
func encodeGroupContext(suite uint16, groupID []byte, epoch uint64, treeHash, confirmed []byte) ([]byte, error) {
	gc := mls.GroupContext{
		Version:                 mls.ProtocolVersionMLS10,
		CipherSuite:             ciphersuite.ID(suite),
		GroupID:                 groupID,
		Epoch:                   epoch,
		TreeHash:                treeHash,
		ConfirmedTranscriptHash: confirmed,
	}
	return gc.MarshalBinary()
}

func runKeySchedule(data []byte) ([]CaseResult, error) {
	return runCases(data, func(c *keyScheduleCase) error {
		s, err := ciphersuite.Lookup(ciphersuite.ID(c.CipherSuite))
		if err != nil {
			return err
		}
		initSecret := []byte(c.InitialInitSecret)
		for i, ep := range c.Epochs {
			gc, err := encodeGroupContext(c.CipherSuite, c.GroupID, uint64(i), ep.TreeHash, ep.ConfirmedTranscriptHash)
			if err != nil {
				return err
			}
			if !bytes.Equal(gc, ep.GroupContext) {
				return fmt.Errorf("epoch %d: %w", i, mismatch("group_context", gc, ep.GroupContext))
			}
			e, err := mls.DeriveEpochSecrets(s, initSecret, ep.CommitSecret, ep.PSKSecret, gc)
			if err != nil {
				return fmt.Errorf("epoch %d: %w", i, err)
			}
			for _, v := range []struct {
				name      string
				got, want []byte
			}{
				{"joiner_secret", e.JoinerSecret(), ep.JoinerSecret},
				{"welcome_secret", e.WelcomeSecret(), ep.WelcomeSecret},
				{"init_secret", e.InitSecret(), ep.InitSecret},
				{"sender_data_secret", e.SenderDataSecret(), ep.SenderDataSecret},
				{"encryption_secret", e.EncryptionSecret(), ep.EncryptionSecret},
				{"exporter_secret", e.ExporterSecret(), ep.ExporterSecret},
				{"epoch_authenticator", e.EpochAuthenticator(), ep.EpochAuthenticator},
				{"external_secret", e.ExternalSecret(), ep.ExternalSecret},
				{"confirmation_key", e.ConfirmationKey(), ep.ConfirmationKey},
				{"membership_key", e.MembershipKey(), ep.MembershipKey},
				{"resumption_psk", e.ResumptionPSK(), ep.ResumptionPSK},
			} {
				if !bytes.Equal(v.got, v.want) {
					return fmt.Errorf("epoch %d: %w", i, mismatch(v.name, v.got, v.want))
				}
			}
			// A joiner must reach the same epoch from joiner_secret alone.
			welcome, err := mls.DeriveWelcomeSecret(s, ep.JoinerSecret, ep.PSKSecret)
			if err != nil {
				return fmt.Errorf("epoch %d: %w", i, err)
			}
			if !bytes.Equal(welcome, ep.WelcomeSecret) {
				return fmt.Errorf("epoch %d: %w", i, mismatch("welcome_secret from joiner", welcome, ep.WelcomeSecret))
			}
			j, err := mls.DeriveEpochSecretsFromJoiner(s, ep.JoinerSecret, ep.PSKSecret, gc)
			if err != nil {
				return fmt.Errorf("epoch %d: %w", i, err)
			}
			if !bytes.Equal(j.EpochAuthenticator(), ep.EpochAuthenticator) {
				return fmt.Errorf("epoch %d: %w", i, mismatch("joiner epoch_authenticator", j.EpochAuthenticator(), ep.EpochAuthenticator))
			}
			x := ep.Exporter
			exported, err := e.Exporter(x.Label, x.Context, x.Length)
			if err != nil {
				return fmt.Errorf("epoch %d: exporter: %w", i, err)
			}
			if !bytes.Equal(exported, x.Secret) {
				return fmt.Errorf("epoch %d: %w", i, mismatch("exported secret", exported, x.Secret))
			}
			pub, err := e.ExternalPub()
			if err != nil {
				return fmt.Errorf("epoch %d: external_pub: %w", i, err)
			}
			if !bytes.Equal(pub, ep.ExternalPub) {
				return fmt.Errorf("epoch %d: %w", i, mismatch("external_pub", pub, ep.ExternalPub))
			}
			initSecret = e.InitSecret()
		}
		return nil
	})
}

package conformance

import (
	"bytes"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
)

func init() { register("transcript-hashes", runTranscriptHashes) }

type transcriptHashesCase struct {
	CipherSuite                  uint16   `json:"cipher_suite"`
	ConfirmationKey              hexBytes `json:"confirmation_key"`
	AuthenticatedContent         hexBytes `json:"authenticated_content"`
	InterimTranscriptHashBefore  hexBytes `json:"interim_transcript_hash_before"`
	ConfirmedTranscriptHashAfter hexBytes `json:"confirmed_transcript_hash_after"`
	InterimTranscriptHashAfter   hexBytes `json:"interim_transcript_hash_after"`
}

func runTranscriptHashes(data []byte) ([]CaseResult, error) {
	return runCases(data, func(c *transcriptHashesCase) error {
		s, err := ciphersuite.Lookup(ciphersuite.ID(c.CipherSuite))
		if err != nil {
			return err
		}
		var ac mls.AuthenticatedContent
		if err := ac.UnmarshalBinary(c.AuthenticatedContent); err != nil {
			return err
		}
		confirmed, err := mls.ConfirmedTranscriptHash(s, c.InterimTranscriptHashBefore, &ac)
		if err != nil {
			return err
		}
		if !bytes.Equal(confirmed, c.ConfirmedTranscriptHashAfter) {
			return mismatch("confirmed_transcript_hash_after", confirmed, c.ConfirmedTranscriptHashAfter)
		}
		// The tag in the content must be the one the confirmation key
		// gives over the new confirmed transcript hash.
		if err := mls.VerifyConfirmationTag(s, c.ConfirmationKey, confirmed, ac.Auth.ConfirmationTag); err != nil {
			return err
		}
		interim, err := mls.InterimTranscriptHash(s, confirmed, ac.Auth.ConfirmationTag)
		if err != nil {
			return err
		}
		if !bytes.Equal(interim, c.InterimTranscriptHashAfter) {
			return mismatch("interim_transcript_hash_after", interim, c.InterimTranscriptHashAfter)
		}
		return nil
	})
}

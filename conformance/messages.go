package conformance

import (
	"bytes"
	"encoding"
	"fmt"

	"github.com/arbormls/mls"
)

func init() { register("messages", runMessages) }

// messagesCase holds one encoding of each of the 17 kinds in messages.json.
// The proposal kinds are the bare proposal structs (without proposal_type);
// the mls_* and *_message kinds are MLSMessages.
type messagesCase struct {
	MLSWelcome                     hexBytes `json:"mls_welcome"`
	MLSGroupInfo                   hexBytes `json:"mls_group_info"`
	MLSKeyPackage                  hexBytes `json:"mls_key_package"`
	RatchetTree                    hexBytes `json:"ratchet_tree"`
	GroupSecrets                   hexBytes `json:"group_secrets"`
	AddProposal                    hexBytes `json:"add_proposal"`
	UpdateProposal                 hexBytes `json:"update_proposal"`
	RemoveProposal                 hexBytes `json:"remove_proposal"`
	PreSharedKeyProposal           hexBytes `json:"pre_shared_key_proposal"`
	ReInitProposal                 hexBytes `json:"re_init_proposal"`
	ExternalInitProposal           hexBytes `json:"external_init_proposal"`
	GroupContextExtensionsProposal hexBytes `json:"group_context_extensions_proposal"`
	Commit                         hexBytes `json:"commit"`
	PublicMessageApplication       hexBytes `json:"public_message_application"`
	PublicMessageProposal          hexBytes `json:"public_message_proposal"`
	PublicMessageCommit            hexBytes `json:"public_message_commit"`
	PrivateMessage                 hexBytes `json:"private_message"`
}

type binaryValue interface {
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}

// mlsMessageOf returns a check that the MLSMessage decoded into m carries
// wire format want.
func mlsMessageOf(m *mls.MLSMessage, want mls.WireFormat) func() error {
	return func() error {
		if got := m.WireFormat(); got != want {
			return fmt.Errorf("wire format %v, want %v", got, want)
		}
		return nil
	}
}

func runMessages(data []byte) ([]CaseResult, error) {
	return runCases(data, func(c *messagesCase) error {
		var welcome, groupInfo, keyPackage, pubApp, pubProp, pubCommit, private mls.MLSMessage
		kinds := []struct {
			name  string
			data  []byte
			value binaryValue
			check func() error
		}{
			{"mls_welcome", c.MLSWelcome, &welcome, mlsMessageOf(&welcome, mls.WireFormatWelcome)},
			{"mls_group_info", c.MLSGroupInfo, &groupInfo, mlsMessageOf(&groupInfo, mls.WireFormatGroupInfo)},
			{"mls_key_package", c.MLSKeyPackage, &keyPackage, mlsMessageOf(&keyPackage, mls.WireFormatKeyPackage)},
			{"ratchet_tree", c.RatchetTree, new(mls.TreeNodes), nil},
			{"group_secrets", c.GroupSecrets, new(mls.GroupSecrets), nil},
			{"add_proposal", c.AddProposal, new(mls.AddProposal), nil},
			{"update_proposal", c.UpdateProposal, new(mls.UpdateProposal), nil},
			{"remove_proposal", c.RemoveProposal, new(mls.RemoveProposal), nil},
			{"pre_shared_key_proposal", c.PreSharedKeyProposal, new(mls.PreSharedKeyProposal), nil},
			{"re_init_proposal", c.ReInitProposal, new(mls.ReInitProposal), nil},
			{"external_init_proposal", c.ExternalInitProposal, new(mls.ExternalInitProposal), nil},
			{"group_context_extensions_proposal", c.GroupContextExtensionsProposal, new(mls.GroupContextExtensionsProposal), nil},
			{"commit", c.Commit, new(mls.Commit), nil},
			{"public_message_application", c.PublicMessageApplication, &pubApp, publicMessageOf(&pubApp, mls.ContentTypeApplication)},
			{"public_message_proposal", c.PublicMessageProposal, &pubProp, publicMessageOf(&pubProp, mls.ContentTypeProposal)},
			{"public_message_commit", c.PublicMessageCommit, &pubCommit, publicMessageOf(&pubCommit, mls.ContentTypeCommit)},
			{"private_message", c.PrivateMessage, &private, mlsMessageOf(&private, mls.WireFormatPrivateMessage)},
		}
		for _, k := range kinds {
			if k.data == nil {
				return fmt.Errorf("%s: missing", k.name)
			}
			if err := k.value.UnmarshalBinary(k.data); err != nil {
				return fmt.Errorf("%s: %w", k.name, err)
			}
			if k.check != nil {
				if err := k.check(); err != nil {
					return fmt.Errorf("%s: %w", k.name, err)
				}
			}
			got, err := k.value.MarshalBinary()
			if err != nil {
				return fmt.Errorf("%s: re-encode: %w", k.name, err)
			}
			if !bytes.Equal(got, k.data) {
				return mismatch(k.name, got, k.data)
			}
		}
		return nil
	})
}

// publicMessageOf returns a check that m is a PublicMessage of content type ct.
func publicMessageOf(m *mls.MLSMessage, ct mls.ContentType) func() error {
	return func() error {
		if err := mlsMessageOf(m, mls.WireFormatPublicMessage)(); err != nil {
			return err
		}
		if got := m.PublicMessage.Content.ContentType; got != ct {
			return fmt.Errorf("content type %v, want %v", got, ct)
		}
		return nil
	}
}

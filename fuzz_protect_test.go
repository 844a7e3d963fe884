package mls

import (
	"errors"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
)

// frVector is the first case of message-protection.json (suite 1): an
// epoch of a two-member group whose leaf 1 sent the messages.
type frVector struct {
	CipherSuite             ciphersuite.ID `json:"cipher_suite"`
	GroupID                 hexBytes       `json:"group_id"`
	Epoch                   uint64         `json:"epoch"`
	TreeHash                hexBytes       `json:"tree_hash"`
	ConfirmedTranscriptHash hexBytes       `json:"confirmed_transcript_hash"`
	SignaturePub            hexBytes       `json:"signature_pub"`
	EncryptionSecret        hexBytes       `json:"encryption_secret"`
	SenderDataSecret        hexBytes       `json:"sender_data_secret"`
	MembershipKey           hexBytes       `json:"membership_key"`
	ProposalPriv            hexBytes       `json:"proposal_priv"`
	ProposalPub             hexBytes       `json:"proposal_pub"`
	CommitPriv              hexBytes       `json:"commit_priv"`
	CommitPub               hexBytes       `json:"commit_pub"`
	ApplicationPriv         hexBytes       `json:"application_priv"`

	suite *ciphersuite.Suite
	gc    GroupContext
	priv  map[ContentType]*PrivateMessage
	pub   []*PublicMessage
}

func loadFrVector(tb testing.TB) *frVector {
	tb.Helper()
	var cases []*frVector
	loadVectors(tb, "message-protection.json", &cases)
	v := cases[0]
	v.suite = lookupTestSuite(tb, v.CipherSuite)
	v.gc = GroupContext{
		Version: ProtocolVersionMLS10, CipherSuite: v.CipherSuite, GroupID: v.GroupID, Epoch: v.Epoch,
		TreeHash: v.TreeHash, ConfirmedTranscriptHash: v.ConfirmedTranscriptHash,
	}
	v.priv = map[ContentType]*PrivateMessage{}
	for _, data := range [][]byte{v.ProposalPriv, v.CommitPriv, v.ApplicationPriv, v.ProposalPub, v.CommitPub} {
		var m MLSMessage
		if err := m.UnmarshalBinary(data); err != nil {
			tb.Fatal(err)
		}
		if m.PrivateMessage != nil {
			v.priv[m.PrivateMessage.ContentType] = m.PrivateMessage
		} else {
			v.pub = append(v.pub, m.PublicMessage)
		}
	}
	return v
}

// context returns a receiver's fresh view of the vector's epoch.
func (v *frVector) context(tb testing.TB) *ProtectionContext {
	tb.Helper()
	tree, err := NewSecretTree(v.suite, v.EncryptionSecret, 2, SecretTreeConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	pc, err := NewProtectionContext(&v.gc, v.MembershipKey, v.SenderDataSecret, tree)
	if err != nil {
		tb.Fatal(err)
	}
	return pc
}

func (v *frVector) memberKey(leaf LeafIndex) ([]byte, error) {
	if leaf != 1 {
		return nil, errNotVectorSender
	}
	return v.SignaturePub, nil
}

var errNotVectorSender = errors.New("mls: only leaf 1 sends in the vectors")

// FuzzUnprotectPrivate feeds UnprotectPrivate mutated PrivateMessages
// (mode even) and, to reach the code behind the AEAD, mutated plaintexts
// that an insider encrypts correctly (mode odd, the content type taken
// from the mode). Whatever the input, it must fail with an error or
// succeed, never panic, and the receiver must then still accept the
// genuine message of that content type.
func FuzzUnprotectPrivate(f *testing.F) {
	v := loadFrVector(f)
	insider := &frKeys{v.suite, v.EncryptionSecret, v.SenderDataSecret, 2}
	for ct, m := range v.priv {
		f.Add(uint8(0), mustMarshalTB(f, m))
		ac, err := v.context(f).UnprotectPrivate(m, v.memberKey)
		if err != nil {
			f.Fatal(err)
		}
		plaintext := mustMarshalTB(f, &PrivateMessageContent{
			ContentType: ct, ApplicationData: ac.Content.ApplicationData, Proposal: ac.Content.Proposal,
			Commit: ac.Content.Commit, Auth: ac.Auth, Padding: 3,
		})
		// The plaintext seeds are authentic once the insider encrypts them.
		if _, err := v.context(f).UnprotectPrivate(insider.sealRaw(f, m, 1, 0, plaintext), v.memberKey); err != nil {
			f.Fatalf("re-encrypted %v content: %v", ct, err)
		}
		f.Add(uint8(2*(ct-1)+1), plaintext)
	}
	f.Fuzz(func(t *testing.T, mode uint8, data []byte) {
		pc := v.context(t)
		var m *PrivateMessage
		ct := ContentType(1 + (mode/2)%3)
		if mode%2 == 0 {
			var pm PrivateMessage
			if pm.UnmarshalBinary(data) == nil {
				m, ct = &pm, pm.ContentType
			}
		} else {
			m = insider.sealRaw(t, v.priv[ct], 1, 0, data)
		}
		if m != nil {
			if _, err := pc.UnprotectPrivate(m, v.memberKey); err == nil {
				return // authentic: it may have used the genuine message's generation
			}
		}
		if _, err := pc.UnprotectPrivate(v.priv[ct], v.memberKey); err != nil {
			t.Fatalf("genuine %v message rejected after a bad one: %v", ct, err)
		}
	})
}

// FuzzUnprotectPublic feeds UnprotectPublic mutated PublicMessages, as
// they are (mode even) or with the membership tag of a member's message
// recomputed by an insider (mode odd) to reach the signature check. It
// must never panic, and the genuine messages must still verify.
func FuzzUnprotectPublic(f *testing.F) {
	v := loadFrVector(f)
	for _, m := range v.pub {
		f.Add(uint8(0), mustMarshalTB(f, m))
		f.Add(uint8(1), mustMarshalTB(f, m))
	}
	f.Fuzz(func(t *testing.T, mode uint8, data []byte) {
		pc := v.context(t)
		var m PublicMessage
		if m.UnmarshalBinary(data) == nil {
			if mode%2 == 1 && m.Content.Sender.SenderType == SenderTypeMember {
				if tbm, err := m.TBM(pc.GroupContext()); err == nil {
					m.MembershipTag = v.suite.MAC(v.MembershipKey, tbm)
				}
			}
			pc.UnprotectPublic(&m, v.memberKey)
		}
		for _, genuine := range v.pub {
			if _, err := pc.UnprotectPublic(genuine, v.memberKey); err != nil {
				t.Fatalf("genuine message rejected after a bad one: %v", err)
			}
		}
	})
}

func mustMarshalTB(tb testing.TB, v interface{ MarshalBinary() ([]byte, error) }) []byte {
	tb.Helper()
	data, err := v.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

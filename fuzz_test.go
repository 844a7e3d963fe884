package mls

import (
	"bytes"
	"encoding"
	"errors"
	"testing"
)

// fuzzCases is how many messages.json cases seed each fuzz target; more
// add run time to every `go test` without adding shapes.
const fuzzCases = 8

type binaryValue interface {
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}

// fuzzRoundTrip checks the decoding property of every wire struct: decoding
// never panics, fails only with ErrMalformed, and when it succeeds the
// value re-encodes to exactly the input.
func fuzzRoundTrip[T any, P interface {
	*T
	binaryValue
}](f *testing.F, seeds ...[]byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v := P(new(T))
		checkDecoded(t, v.UnmarshalBinary(data), v.MarshalBinary, data)
	})
}

// checkDecoded checks the outcome of decoding data: an error must wrap
// ErrMalformed, and a decoded value must encode back to data.
func checkDecoded(t *testing.T, decodeErr error, encode func() ([]byte, error), data []byte) {
	t.Helper()
	if decodeErr != nil {
		if !errors.Is(decodeErr, ErrMalformed) {
			t.Fatalf("error does not wrap ErrMalformed: %v", decodeErr)
		}
		return
	}
	out, err := encode()
	if err != nil {
		t.Fatalf("decoded value does not encode: %v", err)
	}
	if !bytes.Equal(out, data) {
		t.Fatalf("re-encoding differs:\n got %x\nwant %x", out, data)
	}
}

// seeds returns the first fuzzCases values of a messages.json kind, with
// skip bytes cut from the front (4 to drop an MLSMessage header).
func seeds(f *testing.F, kind string, skip int) [][]byte {
	var out [][]byte
	for _, c := range messageVectors(f)[:fuzzCases] {
		out = append(out, c[kind][skip:])
	}
	return out
}

// proposalSeeds returns encoded Proposals of every type, built from the
// bare proposal structs in messages.json.
func proposalSeeds(f *testing.F) [][]byte {
	kinds := []struct {
		kind string
		t    ProposalType
	}{
		{"add_proposal", ProposalTypeAdd},
		{"update_proposal", ProposalTypeUpdate},
		{"remove_proposal", ProposalTypeRemove},
		{"pre_shared_key_proposal", ProposalTypePreSharedKey},
		{"re_init_proposal", ProposalTypeReInit},
		{"external_init_proposal", ProposalTypeExternalInit},
		{"group_context_extensions_proposal", ProposalTypeGroupContextExtensions},
	}
	out := [][]byte{{0x0a, 0x0a, 1, 0}, {0x00, 0x0a}} // a GREASE type, a SelfRemove
	for _, k := range kinds {
		for _, body := range seeds(f, k.kind, 0) {
			out = append(out, append([]byte{byte(k.t >> 8), byte(k.t)}, body...))
		}
	}
	return out
}

func mlsMessageSeeds(f *testing.F) [][]byte {
	var out [][]byte
	for _, kind := range []string{"mls_welcome", "mls_group_info", "mls_key_package",
		"public_message_application", "public_message_proposal", "public_message_commit", "private_message"} {
		out = append(out, seeds(f, kind, 0)...)
	}
	return out
}

// publicMessageSeeds returns the PublicMessages of messages.json, without
// their MLSMessage header.
func publicMessageSeeds(f *testing.F) [][]byte {
	var out [][]byte
	for _, kind := range []string{"public_message_application", "public_message_proposal", "public_message_commit"} {
		out = append(out, seeds(f, kind, 4)...)
	}
	return out
}

func FuzzMLSMessage(f *testing.F) { fuzzRoundTrip[MLSMessage](f, mlsMessageSeeds(f)...) }

func FuzzKeyPackage(f *testing.F) { fuzzRoundTrip[KeyPackage](f, seeds(f, "mls_key_package", 4)...) }

func FuzzWelcome(f *testing.F) { fuzzRoundTrip[Welcome](f, seeds(f, "mls_welcome", 4)...) }

func FuzzGroupInfo(f *testing.F) { fuzzRoundTrip[GroupInfo](f, seeds(f, "mls_group_info", 4)...) }

func FuzzGroupSecrets(f *testing.F) { fuzzRoundTrip[GroupSecrets](f, seeds(f, "group_secrets", 0)...) }

func FuzzRatchetTree(f *testing.F) { fuzzRoundTrip[TreeNodes](f, seeds(f, "ratchet_tree", 0)...) }

func FuzzLeafNode(f *testing.F) { fuzzRoundTrip[LeafNode](f, seeds(f, "update_proposal", 0)...) }

func FuzzProposal(f *testing.F) { fuzzRoundTrip[Proposal](f, proposalSeeds(f)...) }

func FuzzCommit(f *testing.F) { fuzzRoundTrip[Commit](f, seeds(f, "commit", 0)...) }

func FuzzPublicMessage(f *testing.F) { fuzzRoundTrip[PublicMessage](f, publicMessageSeeds(f)...) }

func FuzzPrivateMessage(f *testing.F) {
	fuzzRoundTrip[PrivateMessage](f, seeds(f, "private_message", 4)...)
}

func FuzzAuthenticatedContent(f *testing.F) {
	// A PublicMessage without its membership tag is close to an
	// AuthenticatedContent: prefix the wire format.
	var out [][]byte
	for _, s := range publicMessageSeeds(f) {
		out = append(out, append([]byte{0, 1}, s...))
	}
	fuzzRoundTrip[AuthenticatedContent](f, out...)
}

func FuzzUpdatePath(f *testing.F) {
	var out [][]byte
	for _, data := range seeds(f, "commit", 0) {
		var c Commit
		if err := c.UnmarshalBinary(data); err == nil && c.Path != nil {
			if p, err := c.Path.MarshalBinary(); err == nil {
				out = append(out, p)
			}
		}
	}
	fuzzRoundTrip[UpdatePath](f, out...)
}

func FuzzGroupContext(f *testing.F) {
	var out [][]byte
	for _, data := range seeds(f, "mls_group_info", 4) {
		var gi GroupInfo
		if err := gi.UnmarshalBinary(data); err == nil {
			if gc, err := gi.GroupContext.MarshalBinary(); err == nil {
				out = append(out, gc)
			}
		}
	}
	fuzzRoundTrip[GroupContext](f, out...)
}

func FuzzPreSharedKeyID(f *testing.F) {
	fuzzRoundTrip[PreSharedKeyID](f, seeds(f, "pre_shared_key_proposal", 0)...)
}

func FuzzCredential(f *testing.F) {
	fuzzRoundTrip[Credential](f, []byte{0, 1, 1, 'a'}, []byte{0, 2, 3, 1, 'c', 0}, []byte{0xf0, 0x0d, 1, 'x'})
}

func FuzzExtensions(f *testing.F) {
	fuzzRoundTrip[Extensions](f, []byte{0}, []byte{5, 0, 3, 2, 0, 1})
}

func FuzzRequiredCapabilities(f *testing.F) {
	fuzzRoundTrip[RequiredCapabilities](f, []byte{2, 0, 1, 4, 0, 1, 0, 2, 0})
}

func FuzzExternalSenders(f *testing.F) {
	fuzzRoundTrip[ExternalSenders](f, []byte{6, 1, 9, 0, 1, 1, 'a'})
}

func FuzzSenderData(f *testing.F) {
	fuzzRoundTrip[SenderData](f, []byte{0, 0, 0, 1, 0, 0, 0, 2, 1, 2, 3, 4})
}

// FuzzPrivateMessageContent checks the same property for the decoder that
// takes the content type; the first byte of the input chooses it.
func FuzzPrivateMessageContent(f *testing.F) {
	for _, data := range publicMessageSeeds(f) {
		var pm PublicMessage
		if err := pm.UnmarshalBinary(data); err != nil {
			f.Fatal(err)
		}
		pc := PrivateMessageContent{ContentType: pm.Content.ContentType, ApplicationData: pm.Content.ApplicationData,
			Proposal: pm.Content.Proposal, Commit: pm.Content.Commit, Auth: pm.Auth, Padding: 3}
		enc, err := pc.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(append([]byte{byte(pc.ContentType)}, enc...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		var pc PrivateMessageContent
		checkDecoded(t, pc.UnmarshalWithContentType(data[1:], ContentType(data[0])), pc.MarshalBinary, data[1:])
	})
}

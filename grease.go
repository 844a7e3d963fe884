package mls

import (
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"

	"github.com/arbormls/mls/ciphersuite"
)

// greaseValues are the code points RFC 9420 section 13.5 reserves for
// GREASE in every MLS registry (0xFAFA is private use, not GREASE).
var greaseValues = [...]uint16{0x0A0A, 0x1A1A, 0x2A2A, 0x3A3A, 0x4A4A, 0x5A5A, 0x6A6A, 0x7A7A, 0x8A8A, 0x9A9A, 0xAAAA, 0xBABA, 0xCACA, 0xDADA, 0xEAEA}

// isGREASE reports whether v is a GREASE value. Arbor asks only about what
// it sends: section 13.5 forbids special processing of received GREASE
// values, which are handled as any unknown value.
func isGREASE[T ~uint16](v T) bool {
	x := uint16(v)
	return x&0x0F0F == 0x0A0A && x>>12 == x>>4&0xF && x != 0xFAFA
}

// checkSendable refuses GREASE values where section 13.5 forbids sending
// them, since a receiver would refuse the message: in a proposal type, and
// in GroupContext extensions (those of a GroupContextExtensions or ReInit
// proposal, or of a new group). what names the field for the error.
func checkSendable[T ~uint16](what string, values ...T) error {
	for _, v := range values {
		if isGREASE(v) {
			return fmt.Errorf("mls: GREASE value 0x%04x in %s (RFC 9420 section 13.5 forbids sending it there)", uint16(v), what)
		}
	}
	return nil
}

// checkProposalSendable is checkSendable for a proposal this client sends.
func checkProposalSendable(p *Proposal) error {
	if err := checkSendable("a proposal type", p.Type()); err != nil {
		return err
	}
	switch {
	case p.GroupContextExtensions != nil:
		return checkSendable("GroupContext extensions", extensionTypes(p.GroupContextExtensions.Extensions)...)
	case p.ReInit != nil:
		return checkSendable("GroupContext extensions", extensionTypes(p.ReInit.Extensions)...)
	}
	return nil
}

// greaseDraw returns n distinct GREASE values in random order. GREASE
// needs no cryptographic randomness: it only has to vary between objects
// so that peers cannot special-case fixed values.
func greaseDraw(n int) []uint16 {
	out := make([]uint16, 0, n)
	for _, k := range mrand.Perm(len(greaseValues))[:n] {
		out = append(out, greaseValues[k])
	}
	return out
}

// greaseData returns 0 to max-1 random bytes, the contents of a GREASE
// extension of a KeyPackage or GroupInfo (section 13.5: any contents).
func greaseData(max int) []byte {
	data := make([]byte, mrand.IntN(max))
	rand.Read(data)
	return data
}

// addGREASE puts GREASE values, drawn afresh, in a KeyPackage being made
// (RFC 9420 section 13.5): one in each list of caps but versions, one
// extension in the leaf's extensions and one in the KeyPackage's. Both
// extension types are listed in caps.extensions, as sections 7.2 and 10
// require of the creator. The leaf's GREASE extension is empty, since every
// member of a group stores the leaf; the KeyPackage's carries random bytes.
func addGREASE(caps *Capabilities, leafExts, kpExts *Extensions) {
	v := greaseDraw(6)
	addMissing(&caps.CipherSuites, ciphersuite.ID(v[0]))
	addMissing(&caps.Extensions, ExtensionType(v[1]))
	addMissing(&caps.Proposals, ProposalType(v[2]))
	addMissing(&caps.Credentials, CredentialType(v[3]))
	if _, ok := leafExts.Find(ExtensionType(v[4])); !ok {
		*leafExts = append(*leafExts, Extension{ExtensionType: ExtensionType(v[4]), ExtensionData: []byte{}})
		addMissing(&caps.Extensions, ExtensionType(v[4]))
	}
	if _, ok := kpExts.Find(ExtensionType(v[5])); !ok {
		*kpExts = append(*kpExts, Extension{ExtensionType: ExtensionType(v[5]), ExtensionData: greaseData(33)})
		addMissing(&caps.Extensions, ExtensionType(v[5]))
	}
}

// greaseExtension returns a GREASE extension for a GroupInfo, with random
// contents.
func greaseExtension() Extension {
	return Extension{ExtensionType: ExtensionType(greaseDraw(1)[0]), ExtensionData: greaseData(33)}
}

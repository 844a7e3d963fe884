package mls

// ProposalType identifies the kind of a Proposal (RFC 9420 section 12.1 and
// the "MLS Proposal Types" IANA registry). Values this package does not know
// are kept, so capabilities and unknown proposals round-trip.
type ProposalType uint16

// The proposal types of RFC 9420.
const (
	ProposalTypeAdd                    ProposalType = 1
	ProposalTypeUpdate                 ProposalType = 2
	ProposalTypeRemove                 ProposalType = 3
	ProposalTypePreSharedKey           ProposalType = 4
	ProposalTypeReInit                 ProposalType = 5
	ProposalTypeExternalInit           ProposalType = 6
	ProposalTypeGroupContextExtensions ProposalType = 7
)

// String returns the RFC 9420 name of t.
func (t ProposalType) String() string {
	return enumName(t, "ProposalType", "add", "update", "remove", "psk", "reinit", "external_init", "group_context_extensions")
}

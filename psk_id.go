package mls

import (
	"errors"
	"fmt"

	"github.com/arbormls/mls/internal/codec"
)

// PSKType is the kind of a pre-shared key (RFC 9420 section 8.4).
type PSKType uint8

// The PSK types of RFC 9420.
const (
	PSKTypeExternal   PSKType = 1
	PSKTypeResumption PSKType = 2
)

// String returns the RFC 9420 name of t.
func (t PSKType) String() string {
	return enumName(t, "PSKType", "external", "resumption")
}

// ResumptionPSKUsage says what a resumption PSK is used for (RFC 9420
// section 8.4). Values other than those below decode, and are rejected
// where PSKs are validated.
type ResumptionPSKUsage uint8

// The resumption PSK usages of RFC 9420.
const (
	ResumptionPSKUsageApplication ResumptionPSKUsage = 1
	ResumptionPSKUsageReInit      ResumptionPSKUsage = 2
	ResumptionPSKUsageBranch      ResumptionPSKUsage = 3
)

// String returns the RFC 9420 name of u.
func (u ResumptionPSKUsage) String() string {
	return enumName(u, "ResumptionPSKUsage", "application", "reinit", "branch")
}

// PreSharedKeyID names a pre-shared key to inject into the key schedule
// (RFC 9420 section 8.4). PSKID is used for external PSKs; Usage,
// PSKGroupID and PSKEpoch for resumption PSKs. Encoding fails if a field of
// the other kind is set.
type PreSharedKeyID struct {
	PSKType    PSKType
	PSKID      []byte
	Usage      ResumptionPSKUsage
	PSKGroupID []byte
	PSKEpoch   uint64
	PSKNonce   []byte
}

func (p *PreSharedKeyID) marshal(b *codec.Builder) {
	b.AddUint8(uint8(p.PSKType))
	switch p.PSKType {
	case PSKTypeExternal:
		if p.Usage != 0 || p.PSKGroupID != nil || p.PSKEpoch != 0 {
			b.SetError(errors.New("mls: external PreSharedKeyID with resumption fields"))
		}
		b.AddOpaque(p.PSKID)
	case PSKTypeResumption:
		if p.PSKID != nil {
			b.SetError(errors.New("mls: resumption PreSharedKeyID with psk_id"))
		}
		b.AddUint8(uint8(p.Usage))
		b.AddOpaque(p.PSKGroupID)
		b.AddUint64(p.PSKEpoch)
	default:
		b.SetError(fmt.Errorf("mls: invalid psktype %d", uint8(p.PSKType)))
	}
	b.AddOpaque(p.PSKNonce)
}

func (p *PreSharedKeyID) unmarshal(r *codec.Reader) {
	*p = PreSharedKeyID{PSKType: PSKType(r.ReadUint8())}
	switch p.PSKType {
	case PSKTypeExternal:
		p.PSKID = r.ReadOpaque()
	case PSKTypeResumption:
		p.Usage = ResumptionPSKUsage(r.ReadUint8())
		p.PSKGroupID = r.ReadOpaque()
		p.PSKEpoch = r.ReadUint64()
	default:
		r.SetError(fmt.Errorf("invalid psktype %d", uint8(p.PSKType)))
		return
	}
	p.PSKNonce = r.ReadOpaque()
}

// MarshalBinary returns the encoding of p.
func (p *PreSharedKeyID) MarshalBinary() ([]byte, error) { return encode(p) }

// UnmarshalBinary decodes p from data, which must hold exactly one PreSharedKeyID.
func (p *PreSharedKeyID) UnmarshalBinary(data []byte) error {
	return decode("PreSharedKeyID", data, p)
}

package mls

import (
	"errors"
	"fmt"

	"github.com/arbormls/mls/internal/codec"
)

// The PublicGroup state format.
//
// PublicGroup.MarshalBinary writes what an observer knows of a group, and
// LoadPublicGroup reads it back. It holds no secret: the GroupContext, the
// public ratchet tree, the transcript hashes and the proposals of the
// epoch. The layout is an Arbor format in the TLS presentation language
// of RFC 9420 section 2.1, sharing its parts with the group state (see
// group_state.go). Version 1:
//
//	struct {
//	    opaque magic[4] = "ARBP";
//	    uint16 version = 1;
//	    uint8 group_state;               // 0 active, 2 closed by a ReInit
//	    GroupContext group_context;
//	    RatchetTreeState tree;           // with no private part
//	    opaque interim_transcript_hash<V>;
//	    opaque confirmation_tag<V>;      // of the commit that started the epoch
//	    CachedProposal proposals<V>;     // without update_private_key or sent_message
//	} PublicGroupState;
//
// The encoding is canonical: LoadPublicGroup accepts exactly what
// MarshalBinary writes.

const (
	publicStateMagic   = "ARBP"
	publicStateVersion = 1
)

// MarshalBinary returns the state of the PublicGroup (see the format at
// the top of public_group_state.go). It holds no secret; LoadPublicGroup
// restores it.
func (p *PublicGroup) MarshalBinary() ([]byte, error) {
	b := codec.NewBuilder(1024)
	b.AddRaw([]byte(publicStateMagic))
	b.AddUint16(publicStateVersion)
	state := stateActive
	if p.closed {
		state = stateReInit
	}
	b.AddUint8(uint8(state))
	b.AddRaw(p.gcBytes)
	p.tree.marshalState(b)
	b.AddOpaque(p.interim)
	b.AddOpaque(p.confirmationTag)
	p.marshalProposals(b)
	return b.Bytes()
}

// LoadPublicGroup restores a PublicGroup from the state MarshalBinary
// wrote, with the policy cfg (nil for the defaults), which is not part of
// the state. It checks the state's structure and the tree hash, not the
// tree's signatures, which NewPublicGroup checked: keep the state where
// only the observer writes. A state of an unknown version fails with
// ErrUnknownStateVersion, any other invalid state with an error that
// wraps ErrMalformed.
func LoadPublicGroup(data []byte, cfg *Config) (*PublicGroup, error) {
	if len(data) < len(publicStateMagic)+2 || string(data[:len(publicStateMagic)]) != publicStateMagic {
		return nil, publicStateErr(errors.New("not a PublicGroup state"))
	}
	data = data[len(publicStateMagic):]
	if v := uint16(data[0])<<8 | uint16(data[1]); v != publicStateVersion {
		return nil, fmt.Errorf("%w %d (this version reads %d)", ErrUnknownStateVersion, v, publicStateVersion)
	}
	r := codec.NewReader(data[2:])
	state := groupState(r.ReadUint8())
	var gc GroupContext
	gcBytes := captureRaw(r, func() { gc.unmarshal(r) })
	if err := r.Err(); err != nil {
		return nil, publicStateErr(err)
	}
	if state != stateActive && state != stateReInit {
		return nil, publicStateErr(fmt.Errorf("unknown group state %d", state))
	}
	p, err := newPublicGroup(gc.CipherSuite, cfg)
	if err != nil {
		return nil, publicStateErr(err)
	}
	s := p.suite
	tree := unmarshalRatchetTreeState(r, s)
	if tree == nil {
		return nil, publicStateErr(r.Err())
	}
	if tree.priv != nil {
		return nil, publicStateErr(errors.New("a PublicGroup state holds private keys"))
	}
	interim := readSecret(r, s.DigestSize(), "interim transcript hash")
	tag := readSecret(r, s.DigestSize(), "confirmation tag")
	if err := r.Err(); err != nil {
		return nil, publicStateErr(err)
	}
	if err := p.install(tree, &gc, gcBytes, interim, tag); err != nil {
		return nil, publicStateErr(err)
	}
	p.closed = state == stateReInit
	p.unmarshalProposals(r)
	if err := r.Finish(); err != nil {
		return nil, publicStateErr(err)
	}
	for _, c := range p.proposals.list {
		if c.updatePriv != nil || c.sent != nil {
			return nil, publicStateErr(errors.New("a PublicGroup state holds a member's proposal secrets"))
		}
	}
	if err := checkTreeHash(tree, &gc); err != nil {
		return nil, publicStateErr(err)
	}
	// Loading is O(n) anyway: count the tree's keys now, not in the first
	// commit processed (see LoadGroup).
	tree.getCensus()
	return p, nil
}

// publicStateErr wraps an error of a PublicGroup state that cannot be
// loaded.
func publicStateErr(err error) error { return &decodeError{typ: "PublicGroup state", err: err} }

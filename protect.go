package mls

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/codec"
)

// sentinelError is an error callers compare against with errors.Is that
// also matches the lower-level error it stands for.
type sentinelError struct {
	msg  string
	base error
}

func (e *sentinelError) Error() string { return e.msg }
func (e *sentinelError) Unwrap() error { return e.base }

// Errors of message protection, for callers that branch on them. The
// functions below wrap them with details (never secrets) where useful, so
// compare with errors.Is.
var (
	// ErrWrongGroup reports a message whose group_id is not the group's.
	ErrWrongGroup = errors.New("mls: message for another group")
	// ErrWrongEpoch reports a message sent in another epoch than the one
	// it is processed in.
	ErrWrongEpoch = errors.New("mls: message for another epoch")
	// ErrBadMembershipTag reports a PublicMessage from a member whose
	// membership_tag does not verify.
	ErrBadMembershipTag = errors.New("mls: membership tag does not verify")
	// ErrBadSignature reports a signature (of a message or a GroupInfo)
	// that does not verify. It matches ciphersuite.ErrVerification too.
	ErrBadSignature error = &sentinelError{"mls: signature does not verify", ciphersuite.ErrVerification}
	// ErrDecryption reports a PrivateMessage whose sender data or content
	// does not decrypt, or a Welcome whose GroupInfo does not. It matches
	// ciphersuite.ErrDecryption too.
	ErrDecryption error = &sentinelError{"mls: message does not decrypt", ciphersuite.ErrDecryption}
	// ErrPublicApplication reports application data framed as a
	// PublicMessage, which RFC 9420 section 6 forbids.
	ErrPublicApplication = errors.New("mls: application data must not be sent as a PublicMessage")
)

// maxPadBlock bounds the padding block size, so that a misconfiguration
// cannot make every message allocate a huge buffer.
const maxPadBlock = 1 << 16

// MemberKeyFunc returns the signature public key of the member at leaf in
// the epoch's ratchet tree, or an error if the leaf is blank or outside the
// tree (RFC 9420 section 6.3.2: a sender must be a non-blank leaf). The
// error is returned to the caller of the Unprotect method unchanged.
type MemberKeyFunc func(leaf LeafIndex) ([]byte, error)

// ProtectionContext holds what protecting and unprotecting the messages of
// one epoch of a group needs (RFC 9420 section 6): the suite, the
// GroupContext that member signatures cover, the membership_key of
// PublicMessages and the sender_data_secret and secret tree of
// PrivateMessages. The ratchet tree stays with the caller, who supplies
// the senders' signature keys through a MemberKeyFunc.
//
// The two protections split the work the same way: Sign makes an
// AuthenticatedContent; the caller sets the confirmation tag of a commit
// (it depends on the signature through the transcript hash); ProtectPublic
// or ProtectPrivate turns the AuthenticatedContent into a message. The
// receiving side, UnprotectPublic and UnprotectPrivate, checks everything
// up to and including the signature and returns the AuthenticatedContent.
//
// A ProtectionContext is safe for concurrent use if its SecretTree is
// (which it is), except Erase, which must not run while another call
// does: it zeroes the secrets that call reads.
type ProtectionContext struct {
	suite            *ciphersuite.Suite
	gc               GroupContext // a private copy: the fields must match gcBytes
	gcBytes          []byte
	membershipKey    []byte
	senderDataSecret []byte
	tree             *SecretTree
	kdf              *kdfHash // kdfHashOf(suite)
	// senderDataKey is senderDataSecret prepared once as the key of the
	// sender data key and nonce derivations of every message.
	senderDataKey hmacKey
}

// NewProtectionContext returns the protection context of the epoch whose
// GroupContext is gc (copied). membershipKey is needed to protect and
// unprotect PublicMessages from members, senderDataSecret and tree for
// PrivateMessages; either may be nil where that protection is not used (a
// new member signing an external commit has none of them). The context
// keeps its own copies of the secrets, so the caller may erase the epoch's
// secrets; it takes over tree. Erase ends the context.
func NewProtectionContext(gc *GroupContext, membershipKey, senderDataSecret []byte, tree *SecretTree) (*ProtectionContext, error) {
	s, err := ciphersuite.Lookup(gc.CipherSuite)
	if err != nil {
		return nil, err
	}
	gcBytes, err := gc.MarshalBinary()
	if err != nil {
		return nil, err
	}
	pc := &ProtectionContext{suite: s, gcBytes: gcBytes, membershipKey: bytes.Clone(membershipKey), senderDataSecret: bytes.Clone(senderDataSecret), tree: tree}
	if err := pc.gc.UnmarshalBinary(gcBytes); err != nil {
		return nil, err
	}
	for _, k := range []struct {
		name  string
		value []byte
	}{{"membership_key", membershipKey}, {"sender_data_secret", senderDataSecret}} {
		if k.value != nil && len(k.value) != s.HashSize() {
			return nil, fmt.Errorf("mls: %s is %d bytes, want %d", k.name, len(k.value), s.HashSize())
		}
	}
	if tree != nil && tree.suite.ID() != s.ID() {
		return nil, fmt.Errorf("mls: secret tree of suite %v for a group of suite %v", tree.suite.ID(), s.ID())
	}
	pc.kdf = kdfHashOf(s)
	if senderDataSecret != nil {
		pc.senderDataKey = newHMACKey(s, pc.kdf, senderDataSecret)
	}
	return pc, nil
}

// Erase zeroes the context's secrets and erases its secret tree, as when
// its epoch leaves the window of epochs kept. Protecting or unprotecting
// fails afterwards.
func (pc *ProtectionContext) Erase() {
	erase(&pc.membershipKey, &pc.senderDataSecret)
	pc.senderDataKey.erase()
	if pc.tree != nil {
		pc.tree.Erase()
	}
}

// Suite returns the cipher suite of the group.
func (pc *ProtectionContext) Suite() *ciphersuite.Suite { return pc.suite }

// GroupContext returns the encoded GroupContext of the epoch. The caller
// must not modify it.
func (pc *ProtectionContext) GroupContext() []byte { return pc.gcBytes }

// String describes the context without revealing any secret.
func (pc *ProtectionContext) String() string {
	return fmt.Sprintf("mls.ProtectionContext(epoch %d, redacted)", pc.gc.Epoch)
}

// GoString keeps %#v from printing secrets.
func (pc *ProtectionContext) GoString() string { return pc.String() }

// checkGroupEpoch checks that a message belongs to this context's group and epoch.
func (pc *ProtectionContext) checkGroupEpoch(groupID []byte, epoch uint64) error {
	if !bytes.Equal(groupID, pc.gc.GroupID) {
		return ErrWrongGroup
	}
	if epoch != pc.gc.Epoch {
		return fmt.Errorf("%w: message of epoch %d in epoch %d", ErrWrongEpoch, epoch, pc.gc.Epoch)
	}
	return nil
}

// Sign signs content as the sender will frame it, in wireFormat, and
// returns the AuthenticatedContent (RFC 9420 section 6.1): the signature is
// SignWithLabel(signer, "FramedContentTBS", FramedContentTBS), which covers
// the GroupContext for member and new_member_commit senders. For a commit,
// the caller then sets Auth.ConfirmationTag. content must carry this
// context's group_id and epoch; application data must be sent as a
// PrivateMessage, and only members send PrivateMessages.
func (pc *ProtectionContext) Sign(signer *ciphersuite.SigningKey, wireFormat WireFormat, content *FramedContent) (*AuthenticatedContent, error) {
	if err := pc.checkGroupEpoch(content.GroupID, content.Epoch); err != nil {
		return nil, err
	}
	switch wireFormat {
	case WireFormatPublicMessage:
		if content.ContentType == ContentTypeApplication {
			return nil, ErrPublicApplication
		}
	case WireFormatPrivateMessage:
		if content.Sender.SenderType != SenderTypeMember {
			return nil, fmt.Errorf("mls: a %v sender cannot send a PrivateMessage", content.Sender.SenderType)
		}
	default:
		return nil, fmt.Errorf("mls: content cannot be framed as %v", wireFormat)
	}
	if content.ContentType == ContentTypeCommit && content.Commit != nil {
		// The signature, the membership tag and the transcript hash take
		// a commit from its signed bytes, and the message carries its
		// fields: encode them now, or a decoded commit that was changed
		// would be signed as it was received but sent as it is (RFC 9420
		// section 6.1). A copy, so that the caller's Commit is not
		// written to.
		c := *content.Commit
		if err := c.encodeSigned(); err != nil {
			return nil, err
		}
		fc := *content
		fc.Commit = &c
		content = &fc
	}
	var sig []byte
	err := pc.withTBS(content, wireFormat, func(tbs []byte) (err error) {
		sig, err = pc.suite.SignWithLabel(signer, "FramedContentTBS", tbs)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &AuthenticatedContent{WireFormat: wireFormat, Content: *content, Auth: FramedContentAuthData{Signature: sig}}, nil
}

// tbsBuilder returns a builder large enough for c's FramedContentTBS and
// extra more bytes, so that a large application message is not copied
// again as the buffer grows.
func (pc *ProtectionContext) tbsBuilder(c *FramedContent, extra int) *codec.Builder {
	return codec.NewBuilder(pc.tbsSize(c, extra))
}

func (pc *ProtectionContext) tbsSize(c *FramedContent, extra int) int {
	return len(pc.gcBytes) + len(c.GroupID) + len(c.AuthenticatedData) + len(c.ApplicationData) + 256 + extra
}

// withTBS calls f with the FramedContentTBS of c sent as wireFormat in
// this epoch, encoded in a pooled buffer that f must not keep (signing and
// verifying only read it).
func (pc *ProtectionContext) withTBS(c *FramedContent, wireFormat WireFormat, f func(tbs []byte) error) error {
	sc := getScratch(pc.tbsSize(c, 0))
	b := codec.NewBuilderOn(sc.buf)
	c.marshalTBS(b, wireFormat, pc.gcBytes)
	tbs, err := b.Bytes()
	if err != nil {
		return err
	}
	err = f(tbs)
	sc.put(tbs)
	return err
}

// pooledAADs encodes m's PrivateContentAAD, whose first sdAADLen bytes are
// its SenderDataAAD, in a scratch buffer with room for a SenderData after
// it. The caller puts the buffer back.
func (m *PrivateMessage) pooledAADs() (sc *scratch, aad []byte, sdAADLen int, err error) {
	sc = getScratch(len(m.GroupID) + len(m.AuthenticatedData) + 32 + senderDataSize)
	b := codec.NewBuilderOn(sc.buf)
	sdAADLen = m.marshalAADs(b)
	aad, err = b.Bytes()
	return sc, aad, sdAADLen, err
}

// scratch is a buffer for an encoding that lives only during one call: a
// FramedContentTBS while it is signed or verified, a PrivateMessage's
// plaintext while it is encrypted, its AADs. Pooling them spares each message side
// one or two fresh allocations of the message's size.
type scratch struct{ buf []byte }

var scratchPool sync.Pool

// maxPooledScratch keeps the encoding of a large commit out of the pool.
const maxPooledScratch = 1 << 16

// getScratch returns a scratch buffer of capacity n or more.
func getScratch(n int) *scratch {
	sc, _ := scratchPool.Get().(*scratch)
	if sc == nil {
		sc = new(scratch)
	}
	if cap(sc.buf) < n {
		sc.buf = make([]byte, 0, n)
	}
	return sc
}

// put zeroes used, what the buffer held last (it may be application
// data), and returns the buffer to the pool.
func (sc *scratch) put(used []byte) {
	clear(used)
	if cap(used) > maxPooledScratch {
		return
	}
	sc.buf = used[:0]
	scratchPool.Put(sc)
}

// checkOutgoing checks an AuthenticatedContent about to be protected as
// wireFormat.
func (pc *ProtectionContext) checkOutgoing(ac *AuthenticatedContent, wireFormat WireFormat) error {
	if ac.WireFormat != wireFormat {
		// The signature covers the wire format: it cannot change now.
		return fmt.Errorf("mls: content signed for %v cannot be sent as %v", ac.WireFormat, wireFormat)
	}
	if ac.Content.ContentType == ContentTypeCommit && ac.Auth.ConfirmationTag == nil {
		return errors.New("mls: commit without a confirmation tag")
	}
	return pc.checkGroupEpoch(ac.Content.GroupID, ac.Content.Epoch)
}

// ProtectPublic frames ac, signed for WireFormatPublicMessage, as a
// PublicMessage (RFC 9420 section 6.2), adding the membership tag
// MAC(membership_key, AuthenticatedContentTBM) when the sender is a member.
func (pc *ProtectionContext) ProtectPublic(ac *AuthenticatedContent) (*PublicMessage, error) {
	if ac.Content.ContentType == ContentTypeApplication {
		return nil, ErrPublicApplication
	}
	if err := pc.checkOutgoing(ac, WireFormatPublicMessage); err != nil {
		return nil, err
	}
	m := &PublicMessage{Content: ac.Content, Auth: ac.Auth}
	if ac.Content.Sender.SenderType != SenderTypeMember {
		return m, nil
	}
	if pc.membershipKey == nil {
		return nil, errors.New("mls: no membership key to protect a PublicMessage")
	}
	tbm, err := m.TBM(pc.gcBytes)
	if err != nil {
		return nil, err
	}
	m.MembershipTag = pc.suite.MAC(pc.membershipKey, tbm)
	return m, nil
}

// UnprotectPublic checks a PublicMessage received in this context's epoch
// and returns the AuthenticatedContent it carries (RFC 9420 section 6.2):
// group and epoch, the sender type against the content type (section 6.1),
// the membership tag of a member's message (in constant time), and the
// signature. The signature key of a member comes from memberKey; that of
// an external sender from the external_senders extension of the
// GroupContext; that of a new member from the KeyPackage of its Add
// proposal or the LeafNode of its commit's path.
//
// Application data is rejected with ErrPublicApplication. Semantic checks
// of the content (which proposals an external sender may send, the
// validity of a new member's KeyPackage or path) are left to the caller,
// and so is a commit's confirmation tag, which needs the new epoch's
// confirmation key (see VerifyConfirmationTag).
func (pc *ProtectionContext) UnprotectPublic(m *PublicMessage, memberKey MemberKeyFunc) (*AuthenticatedContent, error) {
	return pc.unprotectPublic(m, memberKey, true)
}

// unprotectPublic is UnprotectPublic; a client outside the group, which
// has no membership key, passes membership false to leave the membership
// tag of a member's message unchecked (RFC 9420 section 6.2: only members
// hold membership_key): a public observer, and an external joiner
// validating SelfRemove proposals (draft-ietf-mls-extensions).
func (pc *ProtectionContext) unprotectPublic(m *PublicMessage, memberKey MemberKeyFunc, membership bool) (*AuthenticatedContent, error) {
	c := &m.Content
	if c.ContentType == ContentTypeApplication {
		return nil, ErrPublicApplication
	}
	if err := pc.checkGroupEpoch(c.GroupID, c.Epoch); err != nil {
		return nil, err
	}
	pub, err := pc.senderKey(c, memberKey)
	if err != nil {
		return nil, err
	}
	// AuthenticatedContentTBM is FramedContentTBS followed by the auth
	// data: encode it once, and verify the signature over its prefix.
	b := pc.tbsBuilder(c, 256)
	c.marshalTBS(b, WireFormatPublicMessage, pc.gcBytes)
	tbsLen := b.Len()
	if c.Sender.SenderType == SenderTypeMember {
		m.Auth.marshal(b, c.ContentType)
	}
	tbm, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	if c.Sender.SenderType == SenderTypeMember && membership {
		if pc.membershipKey == nil {
			return nil, errors.New("mls: no membership key to check a PublicMessage")
		}
		if !pc.suite.VerifyMAC(pc.membershipKey, tbm, m.MembershipTag) {
			return nil, ErrBadMembershipTag
		}
	}
	if err := pc.verify(pub, tbm[:tbsLen], m.Auth.Signature); err != nil {
		return nil, err
	}
	return m.AuthenticatedContent(), nil
}

// senderKey returns the key that must have signed c, a PublicMessage's
// content, after checking that its sender may send it (RFC 9420 section 6.1).
func (pc *ProtectionContext) senderKey(c *FramedContent, memberKey MemberKeyFunc) ([]byte, error) {
	st := c.Sender.SenderType
	if st == SenderTypeMember && memberKey == nil {
		return nil, errors.New("mls: no member key lookup to check a member's message")
	}
	wrongType := func() error { return fmt.Errorf("mls: a %v sender cannot send %v content", st, c.ContentType) }
	switch st {
	case SenderTypeMember:
		return memberKey(c.Sender.LeafIndex)
	case SenderTypeExternal:
		if c.ContentType != ContentTypeProposal {
			return nil, wrongType()
		}
		ext, ok := pc.gc.Extensions.Find(ExtensionTypeExternalSenders)
		if !ok {
			return nil, errors.New("mls: external sender in a group without external_senders")
		}
		var senders ExternalSenders
		if err := senders.UnmarshalBinary(ext.ExtensionData); err != nil {
			return nil, err
		}
		if uint64(c.Sender.SenderIndex) >= uint64(len(senders)) {
			return nil, fmt.Errorf("mls: external sender index %d out of range (%d senders)", c.Sender.SenderIndex, len(senders))
		}
		return senders[c.Sender.SenderIndex].SignatureKey, nil
	case SenderTypeNewMemberProposal:
		if c.ContentType != ContentTypeProposal || c.Proposal.Add == nil {
			return nil, errors.New("mls: a new_member_proposal sender can only propose an Add")
		}
		return c.Proposal.Add.KeyPackage.LeafNode.SignatureKey, nil
	case SenderTypeNewMemberCommit:
		if c.ContentType != ContentTypeCommit {
			return nil, wrongType()
		}
		if c.Commit.Path == nil {
			return nil, errors.New("mls: a new_member_commit without a path")
		}
		return c.Commit.Path.LeafNode.SignatureKey, nil
	}
	return nil, fmt.Errorf("mls: invalid sender type %d", uint8(st))
}

// verify checks a FramedContentTBS signature.
func (pc *ProtectionContext) verify(pub, tbs, sig []byte) error {
	return verifyLabeled(pc.suite, pub, "FramedContentTBS", tbs, sig)
}

// verifyLabeled verifies a signature, mapping a wrong one to
// ErrBadSignature and keeping other failures (a malformed key) apart.
func verifyLabeled(s *ciphersuite.Suite, pub []byte, label string, tbs, sig []byte) error {
	err := s.VerifyWithLabel(pub, label, tbs, sig)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ciphersuite.ErrVerification):
		return ErrBadSignature
	default:
		return fmt.Errorf("mls: signature key: %w", err)
	}
}

// ratchetFor returns the ratchet that protects content of type ct.
func ratchetFor(ct ContentType) RatchetType {
	if ct == ContentTypeApplication {
		return ApplicationRatchet
	}
	return HandshakeRatchet
}

// applyReuseGuard XORs the reuse guard into the first bytes of nonce (RFC
// 9420 section 6.3.1).
func applyReuseGuard(nonce []byte, guard [4]byte) {
	for i, g := range guard {
		nonce[i] ^= g
	}
}

// ProtectPrivate encrypts ac, signed by a member for
// WireFormatPrivateMessage, as a PrivateMessage (RFC 9420 section 6.3). It
// takes the next generation of the sender's handshake ratchet (proposals,
// commits) or application ratchet, XORs a fresh random reuse guard into the
// nonce, pads the PrivateMessageContent with zero bytes to a multiple of
// padBlock bytes (0 or 1: no padding; at most 65536), and encrypts the
// sender data under a key derived from a sample of the ciphertext.
func (pc *ProtectionContext) ProtectPrivate(ac *AuthenticatedContent, padBlock int) (*PrivateMessage, error) {
	if err := pc.checkOutgoing(ac, WireFormatPrivateMessage); err != nil {
		return nil, err
	}
	c := &ac.Content
	if c.Sender.SenderType != SenderTypeMember {
		return nil, fmt.Errorf("mls: a %v sender cannot send a PrivateMessage", c.Sender.SenderType)
	}
	if padBlock < 0 || padBlock > maxPadBlock {
		return nil, fmt.Errorf("mls: padding block size %d out of range [0, %d]", padBlock, maxPadBlock)
	}
	if pc.tree == nil || pc.senderDataSecret == nil {
		return nil, errors.New("mls: no secret tree to protect a PrivateMessage")
	}

	// PrivateMessageContent: the content, its auth data, then zero bytes.
	sc := getScratch(len(c.ApplicationData) + len(ac.Auth.Signature) + 256 + padBlock)
	b := codec.NewBuilderOn(sc.buf)
	marshalContentBody(b, c.ContentType, c.ApplicationData, c.Proposal, c.Commit)
	ac.Auth.marshal(b, c.ContentType)
	if padBlock > 1 {
		if r := b.Len() % padBlock; r != 0 {
			addZeros(b, padBlock-r)
		}
	}
	plaintext, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	m := &PrivateMessage{GroupID: c.GroupID, Epoch: c.Epoch, ContentType: c.ContentType, AuthenticatedData: c.AuthenticatedData}
	// One buffer holds both AADs, and then the SenderData.
	asc, aad, sdAADLen, err := m.pooledAADs()
	if err != nil {
		sc.put(plaintext)
		return nil, err
	}

	// e holds the sender data key and lends its buffer to the keys.
	e := getExpander(pc.suite, pc.kdf)
	defer e.release()
	sd := SenderData{LeafIndex: c.Sender.LeafIndex}
	rand.Read(sd.ReuseGuard[:])
	gen, key, nonce, err := pc.tree.nextKey(sd.LeafIndex, ratchetFor(c.ContentType), pc.keyBuf(e))
	if err != nil {
		// The plaintext may be application data: zeroed on every return.
		sc.put(plaintext)
		asc.put(aad)
		return nil, err
	}
	sd.Generation = gen
	applyReuseGuard(nonce, sd.ReuseGuard)
	m.Ciphertext, err = pc.suite.Seal(key, nonce, aad, plaintext)
	clear(key)
	clear(nonce)
	sc.put(plaintext)
	if err != nil {
		return nil, err
	}

	sdKey, sdNonce, err := pc.senderDataKeyNonce(e, m.Ciphertext)
	if err != nil {
		return nil, err
	}
	aadSD := sd.appendBinary(aad)
	defer asc.put(aadSD)
	m.EncryptedSenderData, err = pc.suite.Seal(sdKey, sdNonce, aad[:sdAADLen], aadSD[len(aad):])
	clear(sdKey)
	clear(sdNonce)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// UnprotectPrivate decrypts and checks a PrivateMessage received in this
// context's epoch and returns the AuthenticatedContent it carries (RFC 9420
// section 6.3): group and epoch; the sender data, whose leaf must be a
// member (memberKey returns its signature key or an error); the content,
// under the key of the sender's ratchet generation with the reuse guard
// applied; the zero padding; and the signature.
//
// As with UnprotectPublic, a commit's confirmation tag is left to the
// caller. The ratchet generation is consumed only once all of this has
// succeeded, so a forged or corrupted message cannot burn the generation of
// the real one. A generation already consumed (a replay) fails with
// ErrGenerationReused; see SecretTree for the other ratchet errors.
func (pc *ProtectionContext) UnprotectPrivate(m *PrivateMessage, memberKey MemberKeyFunc) (*AuthenticatedContent, error) {
	if err := pc.checkGroupEpoch(m.GroupID, m.Epoch); err != nil {
		return nil, err
	}
	if m.ContentType < ContentTypeApplication || m.ContentType > ContentTypeCommit {
		return nil, fmt.Errorf("mls: invalid content_type %d", uint8(m.ContentType))
	}
	if pc.tree == nil || pc.senderDataSecret == nil {
		return nil, errors.New("mls: no secret tree to unprotect a PrivateMessage")
	}
	if memberKey == nil {
		return nil, errors.New("mls: no member key lookup to check a PrivateMessage")
	}
	asc, aad, sdAADLen, err := m.pooledAADs()
	if err != nil {
		return nil, err
	}
	defer asc.put(aad)
	// e holds the sender data key and lends its buffer to the keys.
	e := getExpander(pc.suite, pc.kdf)
	defer e.release()
	sd, err := pc.openSenderData(e, m, aad[:sdAADLen])
	if err != nil {
		return nil, err
	}
	pub, err := memberKey(sd.LeafIndex)
	if err != nil {
		return nil, err
	}

	rt := ratchetFor(m.ContentType)
	key, nonce, err := pc.tree.peekKey(sd.LeafIndex, rt, sd.Generation, pc.keyBuf(e))
	if err != nil {
		return nil, err
	}
	applyReuseGuard(nonce, sd.ReuseGuard)
	plaintext, err := pc.suite.Open(key, nonce, aad, m.Ciphertext)
	clear(key)
	clear(nonce)
	if err != nil {
		return nil, ErrDecryption
	}
	var pmc PrivateMessageContent
	if err := pmc.unmarshalPlaintext(plaintext, m.ContentType); err != nil {
		return nil, err
	}
	ac := &AuthenticatedContent{
		WireFormat: WireFormatPrivateMessage,
		Content: FramedContent{
			GroupID:           m.GroupID,
			Epoch:             m.Epoch,
			Sender:            Sender{SenderType: SenderTypeMember, LeafIndex: sd.LeafIndex},
			AuthenticatedData: m.AuthenticatedData,
			ContentType:       m.ContentType,
			ApplicationData:   pmc.ApplicationData,
			Proposal:          pmc.Proposal,
			Commit:            pmc.Commit,
		},
		Auth: pmc.Auth,
	}
	err = pc.withTBS(&ac.Content, WireFormatPrivateMessage, func(tbs []byte) error {
		return pc.verify(pub, tbs, ac.Auth.Signature)
	})
	if err != nil {
		return nil, err
	}
	if err := pc.tree.ConsumeKey(sd.LeafIndex, rt, sd.Generation); err != nil {
		return nil, err
	}
	return ac, nil
}

// openSenderData decrypts and decodes m's sender data (RFC 9420 section
// 6.3.2), whose encoded SenderDataAAD is aad.
func (pc *ProtectionContext) openSenderData(e *expander, m *PrivateMessage, aad []byte) (SenderData, error) {
	var sd SenderData
	key, nonce, err := pc.senderDataKeyNonce(e, m.Ciphertext)
	if err != nil {
		return sd, err
	}
	plaintext, err := pc.suite.Open(key, nonce, aad, m.EncryptedSenderData)
	clear(key)
	clear(nonce)
	if err != nil {
		return sd, ErrDecryption
	}
	err = sd.UnmarshalBinary(plaintext)
	return sd, err
}

// senderDataKeyNonce is SenderDataKeyNonce with the context's prepared
// sender_data_secret, computed with e into e.keyBuf.
func (pc *ProtectionContext) senderDataKeyNonce(e *expander, ciphertext []byte) (key, nonce []byte, err error) {
	e.loadKey(&pc.senderDataKey)
	return e.keyNonce(pc.keyBuf(e), senderDataSample(pc.suite, ciphertext))
}

// keyBuf returns e's buffer for one AEAD key and nonce.
func (pc *ProtectionContext) keyBuf(e *expander) []byte {
	return e.keyBuf(pc.suite.AEADKeySize() + pc.suite.AEADNonceSize())
}

// zeroBlock is a source of padding.
var zeroBlock [512]byte

// addZeros appends n zero bytes to b.
func addZeros(b *codec.Builder, n int) {
	for n > 0 {
		k := min(n, len(zeroBlock))
		b.AddRaw(zeroBlock[:k])
		n -= k
	}
}

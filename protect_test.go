package mls

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
)

// frGroup is an epoch of a test group of frLeaves members as the framing
// layer sees it: the GroupContext, the epoch secrets and each member's
// signature key. Sender and receiver each get their own ProtectionContext
// (their own secret trees), as two members would.
type frGroup struct {
	t       testing.TB
	suite   *ciphersuite.Suite
	gc      GroupContext
	secrets *EpochSecrets
	keys    []*ciphersuite.SigningKey
}

const frLeaves = 3

func newFrGroup(t testing.TB, id ciphersuite.ID) *frGroup {
	t.Helper()
	s, err := ciphersuite.Lookup(id)
	if err != nil {
		t.Fatal(err)
	}
	g := &frGroup{t: t, suite: s, gc: GroupContext{
		Version:                 ProtocolVersionMLS10,
		CipherSuite:             id,
		GroupID:                 []byte("framing test group"),
		Epoch:                   7,
		TreeHash:                bytes.Repeat([]byte{1}, s.HashSize()),
		ConfirmedTranscriptHash: bytes.Repeat([]byte{2}, s.HashSize()),
	}}
	gcBytes, err := g.gc.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	initSecret := make([]byte, s.HashSize())
	rand.Read(initSecret)
	if g.secrets, err = DeriveEpochSecrets(s, initSecret, nil, nil, gcBytes); err != nil {
		t.Fatal(err)
	}
	for range frLeaves {
		k, err := s.GenerateSigningKey()
		if err != nil {
			t.Fatal(err)
		}
		g.keys = append(g.keys, k)
	}
	return g
}

// context returns a member's view of the epoch, with a fresh secret tree.
func (g *frGroup) context() *ProtectionContext {
	g.t.Helper()
	tree, err := NewSecretTree(g.suite, g.secrets.EncryptionSecret(), frLeaves, SecretTreeConfig{})
	if err != nil {
		g.t.Fatal(err)
	}
	pc, err := NewProtectionContext(&g.gc, g.secrets.MembershipKey(), g.secrets.SenderDataSecret(), tree)
	if err != nil {
		g.t.Fatal(err)
	}
	return pc
}

// transmit protects ac with sender as a message of wire format wf, and
// unprotects its wire encoding with receiver.
func (g *frGroup) transmit(t *testing.T, sender, receiver *ProtectionContext, wf WireFormat, ac *AuthenticatedContent) (*AuthenticatedContent, error) {
	t.Helper()
	if wf == WireFormatPublicMessage {
		m, err := sender.ProtectPublic(ac)
		if err != nil {
			t.Fatal(err)
		}
		return receiver.UnprotectPublic(wireCopy(t, m), g.memberKey)
	}
	m, err := sender.ProtectPrivate(ac, 0)
	if err != nil {
		t.Fatal(err)
	}
	return receiver.UnprotectPrivate(wireCopy(t, m), g.memberKey)
}

func (g *frGroup) memberKey(leaf LeafIndex) ([]byte, error) {
	if int(leaf) >= len(g.keys) || g.keys[leaf] == nil {
		return nil, fmt.Errorf("mls: leaf %d is blank", leaf)
	}
	return g.keys[leaf].PublicKey(), nil
}

// content returns FramedContent of type ct from member leaf.
func (g *frGroup) content(leaf LeafIndex, ct ContentType, appData []byte) *FramedContent {
	fc := &FramedContent{
		GroupID:           g.gc.GroupID,
		Epoch:             g.gc.Epoch,
		Sender:            Sender{SenderType: SenderTypeMember, LeafIndex: leaf},
		AuthenticatedData: []byte("aad"),
		ContentType:       ct,
	}
	switch ct {
	case ContentTypeApplication:
		fc.ApplicationData = appData
	case ContentTypeProposal:
		fc.Proposal = &Proposal{Remove: &RemoveProposal{Removed: 2}}
	case ContentTypeCommit:
		fc.Commit = &Commit{Proposals: []ProposalOrRef{{Reference: bytes.Repeat([]byte{3}, g.suite.HashSize())}}}
	}
	return fc
}

// sign signs content of type ct from leaf for wf, with a confirmation tag
// for commits.
func (g *frGroup) sign(pc *ProtectionContext, leaf LeafIndex, ct ContentType, wf WireFormat, appData []byte) *AuthenticatedContent {
	g.t.Helper()
	ac, err := pc.Sign(g.keys[leaf], wf, g.content(leaf, ct, appData))
	if err != nil {
		g.t.Fatal(err)
	}
	if ct == ContentTypeCommit {
		ac.Auth.ConfirmationTag = ConfirmationTag(g.suite, g.secrets.ConfirmationKey(), g.gc.ConfirmedTranscriptHash)
	}
	return ac
}

func (g *frGroup) protectPrivate(pc *ProtectionContext, leaf LeafIndex, ct ContentType, appData []byte, padBlock int) *PrivateMessage {
	g.t.Helper()
	m, err := pc.ProtectPrivate(g.sign(pc, leaf, ct, WireFormatPrivateMessage, appData), padBlock)
	if err != nil {
		g.t.Fatal(err)
	}
	return m
}

func (g *frGroup) protectPublic(pc *ProtectionContext, leaf LeafIndex, ct ContentType) *PublicMessage {
	g.t.Helper()
	m, err := pc.ProtectPublic(g.sign(pc, leaf, ct, WireFormatPublicMessage, nil))
	if err != nil {
		g.t.Fatal(err)
	}
	return m
}

// wireCopy returns m after an encoding round trip, as a receiver gets it.
func wireCopy[T any, P interface {
	*T
	binaryValue
}](t testing.TB, m P) P {
	t.Helper()
	data, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	out := P(new(T))
	if err := out.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	return out
}

// sameContent checks that an unprotected AuthenticatedContent carries
// exactly what was sent.
func sameContent(t *testing.T, got, want *AuthenticatedContent) {
	t.Helper()
	g, err := got.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	w, err := want.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g, w) {
		t.Fatalf("unprotected content differs from the content sent")
	}
}

func TestProtectRoundTrip(t *testing.T) {
	for _, id := range ciphersuite.IDs() {
		t.Run(id.String(), func(t *testing.T) {
			g := newFrGroup(t, id)
			sender, receiver := g.context(), g.context()
			for _, ct := range []ContentType{ContentTypeApplication, ContentTypeProposal, ContentTypeCommit} {
				ac := g.sign(sender, 1, ct, WireFormatPrivateMessage, []byte("hello"))
				m, err := sender.ProtectPrivate(ac, 32)
				if err != nil {
					t.Fatal(err)
				}
				got, err := receiver.UnprotectPrivate(wireCopy(t, m), g.memberKey)
				if err != nil {
					t.Fatalf("%v as PrivateMessage: %v", ct, err)
				}
				sameContent(t, got, ac)
				if ct == ContentTypeApplication {
					continue
				}
				ac = g.sign(sender, 2, ct, WireFormatPublicMessage, nil)
				pm, err := sender.ProtectPublic(ac)
				if err != nil {
					t.Fatal(err)
				}
				if got, err = receiver.UnprotectPublic(wireCopy(t, pm), g.memberKey); err != nil {
					t.Fatalf("%v as PublicMessage: %v", ct, err)
				}
				sameContent(t, got, ac)
			}
		})
	}
}

func TestUnprotectTamperedMembershipTag(t *testing.T) {
	g := newFrGroup(t, 1)
	m := g.protectPublic(g.context(), 1, ContentTypeProposal)
	m.MembershipTag[0] ^= 1
	if _, err := g.context().UnprotectPublic(m, g.memberKey); !errors.Is(err, ErrBadMembershipTag) {
		t.Fatalf("got %v, want ErrBadMembershipTag", err)
	}
	// A tag under another epoch's membership key fails the same way.
	m = g.protectPublic(g.context(), 1, ContentTypeProposal)
	other := newFrGroup(t, 1)
	other.gc = g.gc
	pc, err := NewProtectionContext(&g.gc, other.secrets.MembershipKey(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.UnprotectPublic(m, g.memberKey); !errors.Is(err, ErrBadMembershipTag) {
		t.Fatalf("other membership key: got %v, want ErrBadMembershipTag", err)
	}
}

func TestUnprotectTamperedSignature(t *testing.T) {
	g := newFrGroup(t, 1)
	m := g.protectPublic(g.context(), 1, ContentTypeCommit)
	// Re-tag the message so that only the signature is wrong.
	m.Auth.Signature[0] ^= 1
	tbm, err := m.TBM(g.context().GroupContext())
	if err != nil {
		t.Fatal(err)
	}
	m.MembershipTag = g.suite.MAC(g.secrets.MembershipKey(), tbm)
	_, err = g.context().UnprotectPublic(m, g.memberKey)
	if !errors.Is(err, ErrBadSignature) || !errors.Is(err, ciphersuite.ErrVerification) {
		t.Fatalf("got %v, want ErrBadSignature wrapping ciphersuite.ErrVerification", err)
	}

	// A PrivateMessage signed by another member's key than its sender's.
	sender, receiver := g.context(), g.context()
	ac, err := sender.Sign(g.keys[2], WireFormatPrivateMessage, g.content(1, ContentTypeApplication, []byte("forged")))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := sender.ProtectPrivate(ac, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := receiver.UnprotectPrivate(forged, g.memberKey); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("PrivateMessage: got %v, want ErrBadSignature", err)
	}
	// The forgery did not consume generation 0 of leaf 1: a genuine
	// message of that generation (from a sender whose ratchet is fresh)
	// still decrypts.
	genuine := g.protectPrivate(g.context(), 1, ContentTypeApplication, []byte("genuine"), 0)
	if _, err := receiver.UnprotectPrivate(genuine, g.memberKey); err != nil {
		t.Fatalf("genuine message after a forgery: %v", err)
	}
}

func TestUnprotectWrongEpochAndGroup(t *testing.T) {
	g := newFrGroup(t, 1)
	sender := g.context()
	priv := g.protectPrivate(sender, 0, ContentTypeApplication, []byte("x"), 0)
	pub := g.protectPublic(sender, 0, ContentTypeProposal)

	for _, c := range []struct {
		name   string
		change func(gc *GroupContext)
		want   error
	}{
		{"next epoch", func(gc *GroupContext) { gc.Epoch++ }, ErrWrongEpoch},
		{"previous epoch", func(gc *GroupContext) { gc.Epoch-- }, ErrWrongEpoch},
		{"other group", func(gc *GroupContext) { gc.GroupID = []byte("another group") }, ErrWrongGroup},
	} {
		gc := g.gc
		c.change(&gc)
		tree, err := NewSecretTree(g.suite, g.secrets.EncryptionSecret(), frLeaves, SecretTreeConfig{})
		if err != nil {
			t.Fatal(err)
		}
		pc, err := NewProtectionContext(&gc, g.secrets.MembershipKey(), g.secrets.SenderDataSecret(), tree)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pc.UnprotectPrivate(priv, g.memberKey); !errors.Is(err, c.want) {
			t.Errorf("%s, PrivateMessage: got %v, want %v", c.name, err, c.want)
		}
		if _, err := pc.UnprotectPublic(pub, g.memberKey); !errors.Is(err, c.want) {
			t.Errorf("%s, PublicMessage: got %v, want %v", c.name, err, c.want)
		}
		// Content of another epoch cannot be signed in this one either.
		if _, err := pc.Sign(g.keys[0], WireFormatPrivateMessage, g.content(0, ContentTypeApplication, nil)); !errors.Is(err, c.want) {
			t.Errorf("%s, Sign: got %v, want %v", c.name, err, c.want)
		}
	}
}

func TestUnprotectReplay(t *testing.T) {
	g := newFrGroup(t, 1)
	receiver := g.context()
	for _, ct := range []ContentType{ContentTypeApplication, ContentTypeCommit} {
		m := g.protectPrivate(g.context(), 1, ct, []byte("once"), 0)
		if _, err := receiver.UnprotectPrivate(m, g.memberKey); err != nil {
			t.Fatal(err)
		}
		if _, err := receiver.UnprotectPrivate(m, g.memberKey); !errors.Is(err, ErrGenerationReused) {
			t.Fatalf("%v replayed: got %v, want ErrGenerationReused", ct, err)
		}
	}
}

// frKeys are the secrets an insider of an epoch holds, enough to encrypt
// anything as any member.
type frKeys struct {
	suite                              *ciphersuite.Suite
	encryptionSecret, senderDataSecret []byte
	leaves                             uint32
}

func (g *frGroup) insider() *frKeys {
	return &frKeys{g.suite, g.secrets.EncryptionSecret(), g.secrets.SenderDataSecret(), frLeaves}
}

// sealRaw encrypts plaintext as a PrivateMessage with the header fields of
// hdr (group, epoch, content type, authenticated data) from leaf at
// generation gen, the way an insider can, with keys taken from a tree of
// its own: it lets tests send what ProtectPrivate never would.
func (k *frKeys) sealRaw(t testing.TB, hdr *PrivateMessage, leaf LeafIndex, gen uint32, plaintext []byte) *PrivateMessage {
	t.Helper()
	tree, err := NewSecretTree(k.suite, k.encryptionSecret, k.leaves, SecretTreeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	key, nonce, err := tree.Key(leaf, ratchetFor(hdr.ContentType), gen)
	if err != nil {
		t.Fatal(err)
	}
	m := &PrivateMessage{GroupID: hdr.GroupID, Epoch: hdr.Epoch, ContentType: hdr.ContentType, AuthenticatedData: hdr.AuthenticatedData}
	aad, err := m.ContentAAD().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if m.Ciphertext, err = k.suite.Seal(key, nonce, aad, plaintext); err != nil {
		t.Fatal(err)
	}
	sd, err := (&SenderData{LeafIndex: leaf, Generation: gen}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	sdAAD, err := m.SenderDataAAD().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	sdKey, sdNonce, err := SenderDataKeyNonce(k.suite, k.senderDataSecret, m.Ciphertext)
	if err != nil {
		t.Fatal(err)
	}
	if m.EncryptedSenderData, err = k.suite.Seal(sdKey, sdNonce, sdAAD, sd); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestUnprotectNonZeroPadding(t *testing.T) {
	g := newFrGroup(t, 1)
	pc := g.context()
	fc := g.content(1, ContentTypeApplication, []byte("padded"))
	hdr := &PrivateMessage{GroupID: fc.GroupID, Epoch: fc.Epoch, ContentType: fc.ContentType, AuthenticatedData: fc.AuthenticatedData}
	ac, err := pc.Sign(g.keys[1], WireFormatPrivateMessage, fc)
	if err != nil {
		t.Fatal(err)
	}
	pmc := PrivateMessageContent{ContentType: ContentTypeApplication, ApplicationData: fc.ApplicationData, Auth: ac.Auth, Padding: 8}
	plaintext, err := pmc.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	ok := g.insider().sealRaw(t, hdr, 1, 0, plaintext)
	// One non-zero padding byte rejects the message as malformed, without
	// consuming its generation.
	receiver := g.context()
	for _, i := range []int{1, 8} {
		bad := bytes.Clone(plaintext)
		bad[len(bad)-i] = 0x80
		_, err := receiver.UnprotectPrivate(g.insider().sealRaw(t, hdr, 1, 0, bad), g.memberKey)
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("non-zero padding byte %d from the end: got %v, want ErrMalformed", i, err)
		}
	}
	got, err := receiver.UnprotectPrivate(ok, g.memberKey)
	if err != nil {
		t.Fatalf("zero padding, after rejected messages: %v", err)
	}
	sameContent(t, got, ac)
}

func TestGarbageDoesNotBurnGeneration(t *testing.T) {
	for _, id := range []ciphersuite.ID{1, 3} {
		g := newFrGroup(t, id)
		receiver := g.context()
		m := g.protectPrivate(g.context(), 1, ContentTypeApplication, make([]byte, 1024), 0)
		// Corrupt the content past the sample the sender data key comes
		// from: the sender data still decrypts, the content does not.
		garbage := *m
		garbage.Ciphertext = bytes.Clone(m.Ciphertext)
		garbage.Ciphertext[len(garbage.Ciphertext)-1] ^= 1
		if _, err := receiver.UnprotectPrivate(&garbage, g.memberKey); !errors.Is(err, ErrDecryption) || !errors.Is(err, ciphersuite.ErrDecryption) {
			t.Fatalf("corrupted content: got %v, want ErrDecryption", err)
		}
		// Corrupting the sample breaks the sender data instead.
		garbage.Ciphertext[0] ^= 1
		if _, err := receiver.UnprotectPrivate(&garbage, g.memberKey); !errors.Is(err, ErrDecryption) {
			t.Fatalf("corrupted sample: got %v, want ErrDecryption", err)
		}
		garbage = *m
		garbage.EncryptedSenderData = bytes.Clone(m.EncryptedSenderData)
		garbage.EncryptedSenderData[2] ^= 1
		if _, err := receiver.UnprotectPrivate(&garbage, g.memberKey); !errors.Is(err, ErrDecryption) {
			t.Fatalf("corrupted sender data: got %v, want ErrDecryption", err)
		}
		garbage = *m
		garbage.AuthenticatedData = []byte("changed")
		if _, err := receiver.UnprotectPrivate(&garbage, g.memberKey); !errors.Is(err, ErrDecryption) {
			t.Fatalf("changed authenticated data: got %v, want ErrDecryption", err)
		}
		if _, err := receiver.UnprotectPrivate(m, g.memberKey); err != nil {
			t.Fatalf("real message after garbage: %v", err)
		}
	}
}

func TestUnprotectSenderNotMember(t *testing.T) {
	g := newFrGroup(t, 1)
	receiver := g.context()
	m := g.protectPrivate(g.context(), 2, ContentTypeApplication, []byte("x"), 0)
	blank := func(leaf LeafIndex) ([]byte, error) {
		if leaf == 2 {
			return nil, errors.New("mls: leaf 2 is blank")
		}
		return g.memberKey(leaf)
	}
	if _, err := receiver.UnprotectPrivate(m, blank); err == nil || !strings.Contains(err.Error(), "blank") {
		t.Fatalf("message from a blank leaf: got %v", err)
	}
	if _, err := receiver.UnprotectPrivate(m, g.memberKey); err != nil {
		t.Fatalf("after the leaf was rejected once: %v", err)
	}
}

func TestPaddingSizes(t *testing.T) {
	g := newFrGroup(t, 1)
	sender, receiver := g.context(), g.context()
	const tagSize = 16 // AES-GCM and ChaCha20-Poly1305
	for _, block := range []int{0, 1, 2, 16, 100, 256, 4096, maxPadBlock} {
		for _, n := range []int{0, 1, 15, 16, 17, 200, 1024} {
			ac := g.sign(sender, 0, ContentTypeApplication, WireFormatPrivateMessage, make([]byte, n))
			unpadded, err := (&PrivateMessageContent{ContentType: ContentTypeApplication, ApplicationData: ac.Content.ApplicationData, Auth: ac.Auth}).MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			m, err := sender.ProtectPrivate(ac, block)
			if err != nil {
				t.Fatal(err)
			}
			want := len(unpadded)
			if block > 1 {
				want = (want + block - 1) / block * block
			}
			if got := len(m.Ciphertext) - tagSize; got != want {
				t.Errorf("block %d, %d bytes of data: plaintext of %d bytes, want %d", block, n, got, want)
			}
			got, err := receiver.UnprotectPrivate(m, g.memberKey)
			if err != nil {
				t.Fatalf("block %d: %v", block, err)
			}
			sameContent(t, got, ac)
		}
	}
	for _, bad := range []int{-1, maxPadBlock + 1} {
		ac := g.sign(sender, 0, ContentTypeApplication, WireFormatPrivateMessage, nil)
		if _, err := sender.ProtectPrivate(ac, bad); err == nil {
			t.Errorf("padding block %d accepted", bad)
		}
	}
}

func TestApplicationNeverPublic(t *testing.T) {
	g := newFrGroup(t, 1)
	pc := g.context()
	fc := g.content(0, ContentTypeApplication, []byte("secret"))
	if _, err := pc.Sign(g.keys[0], WireFormatPublicMessage, fc); !errors.Is(err, ErrPublicApplication) {
		t.Errorf("Sign: got %v, want ErrPublicApplication", err)
	}
	// Build the message by hand, validly signed and tagged.
	tbs, err := fc.TBS(WireFormatPublicMessage, pc.GroupContext())
	if err != nil {
		t.Fatal(err)
	}
	sig, err := g.suite.SignWithLabel(g.keys[0], "FramedContentTBS", tbs)
	if err != nil {
		t.Fatal(err)
	}
	ac := &AuthenticatedContent{WireFormat: WireFormatPublicMessage, Content: *fc, Auth: FramedContentAuthData{Signature: sig}}
	if _, err := pc.ProtectPublic(ac); !errors.Is(err, ErrPublicApplication) {
		t.Errorf("ProtectPublic: got %v, want ErrPublicApplication", err)
	}
	m := &PublicMessage{Content: *fc, Auth: ac.Auth}
	tbm, err := m.TBM(pc.GroupContext())
	if err != nil {
		t.Fatal(err)
	}
	m.MembershipTag = g.suite.MAC(g.secrets.MembershipKey(), tbm)
	if _, err := pc.UnprotectPublic(wireCopy(t, m), g.memberKey); !errors.Is(err, ErrPublicApplication) {
		t.Errorf("UnprotectPublic: got %v, want ErrPublicApplication", err)
	}
}

func TestProtectMisuse(t *testing.T) {
	g := newFrGroup(t, 1)
	pc := g.context()
	// Content signed for one wire format cannot be sent in the other.
	ac := g.sign(pc, 0, ContentTypeProposal, WireFormatPublicMessage, nil)
	if _, err := pc.ProtectPrivate(ac, 0); err == nil {
		t.Error("content signed for PublicMessage sent as PrivateMessage")
	}
	ac = g.sign(pc, 0, ContentTypeProposal, WireFormatPrivateMessage, nil)
	if _, err := pc.ProtectPublic(ac); err == nil {
		t.Error("content signed for PrivateMessage sent as PublicMessage")
	}
	// A commit needs its confirmation tag.
	ac = g.sign(pc, 0, ContentTypeCommit, WireFormatPrivateMessage, nil)
	ac.Auth.ConfirmationTag = nil
	if _, err := pc.ProtectPrivate(ac, 0); err == nil {
		t.Error("commit without confirmation tag protected")
	}
	// Only members send PrivateMessages.
	fc := g.content(0, ContentTypeProposal, nil)
	fc.Sender = Sender{SenderType: SenderTypeExternal}
	if _, err := pc.Sign(g.keys[0], WireFormatPrivateMessage, fc); err == nil {
		t.Error("external sender signed a PrivateMessage")
	}
	// Without secrets, only non-member PublicMessages can be handled.
	bare, err := NewProtectionContext(&g.gc, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bare.ProtectPublic(g.sign(pc, 0, ContentTypeProposal, WireFormatPublicMessage, nil)); err == nil {
		t.Error("member PublicMessage protected without a membership key")
	}
	if _, err := bare.ProtectPrivate(g.sign(pc, 0, ContentTypeProposal, WireFormatPrivateMessage, nil), 0); err == nil {
		t.Error("PrivateMessage protected without a secret tree")
	}
	// Malformed secrets are refused up front.
	if _, err := NewProtectionContext(&g.gc, []byte("short"), nil, nil); err == nil {
		t.Error("short membership key accepted")
	}
	other, err := NewSecretTree(lookupTestSuite(t, 3), make([]byte, 32), 2, SecretTreeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewProtectionContext(&g.gc, nil, nil, other); err == nil {
		t.Error("secret tree of another suite accepted")
	}
}

func lookupTestSuite(t testing.TB, id ciphersuite.ID) *ciphersuite.Suite {
	t.Helper()
	s, err := ciphersuite.Lookup(id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// frLeafNode returns a LeafNode of the given source whose signature key is
// pub; its other fields only need to encode.
func frLeafNode(pub []byte, src LeafNodeSource) LeafNode {
	ln := LeafNode{
		EncryptionKey:  []byte("encryption key"),
		SignatureKey:   pub,
		Credential:     NewBasicCredential([]byte("new member")),
		LeafNodeSource: src,
		Signature:      []byte("not checked here"),
	}
	switch src {
	case LeafNodeSourceKeyPackage:
		ln.Lifetime = &Lifetime{NotAfter: 1}
	case LeafNodeSourceCommit:
		ln.ParentHash = []byte{}
	}
	return ln
}

func TestUnprotectPublicNonMembers(t *testing.T) {
	g := newFrGroup(t, 1)
	external, err := g.suite.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	newcomer, err := g.suite.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	senders, err := ExternalSenders{{SignatureKey: external.PublicKey(), Credential: NewBasicCredential([]byte("ds"))}}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	g.gc.Extensions = Extensions{{ExtensionType: ExtensionTypeExternalSenders, ExtensionData: senders}}
	pc := g.context()
	base := func(st SenderType, ct ContentType) *FramedContent {
		fc := g.content(0, ct, nil)
		fc.Sender = Sender{SenderType: st}
		return fc
	}
	addProposal := base(SenderTypeNewMemberProposal, ContentTypeProposal)
	addProposal.Proposal = &Proposal{Add: &AddProposal{KeyPackage: KeyPackage{
		Version: ProtocolVersionMLS10, CipherSuite: 1, InitKey: []byte("init"),
		LeafNode: frLeafNode(newcomer.PublicKey(), LeafNodeSourceKeyPackage), Signature: []byte("sig"),
	}}}
	externalCommit := base(SenderTypeNewMemberCommit, ContentTypeCommit)
	externalCommit.Commit = &Commit{Path: &UpdatePath{LeafNode: frLeafNode(newcomer.PublicKey(), LeafNodeSourceCommit)}}
	for _, c := range []struct {
		name   string
		signer *ciphersuite.SigningKey
		fc     *FramedContent
		ok     bool
	}{
		{"external proposal", external, base(SenderTypeExternal, ContentTypeProposal), true},
		{"new member Add", newcomer, addProposal, true},
		{"external commit", newcomer, externalCommit, true},
		{"external proposal signed by a member", g.keys[0], base(SenderTypeExternal, ContentTypeProposal), false},
		{"external commit signed by a member", g.keys[0], externalCommit, false},
		{"external sender committing", external, func() *FramedContent {
			fc := base(SenderTypeExternal, ContentTypeCommit)
			fc.Commit = externalCommit.Commit
			return fc
		}(), false},
		{"new member proposing Remove", newcomer, base(SenderTypeNewMemberProposal, ContentTypeProposal), false},
		{"new member commit without path", newcomer, base(SenderTypeNewMemberCommit, ContentTypeCommit), false},
		{"unknown external sender", external, func() *FramedContent {
			fc := base(SenderTypeExternal, ContentTypeProposal)
			fc.Sender.SenderIndex = 1
			return fc
		}(), false},
	} {
		ac, err := pc.Sign(c.signer, WireFormatPublicMessage, c.fc)
		if err != nil {
			t.Fatal(err)
		}
		if c.fc.ContentType == ContentTypeCommit {
			ac.Auth.ConfirmationTag = []byte("tag")
		}
		m, err := pc.ProtectPublic(ac)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if m.MembershipTag != nil {
			t.Errorf("%s: membership tag on a non-member's message", c.name)
		}
		got, err := pc.UnprotectPublic(wireCopy(t, m), g.memberKey)
		if c.ok {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			} else {
				sameContent(t, got, ac)
			}
		} else if err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}

func TestProtectionContextErase(t *testing.T) {
	g := newFrGroup(t, 1)
	sender, receiver := g.context(), g.context()
	priv := g.protectPrivate(sender, 0, ContentTypeApplication, []byte("x"), 0)
	pub := g.protectPublic(sender, 0, ContentTypeProposal)
	// The context's secrets are its own: erasing the epoch's leaves it working.
	g.secrets.Erase()
	if _, err := receiver.UnprotectPublic(pub, g.memberKey); err != nil {
		t.Fatalf("after the epoch secrets were erased: %v", err)
	}
	sender.Erase()
	receiver.Erase()
	if _, err := sender.ProtectPrivate(g.sign(sender, 0, ContentTypeApplication, WireFormatPrivateMessage, nil), 0); err == nil {
		t.Error("PrivateMessage protected by an erased context")
	}
	if _, err := sender.ProtectPublic(g.sign(sender, 0, ContentTypeProposal, WireFormatPublicMessage, nil)); err == nil {
		t.Error("PublicMessage protected by an erased context")
	}
	if _, err := receiver.UnprotectPrivate(priv, g.memberKey); err == nil {
		t.Error("PrivateMessage unprotected by an erased context")
	}
	if _, err := receiver.UnprotectPublic(pub, g.memberKey); err == nil {
		t.Error("PublicMessage unprotected by an erased context")
	}
}

func TestProtectionContextRedacted(t *testing.T) {
	g := newFrGroup(t, 1)
	pc := g.context()
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(format, pc)
		for _, secret := range [][]byte{g.secrets.MembershipKey(), g.secrets.SenderDataSecret()} {
			if strings.Contains(out, fmt.Sprintf("%x", secret)) || strings.Contains(out, fmt.Sprint(secret)) {
				t.Errorf("%s prints a secret: %s", format, out)
			}
		}
	}
}

// frBench measures protecting and unprotecting a 1 KiB application
// message, signature and verification included.
func frBench(b *testing.B, id ciphersuite.ID, protect, unprotect bool) {
	g := newFrGroup(b, id)
	cfg := SecretTreeConfig{MaxForwardDistance: 1 << 30, MaxSkippedKeys: -1}
	mkContext := func() *ProtectionContext {
		tree, err := NewSecretTree(g.suite, g.secrets.EncryptionSecret(), frLeaves, cfg)
		if err != nil {
			b.Fatal(err)
		}
		pc, err := NewProtectionContext(&g.gc, g.secrets.MembershipKey(), g.secrets.SenderDataSecret(), tree)
		if err != nil {
			b.Fatal(err)
		}
		return pc
	}
	sender, receiver := mkContext(), mkContext()
	data := make([]byte, 1024)
	fc := g.content(0, ContentTypeApplication, data)
	send := func() *PrivateMessage {
		ac, err := sender.Sign(g.keys[0], WireFormatPrivateMessage, fc)
		if err != nil {
			b.Fatal(err)
		}
		m, err := sender.ProtectPrivate(ac, 0)
		if err != nil {
			b.Fatal(err)
		}
		return m
	}
	var msgs []*PrivateMessage
	if !protect {
		for range b.N {
			msgs = append(msgs, send())
		}
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		var m *PrivateMessage
		if protect {
			m = send()
		} else {
			m = msgs[i]
		}
		if unprotect {
			if _, err := receiver.UnprotectPrivate(m, g.memberKey); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkProtectPrivate1KiB(b *testing.B) {
	for _, id := range []ciphersuite.ID{1, 2, 3, 4, 5, 6, 7} {
		b.Run(fmt.Sprintf("suite=%d/protect", id), func(b *testing.B) { frBench(b, id, true, false) })
		b.Run(fmt.Sprintf("suite=%d/unprotect", id), func(b *testing.B) { frBench(b, id, false, true) })
		b.Run(fmt.Sprintf("suite=%d/both", id), func(b *testing.B) { frBench(b, id, true, true) })
	}
}

// TestUnprotectConcurrentReplay delivers the same PrivateMessage to one
// receiver from many goroutines at once: both may pass decryption before
// either consumes the generation, but exactly one is accepted.
func TestUnprotectConcurrentReplay(t *testing.T) {
	g := newFrGroup(t, 1)
	sender, receiver := g.context(), g.context()
	for range 20 {
		m := g.protectPrivate(sender, 0, ContentTypeApplication, []byte("once"), 0)
		results := make(chan error, 4)
		for range cap(results) {
			go func() {
				_, err := receiver.UnprotectPrivate(m, g.memberKey)
				results <- err
			}()
		}
		accepted := 0
		for range cap(results) {
			switch err := <-results; {
			case err == nil:
				accepted++
			case !errors.Is(err, ErrGenerationReused):
				t.Fatalf("replay: got %v, want ErrGenerationReused", err)
			}
		}
		if accepted != 1 {
			t.Fatalf("message accepted %d times", accepted)
		}
	}
}

// TestScratchZeroed checks that a pooled encoding buffer (it may hold
// application data) is zeroed when it goes back to the pool, and that a
// buffer too large to keep is zeroed all the same.
func TestScratchZeroed(t *testing.T) {
	for _, n := range []int{16, maxPooledScratch + 1} {
		sc := getScratch(n)
		used := append(sc.buf, bytes.Repeat([]byte("secret"), n/6+1)...)
		sc.put(used)
		if !isZeroBytes(used) {
			t.Errorf("%d bytes: not zeroed", len(used))
		}
	}
}

package mls

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
)

// frWelcome is a committer's side of a Welcome: the new epoch's secrets
// and signed GroupInfo, and the new members' KeyPackages with their init
// private keys.
type frWelcome struct {
	t          testing.TB
	suite      *ciphersuite.Suite
	gi         *GroupInfo
	secrets    *EpochSecrets
	signer     *ciphersuite.SigningKey
	psks       []PreSharedKeyID
	pskValues  map[string][]byte
	kps        []*KeyPackage
	initPrivs  [][]byte
	recipients []WelcomeRecipient
}

func frRandom(t testing.TB, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// newFrWelcome prepares a Welcome of suite id into epoch for n new
// members, injecting psks (values from pskValues, by encoded ID).
func newFrWelcome(t testing.TB, id ciphersuite.ID, epoch uint64, n int, psks []PreSharedKeyID, pskValues map[string][]byte) *frWelcome {
	t.Helper()
	s := lookupTestSuite(t, id)
	w := &frWelcome{t: t, suite: s, psks: psks, pskValues: pskValues}
	gc := GroupContext{
		Version: ProtocolVersionMLS10, CipherSuite: id, GroupID: []byte("welcome test group"), Epoch: epoch,
		TreeHash: frRandom(t, s.HashSize()), ConfirmedTranscriptHash: frRandom(t, s.HashSize()),
	}
	gcBytes, err := gc.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	pskSecret, err := ResolvePSKSecret(s, psks, w.lookup)
	if err != nil {
		t.Fatal(err)
	}
	if w.secrets, err = DeriveEpochSecrets(s, frRandom(t, s.HashSize()), frRandom(t, s.HashSize()), pskSecret, gcBytes); err != nil {
		t.Fatal(err)
	}
	if w.signer, err = s.GenerateSigningKey(); err != nil {
		t.Fatal(err)
	}
	w.gi = &GroupInfo{
		GroupContext:    gc,
		Extensions:      Extensions{{ExtensionType: ExtensionTypeRatchetTree, ExtensionData: frRandom(t, 3000)}},
		ConfirmationTag: ConfirmationTag(s, w.secrets.ConfirmationKey(), gc.ConfirmedTranscriptHash),
		Signer:          3,
	}
	if err := w.gi.Sign(w.signer); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		priv, pub, err := s.GenerateHPKEKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		kp := &KeyPackage{
			Version: ProtocolVersionMLS10, CipherSuite: id, InitKey: pub,
			LeafNode: frLeafNode([]byte(fmt.Sprintf("member %d", i)), LeafNodeSourceKeyPackage), Signature: []byte("sig"),
		}
		if i%2 == 1 {
			kp = wireCopy(t, kp) // the reference is computed over the received bytes
		}
		r := WelcomeRecipient{KeyPackage: kp}
		if i%3 != 2 {
			r.PathSecret = frRandom(t, s.HashSize())
		}
		w.kps, w.initPrivs, w.recipients = append(w.kps, kp), append(w.initPrivs, priv), append(w.recipients, r)
	}
	return w
}

func (w *frWelcome) lookup(id *PreSharedKeyID) ([]byte, error) {
	enc, err := id.MarshalBinary()
	if err != nil {
		return nil, err
	}
	v, ok := w.pskValues[string(enc)]
	if !ok {
		return nil, errors.New("mls: unknown PSK")
	}
	return v, nil
}

func (w *frWelcome) signerKey(gi *GroupInfo) ([]byte, error) {
	if gi.Signer != 3 {
		return nil, fmt.Errorf("mls: no member at leaf %d", gi.Signer)
	}
	return w.signer.PublicKey(), nil
}

// seal builds the Welcome and returns it as a new member receives it.
func (w *frWelcome) seal() *Welcome {
	w.t.Helper()
	welcome, err := SealWelcome(w.gi, w.secrets, w.psks, w.recipients)
	if err != nil {
		w.t.Fatal(err)
	}
	msg := wireCopy(w.t, &MLSMessage{Welcome: welcome})
	return msg.Welcome
}

// open opens welcome as new member i and checks it reached the epoch.
func (w *frWelcome) open(welcome *Welcome, i int) {
	w.t.Helper()
	opened, err := OpenWelcome(welcome, w.kps[i], w.initPrivs[i], w.lookup, w.signerKey)
	if err != nil {
		w.t.Fatalf("member %d: %v", i, err)
	}
	if !bytes.Equal(opened.EpochSecrets.EpochAuthenticator(), w.secrets.EpochAuthenticator()) {
		w.t.Fatalf("member %d: epoch_authenticator differs from the committer's", i)
	}
	if got, want := wireCopy(w.t, opened.GroupInfo).Raw(), wireCopy(w.t, w.gi).Raw(); !bytes.Equal(got, want) {
		w.t.Fatalf("member %d: GroupInfo differs", i)
	}
	var gotPath []byte
	if p := opened.GroupSecrets.PathSecret; p != nil {
		gotPath = p.PathSecret
	}
	if !bytes.Equal(gotPath, w.recipients[i].PathSecret) {
		w.t.Fatalf("member %d: path secret differs", i)
	}
	if opened.GroupSecrets.JoinerSecret != nil || opened.EpochSecrets.JoinerSecret() != nil || opened.EpochSecrets.WelcomeSecret() != nil {
		w.t.Fatalf("member %d: joiner secrets kept after joining", i)
	}
	interim, err := InterimTranscriptHash(w.suite, w.gi.GroupContext.ConfirmedTranscriptHash, w.gi.ConfirmationTag)
	if err != nil {
		w.t.Fatal(err)
	}
	if !bytes.Equal(opened.InterimTranscriptHash, interim) {
		w.t.Fatalf("member %d: interim transcript hash differs", i)
	}
}

// frPSKs returns an external and a resumption PSK with their values.
func frPSKs(t *testing.T, s *ciphersuite.Suite, usage ResumptionPSKUsage) ([]PreSharedKeyID, map[string][]byte) {
	ids := []PreSharedKeyID{
		{PSKType: PSKTypeExternal, PSKID: []byte("external psk"), PSKNonce: frRandom(t, s.HashSize())},
		{PSKType: PSKTypeResumption, Usage: usage, PSKGroupID: []byte("old group"), PSKEpoch: 9, PSKNonce: frRandom(t, s.HashSize())},
	}
	values := map[string][]byte{}
	for i := range ids {
		values[string(mustMarshal(t, &ids[i]))] = frRandom(t, s.HashSize())
	}
	return ids, values
}

func TestWelcomeRoundTrip(t *testing.T) {
	for _, id := range ciphersuite.IDs() {
		t.Run(id.String(), func(t *testing.T) {
			psks, values := frPSKs(t, lookupTestSuite(t, id), ResumptionPSKUsageApplication)
			w := newFrWelcome(t, id, 5, 3, psks, values)
			welcome := w.seal()
			for i := range w.kps {
				w.open(welcome, i)
			}
		})
	}
	t.Run("parallel sealing", func(t *testing.T) {
		w := newFrWelcome(t, 1, 1, 3*parallelSealMin, nil, nil)
		welcome := w.seal()
		for i := range w.kps {
			w.open(welcome, i)
		}
	})
	t.Run("branch PSK into epoch 1", func(t *testing.T) {
		psks, values := frPSKs(t, lookupTestSuite(t, 1), ResumptionPSKUsageBranch)
		w := newFrWelcome(t, 1, 1, 1, psks, values)
		w.open(w.seal(), 0)
	})
}

func TestWelcomeRejected(t *testing.T) {
	psks, values := frPSKs(t, lookupTestSuite(t, 1), ResumptionPSKUsageApplication)
	w := newFrWelcome(t, 1, 5, 2, psks, values)
	welcome := w.seal()
	outsider := newFrWelcome(t, 1, 5, 1, nil, nil)
	wrongSigner := func(*GroupInfo) ([]byte, error) { return outsider.signer.PublicKey(), nil }
	noPSK := func(*PreSharedKeyID) ([]byte, error) { return nil, errors.New("mls: unknown PSK") }

	open := func(welcome *Welcome, kp *KeyPackage, priv []byte, psks PSKLookup, signer func(*GroupInfo) ([]byte, error)) error {
		_, err := OpenWelcome(welcome, kp, priv, psks, signer)
		return err
	}
	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"KeyPackage not in the Welcome", open(welcome, outsider.kps[0], outsider.initPrivs[0], w.lookup, w.signerKey), ErrNoWelcomeForKeyPackage},
		{"another init key", open(welcome, w.kps[0], w.initPrivs[1], w.lookup, w.signerKey), ErrDecryption},
		{"GroupInfo signed by another key", open(welcome, w.kps[0], w.initPrivs[0], w.lookup, wrongSigner), ErrBadSignature},
		{"PSK unknown", open(welcome, w.kps[0], w.initPrivs[0], noPSK, w.signerKey), nil},
		{"no PSK lookup", open(welcome, w.kps[0], w.initPrivs[0], nil, w.signerKey), nil},
		{"no signer lookup", open(welcome, w.kps[0], w.initPrivs[0], w.lookup, nil), nil},
	} {
		if c.err == nil || (c.want != nil && !errors.Is(c.err, c.want)) {
			t.Errorf("%s: got %v, want %v", c.name, c.err, c.want)
		}
	}

	// A corrupted encrypted GroupInfo is also the HPKE context of every
	// GroupSecrets: nothing decrypts.
	bad := *welcome
	bad.EncryptedGroupInfo = bytes.Clone(welcome.EncryptedGroupInfo)
	bad.EncryptedGroupInfo[10] ^= 1
	if err := open(&bad, w.kps[0], w.initPrivs[0], w.lookup, w.signerKey); !errors.Is(err, ErrDecryption) {
		t.Errorf("corrupted GroupInfo: got %v, want ErrDecryption", err)
	}
	// A KeyPackage of another suite.
	kp := *w.kps[0]
	kp.CipherSuite = 2
	if err := open(welcome, &kp, w.initPrivs[0], w.lookup, w.signerKey); err == nil {
		t.Error("KeyPackage of another suite accepted")
	}

	// A GroupInfo whose confirmation tag does not match the key schedule,
	// properly signed: the confirmation tag check catches it.
	w.gi.ConfirmationTag = bytes.Clone(w.gi.ConfirmationTag)
	w.gi.ConfirmationTag[0] ^= 1
	if err := w.gi.Sign(w.signer); err != nil {
		t.Fatal(err)
	}
	if err := open(w.seal(), w.kps[0], w.initPrivs[0], w.lookup, w.signerKey); !errors.Is(err, ErrBadConfirmationTag) {
		t.Errorf("wrong confirmation tag: got %v, want ErrBadConfirmationTag", err)
	}
}

func TestWelcomeReInitRules(t *testing.T) {
	s := lookupTestSuite(t, 1)
	psks, values := frPSKs(t, s, ResumptionPSKUsageReInit)
	// A reinit PSK must lead into epoch 1.
	w := newFrWelcome(t, 1, 2, 1, psks, values)
	if _, err := OpenWelcome(w.seal(), w.kps[0], w.initPrivs[0], w.lookup, w.signerKey); err == nil {
		t.Error("reinit PSK into epoch 2 accepted")
	}
	// At most one reinit or branch PSK.
	branch := PreSharedKeyID{PSKType: PSKTypeResumption, Usage: ResumptionPSKUsageBranch, PSKGroupID: []byte("g"), PSKEpoch: 1, PSKNonce: frRandom(t, s.HashSize())}
	values[string(mustMarshal(t, &branch))] = frRandom(t, s.HashSize())
	w = newFrWelcome(t, 1, 1, 1, append(psks, branch), values)
	if _, err := OpenWelcome(w.seal(), w.kps[0], w.initPrivs[0], w.lookup, w.signerKey); err == nil {
		t.Error("reinit and branch PSKs together accepted")
	}
}

func TestGroupInfoSignature(t *testing.T) {
	w := newFrWelcome(t, 7, 3, 0, nil, nil)
	if err := w.gi.Verify(w.signer.PublicKey()); err != nil {
		t.Fatal(err)
	}
	received := wireCopy(t, w.gi)
	tbs, err := received.receivedTBS()
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := received.TBS(); !bytes.Equal(tbs, want) {
		t.Fatal("GroupInfoTBS sliced from the received bytes differs from its encoding")
	}
	w.gi.Signer++
	if err := w.gi.Verify(w.signer.PublicKey()); !errors.Is(err, ErrBadSignature) {
		t.Errorf("changed signer index: got %v, want ErrBadSignature", err)
	}
	if err := w.gi.Verify([]byte("not a key")); err == nil || errors.Is(err, ErrBadSignature) {
		t.Errorf("malformed key: got %v, want an error other than ErrBadSignature", err)
	}
	unsigned := *w.gi
	unsigned.Signature = nil
	if _, err := SealWelcome(&unsigned, w.secrets, nil, nil); err == nil {
		t.Error("unsigned GroupInfo sealed")
	}
	w.secrets.EraseJoinerSecrets()
	if _, err := SealWelcome(w.gi, w.secrets, nil, nil); err == nil {
		t.Error("Welcome sealed after the joiner secrets were erased")
	}
}

// BenchmarkSealWelcome measures a Welcome for 100 new members with a
// 1 MB GroupInfo (a ratchet tree inline): the GroupInfo is hashed into the
// HPKE context once, not once per member.
func BenchmarkSealWelcome(b *testing.B) {
	w := newFrWelcome(b, 1, 5, 100, nil, nil)
	w.gi.Extensions[0].ExtensionData = make([]byte, 1<<20)
	if err := w.gi.Sign(w.signer); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := SealWelcome(w.gi, w.secrets, nil, w.recipients); err != nil {
			b.Fatal(err)
		}
	}
}

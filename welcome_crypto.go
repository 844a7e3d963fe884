package mls

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/codec"
)

// This file holds the cryptographic half of joining by Welcome (RFC 9420
// section 12.4.3.1) and of building one: GroupInfo signatures, the
// encryption of the GroupInfo under the welcome_secret, and the
// GroupSecrets sealed to each new member. Checking the ratchet tree and
// setting up the group state is the caller's part.

// ErrNoWelcomeForKeyPackage reports a Welcome with no entry for the
// KeyPackage it is processed with.
var ErrNoWelcomeForKeyPackage = errors.New("mls: Welcome has no secrets for this KeyPackage")

// Sign signs gi with the label "GroupInfoTBS" (RFC 9420 section 12.4.3),
// setting gi.Signature. signer is the key of the member at gi.Signer.
func (gi *GroupInfo) Sign(signer *ciphersuite.SigningKey) error {
	s, tbs, err := gi.suiteAndTBS()
	if err != nil {
		return err
	}
	sig, err := s.SignWithLabel(signer, "GroupInfoTBS", tbs)
	if err != nil {
		return err
	}
	gi.Signature = sig
	return nil
}

// Verify checks gi's signature over its fields as they are now with the
// signature key pub of the member at gi.Signer, returning ErrBadSignature
// if it does not verify.
func (gi *GroupInfo) Verify(pub []byte) error {
	s, tbs, err := gi.suiteAndTBS()
	if err != nil {
		return err
	}
	return verifyLabeled(s, pub, "GroupInfoTBS", tbs, gi.Signature)
}

// suiteAndTBS returns the suite of gi's group and its GroupInfoTBS.
func (gi *GroupInfo) suiteAndTBS() (*ciphersuite.Suite, []byte, error) {
	s, err := ciphersuite.Lookup(gi.GroupContext.CipherSuite)
	if err != nil {
		return nil, nil, err
	}
	tbs, err := gi.TBS()
	return s, tbs, err
}

// receivedTBS returns GroupInfoTBS of a GroupInfo just decoded, sliced from
// the bytes received: with the ratchet tree inline, a GroupInfo can be
// megabytes, and encoding it again would cost as much as hashing it.
func (gi *GroupInfo) receivedTBS() ([]byte, error) {
	if gi.raw == nil {
		return gi.TBS()
	}
	b := codec.NewBuilder(4)
	b.AddVarint(uint64(len(gi.Signature)))
	header, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	n := len(gi.raw) - len(header) - len(gi.Signature)
	if n < 0 {
		return nil, errors.New("mls: GroupInfo encoding shorter than its signature")
	}
	return gi.raw[:n], nil
}

// PSKLookup returns the value of the pre-shared key id names: an external
// PSK the application holds, or the resumption_psk of the epoch a
// resumption PSK names. It returns an error when the PSK is unknown.
type PSKLookup func(id *PreSharedKeyID) ([]byte, error)

// ResolvePSKSecret looks up each PSK of ids, in order, and chains them into
// the psk_secret of RFC 9420 section 8.4 (all zero when ids is empty; lookup
// may then be nil).
func ResolvePSKSecret(s *ciphersuite.Suite, ids []PreSharedKeyID, lookup PSKLookup) ([]byte, error) {
	if len(ids) > 0 && lookup == nil {
		return nil, errors.New("mls: PSKs needed but no PSK lookup given")
	}
	inputs := make([]PSKInput, len(ids))
	for i := range ids {
		enc, err := ids[i].MarshalBinary()
		if err != nil {
			return nil, err
		}
		secret, err := lookup(&ids[i])
		if err != nil {
			return nil, fmt.Errorf("mls: PSK %d of %d: %w", i+1, len(ids), err)
		}
		inputs[i] = PSKInput{ID: enc, Secret: secret}
	}
	return ComputePSKSecret(s, inputs)
}

// welcomeKeyNonce derives welcome_key and welcome_nonce from welcome_secret
// (RFC 9420 section 12.4.3.1).
func welcomeKeyNonce(s *ciphersuite.Suite, welcomeSecret []byte) (key, nonce []byte, err error) {
	return expandKeyNonce(s, welcomeSecret, nil)
}

// DecryptGroupSecrets finds the entry of w whose new_member is
// keyPackageRef and decrypts it with the private key initPriv of that
// KeyPackage's init_key: DecryptWithLabel(init_priv, "Welcome",
// encrypted_group_info, ...). It fails with ErrNoWelcomeForKeyPackage if
// there is no such entry, and ErrDecryption if it does not decrypt.
func DecryptGroupSecrets(w *Welcome, keyPackageRef, initPriv []byte) (*GroupSecrets, error) {
	s, err := ciphersuite.Lookup(w.CipherSuite)
	if err != nil {
		return nil, err
	}
	var entry *EncryptedGroupSecrets
	for i := range w.Secrets {
		// KeyPackageRefs are public: no need for a constant-time compare.
		if string(w.Secrets[i].NewMember) == string(keyPackageRef) {
			entry = &w.Secrets[i]
			break
		}
	}
	if entry == nil {
		return nil, ErrNoWelcomeForKeyPackage
	}
	ct := &entry.EncryptedGroupSecrets
	plaintext, err := s.DecryptWithLabel(initPriv, "Welcome", w.EncryptedGroupInfo, ct.KEMOutput, ct.Ciphertext)
	if errors.Is(err, ciphersuite.ErrDecryption) {
		return nil, ErrDecryption
	}
	if err != nil {
		return nil, err
	}
	defer clear(plaintext)
	gs := new(GroupSecrets)
	if err := gs.UnmarshalBinary(plaintext); err != nil {
		return nil, err
	}
	if len(gs.JoinerSecret) != s.HashSize() {
		return nil, fmt.Errorf("mls: joiner_secret is %d bytes, want %d", len(gs.JoinerSecret), s.HashSize())
	}
	return gs, nil
}

// DecryptGroupInfo decrypts w's GroupInfo with the welcome_key and
// welcome_nonce derived from welcomeSecret (see DeriveWelcomeSecret). It
// fails with ErrDecryption if the GroupInfo does not decrypt. The signature
// and the confirmation tag are not checked here.
func DecryptGroupInfo(w *Welcome, welcomeSecret []byte) (*GroupInfo, error) {
	s, err := ciphersuite.Lookup(w.CipherSuite)
	if err != nil {
		return nil, err
	}
	key, nonce, err := welcomeKeyNonce(s, welcomeSecret)
	if err != nil {
		return nil, err
	}
	plaintext, err := s.Open(key, nonce, nil, w.EncryptedGroupInfo)
	clear(key)
	clear(nonce)
	if err != nil {
		return nil, ErrDecryption
	}
	gi := new(GroupInfo)
	if err := gi.UnmarshalBinary(plaintext); err != nil {
		return nil, err
	}
	return gi, nil
}

// OpenedWelcome is what the cryptographic steps of joining by Welcome
// yield: the checked GroupInfo, the GroupSecrets (whose path secret the
// caller feeds to TreeKEM; its joiner_secret is already erased), and the
// secrets of the epoch joined with its interim transcript hash.
type OpenedWelcome struct {
	GroupInfo             *GroupInfo
	GroupSecrets          *GroupSecrets
	EpochSecrets          *EpochSecrets
	InterimTranscriptHash []byte
}

// OpenWelcome runs the cryptographic steps of joining by Welcome (RFC 9420
// section 12.4.3.1) for the KeyPackage kp, whose init private key is
// initPriv: it decrypts the GroupSecrets meant for kp, resolves their PSKs
// with psks (nil if none are expected), derives the welcome_secret and
// decrypts the GroupInfo, verifies its signature with the key signerKey
// returns (the LeafNode key of gi.Signer in the ratchet tree, which the
// caller takes from the GroupInfo's ratchet_tree extension or from
// elsewhere), derives the epoch secrets and checks the confirmation tag.
//
// It checks the cipher suites of kp, w and the GroupInfo agree and the PSK
// rules of section 12.4.3.1 that need nothing but the Welcome (at most one
// reinit or branch resumption PSK, and then an epoch of 1). Validating the
// ratchet tree, finding the new member's leaf and applying the path secret
// are left to the caller.
func OpenWelcome(w *Welcome, kp *KeyPackage, initPriv []byte, psks PSKLookup, signerKey func(gi *GroupInfo) ([]byte, error)) (*OpenedWelcome, error) {
	s, err := ciphersuite.Lookup(w.CipherSuite)
	if err != nil {
		return nil, err
	}
	if signerKey == nil {
		return nil, errors.New("mls: no signer key lookup to check the GroupInfo")
	}
	if kp.CipherSuite != w.CipherSuite {
		return nil, fmt.Errorf("mls: Welcome of suite %v for a KeyPackage of suite %v", w.CipherSuite, kp.CipherSuite)
	}
	ref, err := keyPackageRef(s, kp)
	if err != nil {
		return nil, err
	}
	gs, err := DecryptGroupSecrets(w, ref, initPriv)
	if err != nil {
		return nil, err
	}
	defer func() {
		clear(gs.JoinerSecret)
		gs.JoinerSecret = nil
	}()
	branchOrReInit := 0
	for _, id := range gs.PSKs {
		if id.PSKType == PSKTypeResumption && (id.Usage == ResumptionPSKUsageReInit || id.Usage == ResumptionPSKUsageBranch) {
			branchOrReInit++
		}
	}
	if branchOrReInit > 1 {
		return nil, errors.New("mls: Welcome with more than one reinit or branch PSK")
	}
	pskSecret, err := ResolvePSKSecret(s, gs.PSKs, psks)
	if err != nil {
		return nil, err
	}
	defer clear(pskSecret)
	welcomeSecret, err := DeriveWelcomeSecret(s, gs.JoinerSecret, pskSecret)
	if err != nil {
		return nil, err
	}
	gi, err := DecryptGroupInfo(w, welcomeSecret)
	clear(welcomeSecret)
	if err != nil {
		return nil, err
	}
	gc := &gi.GroupContext
	if gc.CipherSuite != w.CipherSuite {
		return nil, fmt.Errorf("mls: GroupInfo of suite %v in a Welcome of suite %v", gc.CipherSuite, w.CipherSuite)
	}
	if gc.Version != ProtocolVersionMLS10 {
		return nil, fmt.Errorf("mls: GroupInfo of version %v", gc.Version)
	}
	if branchOrReInit > 0 && gc.Epoch != 1 {
		return nil, fmt.Errorf("mls: Welcome with a reinit or branch PSK into epoch %d, want 1", gc.Epoch)
	}
	pub, err := signerKey(gi)
	if err != nil {
		return nil, err
	}
	tbs, err := gi.receivedTBS()
	if err != nil {
		return nil, err
	}
	if err := verifyLabeled(s, pub, "GroupInfoTBS", tbs, gi.Signature); err != nil {
		return nil, err
	}
	gcBytes, err := gc.MarshalBinary()
	if err != nil {
		return nil, err
	}
	secrets, err := DeriveEpochSecretsFromJoiner(s, gs.JoinerSecret, pskSecret, gcBytes)
	if err != nil {
		return nil, err
	}
	secrets.EraseJoinerSecrets()
	if err := VerifyConfirmationTag(s, secrets.ConfirmationKey(), gc.ConfirmedTranscriptHash, gi.ConfirmationTag); err != nil {
		secrets.Erase()
		return nil, err
	}
	interim, err := InterimTranscriptHash(s, gc.ConfirmedTranscriptHash, gi.ConfirmationTag)
	if err != nil {
		secrets.Erase()
		return nil, err
	}
	return &OpenedWelcome{GroupInfo: gi, GroupSecrets: gs, EpochSecrets: secrets, InterimTranscriptHash: interim}, nil
}

// keyPackageRef returns the KeyPackageRef of kp, computed over the bytes it
// was received as when it was decoded.
func keyPackageRef(s *ciphersuite.Suite, kp *KeyPackage) ([]byte, error) {
	enc := kp.Raw()
	if enc == nil {
		var err error
		if enc, err = kp.MarshalBinary(); err != nil {
			return nil, err
		}
	}
	return s.MakeKeyPackageRef(enc), nil
}

// WelcomeRecipient is one new member a Welcome is sealed to: its KeyPackage
// and, when the commit has a path, the path secret of the lowest node the
// committer's and the new member's direct paths share (nil otherwise).
type WelcomeRecipient struct {
	KeyPackage *KeyPackage
	PathSecret []byte
}

// parallelSealMin is the number of recipients from which SealWelcome seals
// on several cores: each seal is an HPKE encapsulation (tens of
// microseconds), worth a goroutine only in bulk.
const parallelSealMin = 8

// SealWelcome builds the Welcome of a commit (RFC 9420 section 12.4.3.1):
// gi, already signed, encrypted under the welcome_key and welcome_nonce of
// the new epoch, and for each recipient the GroupSecrets (joiner_secret,
// path secret, and the PSKs psks of the commit) sealed to its init_key with
// EncryptWithLabel(init_key, "Welcome", encrypted_group_info, ...). The
// encrypted GroupInfo, which can be megabytes, is hashed into the HPKE
// context once for all recipients, and recipients are sealed in parallel.
// secrets are the new epoch's, before their joiner secrets are erased.
func SealWelcome(gi *GroupInfo, secrets *EpochSecrets, psks []PreSharedKeyID, recipients []WelcomeRecipient) (*Welcome, error) {
	s := secrets.Suite()
	if gi.GroupContext.CipherSuite != s.ID() {
		return nil, fmt.Errorf("mls: GroupInfo of suite %v with secrets of suite %v", gi.GroupContext.CipherSuite, s.ID())
	}
	if len(gi.Signature) == 0 {
		return nil, errors.New("mls: GroupInfo not signed")
	}
	if secrets.JoinerSecret() == nil || secrets.WelcomeSecret() == nil {
		return nil, errSecretErased
	}
	giBytes, err := gi.MarshalBinary()
	if err != nil {
		return nil, err
	}
	key, nonce, err := welcomeKeyNonce(s, secrets.WelcomeSecret())
	if err != nil {
		return nil, err
	}
	encryptedGI, err := s.Seal(key, nonce, nil, giBytes)
	clear(key)
	clear(nonce)
	if err != nil {
		return nil, err
	}
	w := &Welcome{CipherSuite: s.ID(), Secrets: make([]EncryptedGroupSecrets, len(recipients)), EncryptedGroupInfo: encryptedGI}
	enc := s.NewEncryptor("Welcome", encryptedGI)
	seal := func(i int) error {
		r := &recipients[i]
		if r.KeyPackage == nil {
			return fmt.Errorf("mls: Welcome recipient %d without a KeyPackage", i)
		}
		if r.KeyPackage.CipherSuite != s.ID() {
			return fmt.Errorf("mls: Welcome recipient %d has a KeyPackage of suite %v", i, r.KeyPackage.CipherSuite)
		}
		ref, err := keyPackageRef(s, r.KeyPackage)
		if err != nil {
			return err
		}
		gs := GroupSecrets{JoinerSecret: secrets.JoinerSecret(), PSKs: psks}
		if r.PathSecret != nil {
			gs.PathSecret = &PathSecret{PathSecret: r.PathSecret}
		}
		plaintext, err := gs.MarshalBinary()
		if err != nil {
			return err
		}
		kemOutput, ct, err := enc.Seal(r.KeyPackage.InitKey, plaintext)
		clear(plaintext)
		if err != nil {
			return fmt.Errorf("mls: Welcome recipient %d: %w", i, err)
		}
		w.Secrets[i] = EncryptedGroupSecrets{NewMember: ref, EncryptedGroupSecrets: HPKECiphertext{KEMOutput: kemOutput, Ciphertext: ct}}
		return nil
	}
	if err := forEachParallel(len(recipients), parallelSealMin, seal); err != nil {
		return nil, err
	}
	return w, nil
}

// forEachParallel runs f(0), ..., f(n-1), on GOMAXPROCS goroutines when n
// is at least minParallel, and returns the error of the lowest index that
// failed.
func forEachParallel(n, minParallel int, f func(i int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n)
	if n < minParallel || workers < 2 {
		for i := range n {
			if err := f(i); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				errs[i] = f(i)
			}
		})
	}
	wg.Wait()
	return firstError(errs)
}

// firstError returns the first non-nil error of errs.
func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

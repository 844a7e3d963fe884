package ciphersuite

import (
	"crypto/hkdf"
	"crypto/hmac"
	"errors"
	"fmt"
	"hash"
	"io"
)

// We run the HPKE key schedule (RFC 9180 section 5.1) ourselves instead of
// using crypto/hpke, for two reasons: crypto/hpke lacks KEMs MLS needs
// (DHKEM(X448), ML-KEM-512, X-Wing under OpenMLS's KEM ID 0x004D), and it
// hashes the info input on every Seal. A Welcome's info holds the encrypted
// GroupInfo, which can be megabytes (an inline ratchet tree), and is sealed
// once per new member: an Encryptor hashes it once. Tests check this code
// against crypto/hpke for every suite crypto/hpke supports.

const hpkeVersion = "HPKE-v1"

// hpkeSuite is one HPKE cipher suite: KEM, KDF and AEAD.
type hpkeSuite struct {
	kem     kem
	kdf     func() hash.Hash
	aead    aeadScheme
	suiteID []byte // "HPKE" || kem_id || kdf_id || aead_id
	// pskIDHash is LabeledExtract("", "psk_id_hash", ""), constant in base mode.
	pskIDHash []byte
	// std, when not nil, is crypto/hpke, which seals, opens and exports
	// instead of this code (StandardCrypto).
	std *stdHPKE
}

func newHPKESuite(k kem, kdfID uint16, a aeadScheme) *hpkeSuite {
	kdf := hpkeKDFs[kdfID]
	if kdf == nil {
		panic("ciphersuite: unknown HPKE KDF") // registry bug, caught at init
	}
	kemID := k.id()
	h := &hpkeSuite{kem: k, kdf: kdf, aead: a, suiteID: []byte{
		'H', 'P', 'K', 'E', byte(kemID >> 8), byte(kemID), byte(kdfID >> 8), byte(kdfID), byte(a.id >> 8), byte(a.id),
	}}
	h.pskIDHash = labeledExtract(kdf, h.suiteID, nil, "psk_id_hash", nil)
	h.std = newStdHPKE(kemID, kdfID, a.id)
	return h
}

// labeledExtract is RFC 9180's LabeledExtract. An empty salt becomes HKDF's
// default all-zero salt of hash length, which HMAC pads to the same key: an
// empty HMAC key would panic under GODEBUG=fips140=only.
func labeledExtract(kdf func() hash.Hash, suiteID, salt []byte, label string, ikm []byte) []byte {
	m := labeledExtractStart(kdf, suiteID, salt, label)
	m.Write(ikm)
	return m.Sum(nil)
}

// labeledExtractStart returns the HMAC of LabeledExtract with everything
// before ikm written, so that a large ikm can be streamed into it.
func labeledExtractStart(kdf func() hash.Hash, suiteID, salt []byte, label string) hash.Hash {
	if len(salt) == 0 {
		salt = make([]byte, kdf().Size())
	}
	m := hmac.New(kdf, salt)
	io.WriteString(m, hpkeVersion)
	m.Write(suiteID)
	io.WriteString(m, label)
	return m
}

// labeledExpand is RFC 9180's LabeledExpand.
func labeledExpand(kdf func() hash.Hash, suiteID, prk []byte, label string, info []byte, length int) ([]byte, error) {
	if length < 0 || length > 0xffff {
		return nil, errors.New("ciphersuite: HPKE expand length out of range")
	}
	li := make([]byte, 0, 2+len(hpkeVersion)+len(suiteID)+len(label)+len(info))
	li = append(li, byte(length>>8), byte(length))
	li = append(li, hpkeVersion...)
	li = append(li, suiteID...)
	li = append(li, label...)
	li = append(li, info...)
	return hkdf.Expand(kdf, prk, string(li), length)
}

// keyScheduleContext returns mode_base || psk_id_hash || info_hash for the
// info EncryptContext{label, context}, streaming context into the hash.
func (h *hpkeSuite) keyScheduleContext(label string, context []byte) ([]byte, error) {
	m := labeledExtractStart(h.kdf, h.suiteID, nil, "info_hash")
	if err := (labeledContent{label, context}).writeTo(m); err != nil {
		return nil, err
	}
	return h.finishKeyScheduleContext(m), nil
}

// rawKeyScheduleContext is keyScheduleContext for an info given as bytes.
func (h *hpkeSuite) rawKeyScheduleContext(info []byte) []byte {
	m := labeledExtractStart(h.kdf, h.suiteID, nil, "info_hash")
	m.Write(info)
	return h.finishKeyScheduleContext(m)
}

func (h *hpkeSuite) finishKeyScheduleContext(infoHash hash.Hash) []byte {
	ksc := make([]byte, 0, 1+len(h.pskIDHash)+infoHash.Size())
	ksc = append(ksc, 0x00) // mode_base
	ksc = append(ksc, h.pskIDHash...)
	return infoHash.Sum(ksc)
}

// aeadKeyNonce finishes the base-mode key schedule: the AEAD key and
// base_nonce (the nonce of sequence number 0, the only one MLS uses).
func (h *hpkeSuite) aeadKeyNonce(shared, ksc []byte) (key, nonce []byte, err error) {
	secret := labeledExtract(h.kdf, h.suiteID, shared, "secret", nil)
	if key, err = labeledExpand(h.kdf, h.suiteID, secret, "key", ksc, h.aead.keySize); err != nil {
		return nil, nil, err
	}
	if nonce, err = labeledExpand(h.kdf, h.suiteID, secret, "base_nonce", ksc, h.aead.nonceSize); err != nil {
		return nil, nil, err
	}
	return key, nonce, nil
}

// exporterSecret finishes the base-mode key schedule for the secret export
// interface: exporter_secret = LabeledExpand(secret, "exp", ksc, Nh).
func (h *hpkeSuite) exporterSecret(shared, ksc []byte) ([]byte, error) {
	secret := labeledExtract(h.kdf, h.suiteID, shared, "secret", nil)
	return labeledExpand(h.kdf, h.suiteID, secret, "exp", ksc, h.kdf().Size())
}

// export is Context.Export (RFC 9180 section 5.3): LabeledExpand(
// exporter_secret, "sec", exporter_context, L), with L at most 255*Nh.
func (h *hpkeSuite) export(shared, ksc, exporterContext []byte, length int) ([]byte, error) {
	if err := h.checkExportLength(length); err != nil {
		return nil, err
	}
	es, err := h.exporterSecret(shared, ksc)
	if err != nil {
		return nil, err
	}
	return labeledExpand(h.kdf, h.suiteID, es, "sec", exporterContext, length)
}

func (h *hpkeSuite) checkExportLength(length int) error {
	if n := h.kdf().Size(); length < 0 || length > 255*n {
		return fmt.Errorf("ciphersuite: HPKE export length %d out of range [0, %d]", length, 255*n)
	}
	return nil
}

// seal is SealBase with an empty aad, given the key schedule context.
func (h *hpkeSuite) seal(pub, ksc, plaintext []byte) (enc, ciphertext []byte, err error) {
	if err := checkSize("HPKE public key", pub, h.kem.publicKeySize()); err != nil {
		return nil, nil, err
	}
	shared, enc, err := h.kem.encap(pub)
	if err != nil {
		return nil, nil, err
	}
	key, nonce, err := h.aeadKeyNonce(shared, ksc)
	if err != nil {
		return nil, nil, err
	}
	a, err := h.aead.new(key)
	if err != nil {
		return nil, nil, err
	}
	return enc, a.Seal(nil, nonce, plaintext, nil), nil
}

// open is OpenBase with an empty aad, given the key schedule context.
func (h *hpkeSuite) open(enc, priv, ksc, ciphertext []byte) ([]byte, error) {
	if err := checkSize("kem output", enc, h.kem.encSize()); err != nil {
		return nil, err
	}
	if err := checkSize("HPKE private key", priv, h.kem.privateKeySize()); err != nil {
		return nil, err
	}
	shared, err := h.kem.decap(enc, priv)
	if err != nil {
		return nil, err
	}
	key, nonce, err := h.aeadKeyNonce(shared, ksc)
	if err != nil {
		return nil, err
	}
	a, err := h.aead.new(key)
	if err != nil {
		return nil, err
	}
	pt, err := a.Open(nil, nonce, ciphertext, nil)
	if err != nil {
		return nil, ErrDecryption
	}
	return pt, nil
}

// GenerateHPKEKeyPair returns a fresh HPKE key pair (private key serialized).
func (s *Suite) GenerateHPKEKeyPair() (priv, pub []byte, err error) {
	return s.hpke.kem.generate()
}

// DeriveHPKEKeyPair is the KEM's DeriveKeyPair(ikm) (RFC 9180 section 7.1.3).
func (s *Suite) DeriveHPKEKeyPair(ikm []byte) (priv, pub []byte, err error) {
	return s.hpke.kem.derive(ikm)
}

// HPKEPublicKey returns the public key of a serialized HPKE private key.
func (s *Suite) HPKEPublicKey(priv []byte) ([]byte, error) {
	if err := checkSize("HPKE private key", priv, s.hpke.kem.privateKeySize()); err != nil {
		return nil, err
	}
	return s.hpke.kem.publicKey(priv)
}

func checkSize(what string, b []byte, n int) error {
	if len(b) != n {
		return fmt.Errorf("ciphersuite: %s is %d bytes, want %d", what, len(b), n)
	}
	return nil
}

// EncryptWithLabel is SealBase(pub, EncryptContext{"MLS 1.0 " + label, context}, "", plaintext).
func (s *Suite) EncryptWithLabel(pub []byte, label string, context, plaintext []byte) (kemOutput, ciphertext []byte, err error) {
	return s.NewEncryptor(label, context).Seal(pub, plaintext)
}

// DecryptWithLabel is OpenBase(kemOutput, priv, EncryptContext{"MLS 1.0 " + label, context}, "", ciphertext).
// A ciphertext that does not open yields ErrDecryption; a malformed key or
// kem output yields another error.
func (s *Suite) DecryptWithLabel(priv []byte, label string, context, kemOutput, ciphertext []byte) ([]byte, error) {
	if h := s.hpke; h.std != nil {
		if err := checkSize("kem output", kemOutput, h.kem.encSize()); err != nil {
			return nil, err
		}
		if err := checkSize("HPKE private key", priv, h.kem.privateKeySize()); err != nil {
			return nil, err
		}
		info, err := labeledContent{label, context}.marshal()
		if err != nil {
			return nil, err
		}
		return h.std.open(kemOutput, priv, info, ciphertext)
	}
	ksc, err := s.hpke.keyScheduleContext(label, context)
	if err != nil {
		return nil, err
	}
	return s.hpke.open(kemOutput, priv, ksc, ciphertext)
}

// Encryptor seals many plaintexts under one label and context, hashing the
// (possibly large) context once instead of once per recipient. A Welcome for
// many new members uses one, since its context is the encrypted GroupInfo.
// It is safe for concurrent use.
type Encryptor struct {
	hpke *hpkeSuite
	ksc  []byte // key_schedule_context, which holds info_hash
	info []byte // the info itself, for crypto/hpke (StandardCrypto)
	err  error
}

// NewEncryptor precomputes the HPKE key-schedule input for label and context.
func (s *Suite) NewEncryptor(label string, context []byte) *Encryptor {
	if s.hpke.std != nil {
		info, err := labeledContent{label, context}.marshal()
		return &Encryptor{hpke: s.hpke, info: info, err: err}
	}
	ksc, err := s.hpke.keyScheduleContext(label, context)
	return &Encryptor{hpke: s.hpke, ksc: ksc, err: err}
}

// Seal encrypts plaintext to pub, as EncryptWithLabel would.
func (e *Encryptor) Seal(pub, plaintext []byte) (kemOutput, ciphertext []byte, err error) {
	if e == nil || e.hpke == nil {
		return nil, nil, errors.New("ciphersuite: Encryptor not made by NewEncryptor")
	}
	if e.err != nil {
		return nil, nil, e.err
	}
	if h := e.hpke; h.std != nil {
		if err := checkSize("HPKE public key", pub, h.kem.publicKeySize()); err != nil {
			return nil, nil, err
		}
		return h.std.seal(pub, e.info, plaintext)
	}
	return e.hpke.seal(pub, e.ksc, plaintext)
}

// ExportSecretSender is SetupBaseS(pub, info) followed by
// context.Export(exporterContext, length) (RFC 9180 sections 5.1.1 and
// 5.3). ExternalInit (RFC 9420 section 8.3) derives init_secret this way:
// the joiner sends kemOutput and keeps the secret.
func (s *Suite) ExportSecretSender(pub, info, exporterContext []byte, length int) (kemOutput, secret []byte, err error) {
	h := s.hpke
	if err := checkSize("HPKE public key", pub, h.kem.publicKeySize()); err != nil {
		return nil, nil, err
	}
	if h.std != nil {
		if err := h.checkExportLength(length); err != nil {
			return nil, nil, err
		}
		return h.std.exportSender(pub, info, exporterContext, length)
	}
	shared, enc, err := h.kem.encap(pub)
	if err != nil {
		return nil, nil, err
	}
	secret, err = h.export(shared, h.rawKeyScheduleContext(info), exporterContext, length)
	if err != nil {
		return nil, nil, err
	}
	return enc, secret, nil
}

// ExportSecretReceiver is SetupBaseR(kemOutput, priv, info) followed by
// context.Export(exporterContext, length): the members' side of
// ExternalInit. A malformed key or kem output is an error; a well-formed
// kem output made for another key yields an unrelated secret (KEM
// decapsulation does not authenticate), which the confirmation tag of the
// external commit then exposes.
func (s *Suite) ExportSecretReceiver(priv, kemOutput, info, exporterContext []byte, length int) ([]byte, error) {
	h := s.hpke
	if err := checkSize("kem output", kemOutput, h.kem.encSize()); err != nil {
		return nil, err
	}
	if err := checkSize("HPKE private key", priv, h.kem.privateKeySize()); err != nil {
		return nil, err
	}
	if h.std != nil {
		if err := h.checkExportLength(length); err != nil {
			return nil, err
		}
		return h.std.exportReceiver(kemOutput, priv, info, exporterContext, length)
	}
	shared, err := h.kem.decap(kemOutput, priv)
	if err != nil {
		return nil, err
	}
	return h.export(shared, h.rawKeyScheduleContext(info), exporterContext, length)
}

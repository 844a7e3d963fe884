package ciphersuite

import (
	"crypto"
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/sha3"
	"errors"

	"github.com/cloudflare/circl/kem/mlkem/mlkem512"
)

// The post-quantum KEMs of draft-ietf-hpke-pq: ML-KEM alone and the
// ML-KEM/ECDH hybrids. crypto/hpke implements them too, but exposes neither
// the KEM shared secret nor a way to run our own key schedule (which the
// Encryptor needs), so they are built here on crypto/mlkem and crypto/ecdh
// and checked against crypto/hpke and the draft's test vectors. ML-KEM-512
// comes from circl: the standard library has no ML-KEM-512.
//
// Implementations disagree on DeriveKeyPair and on the KEM ID in the HPKE
// suite_id, so each KEM carries its own: the draft's SHAKE256 LabeledDerive,
// or the conventions OpenMLS and ts-mls shipped before the draft settled
// (see derivation below).

// mlkemSeedSize is the size of an ML-KEM private key: the seed d || z.
const mlkemSeedSize = 64

// mlkemSet is one ML-KEM parameter set behind the crypto.Encapsulator and
// crypto.Decapsulator interfaces.
type mlkemSet struct {
	name           string
	ekSize, ctSize int
	// newDecapsulator expands a 64-byte seed (ML-KEM.KeyGen_internal).
	newDecapsulator func(seed []byte) (crypto.Decapsulator, error)
	// newEncapsulator parses and checks an encapsulation key (FIPS 203
	// section 7.2 modulus check).
	newEncapsulator func(ek []byte) (crypto.Encapsulator, error)
}

var (
	mlkemSet512 = &mlkemSet{
		name: "ML-KEM-512", ekSize: mlkem512.PublicKeySize, ctSize: mlkem512.CiphertextSize,
		newDecapsulator: newCirclMLKEM512,
		newEncapsulator: parseCirclMLKEM512,
	}
	mlkemSet768 = &mlkemSet{
		name: "ML-KEM-768", ekSize: mlkem.EncapsulationKeySize768, ctSize: mlkem.CiphertextSize768,
		newDecapsulator: func(seed []byte) (crypto.Decapsulator, error) { return mlkem.NewDecapsulationKey768(seed) },
		newEncapsulator: func(ek []byte) (crypto.Encapsulator, error) { return mlkem.NewEncapsulationKey768(ek) },
	}
	mlkemSet1024 = &mlkemSet{
		name: "ML-KEM-1024", ekSize: mlkem.EncapsulationKeySize1024, ctSize: mlkem.CiphertextSize1024,
		newDecapsulator: func(seed []byte) (crypto.Decapsulator, error) { return mlkem.NewDecapsulationKey1024(seed) },
		newEncapsulator: func(ek []byte) (crypto.Encapsulator, error) { return mlkem.NewEncapsulationKey1024(ek) },
	}
)

// circlMLKEM512 adapts circl's ML-KEM-512 to crypto.Decapsulator and
// crypto.Encapsulator.
type circlMLKEM512 struct {
	sk *mlkem512.PrivateKey
	pk *mlkem512.PublicKey
}

type circlMLKEM512Public struct{ pk *mlkem512.PublicKey }

func newCirclMLKEM512(seed []byte) (crypto.Decapsulator, error) {
	if len(seed) != mlkem512.KeySeedSize { // NewKeyFromSeed panics otherwise
		return nil, errors.New("ciphersuite: invalid ML-KEM-512 seed")
	}
	pk, sk := mlkem512.NewKeyFromSeed(seed)
	return circlMLKEM512{sk, pk}, nil
}

func parseCirclMLKEM512(ek []byte) (crypto.Encapsulator, error) {
	pk := new(mlkem512.PublicKey)
	// Unpack rejects a wrong length and coefficients not reduced mod q.
	if err := pk.Unpack(ek); err != nil {
		return nil, errors.New("ciphersuite: invalid ML-KEM-512 encapsulation key")
	}
	return circlMLKEM512Public{pk}, nil
}

func (k circlMLKEM512) Encapsulator() crypto.Encapsulator { return circlMLKEM512Public{k.pk} }

func (k circlMLKEM512) Decapsulate(ct []byte) ([]byte, error) {
	if len(ct) != mlkem512.CiphertextSize { // DecapsulateTo panics otherwise
		return nil, errors.New("ciphersuite: invalid ML-KEM-512 ciphertext")
	}
	ss := make([]byte, mlkem512.SharedKeySize)
	k.sk.DecapsulateTo(ss, ct)
	return ss, nil
}

func (p circlMLKEM512Public) Bytes() []byte {
	b := make([]byte, mlkem512.PublicKeySize)
	p.pk.Pack(b)
	return b
}

func (p circlMLKEM512Public) Encapsulate() (sharedKey, ciphertext []byte) {
	ss, ct := make([]byte, mlkem512.SharedKeySize), make([]byte, mlkem512.CiphertextSize)
	p.pk.EncapsulateTo(ct, ss, nil) // nil: fresh randomness from crypto/rand
	return ss, ct
}

// derivation is a DeriveKeyPair convention: it maps ikm to the private key
// (the seed the KEM expands), given the KEM's ID and private key size.
type derivation int

const (
	// deriveLabeled is draft-ietf-hpke-pq's DeriveKeyPair:
	// SHAKE256.LabeledDerive(ikm, "DeriveKeyPair", "", Nsk) under the
	// suite_id "KEM" || I2OSP(kem_id, 2).
	deriveLabeled derivation = iota
	// deriveSHAKE256 is SHAKE256(ikm, Nsk) without labels: X-Wing's
	// DeriveKeyPair as @hpke/hybridkem-x-wing 0.7.0 (ts-mls) and hpke-rs
	// 0.3 to 0.6 (OpenMLS's XWingKemDraft6) implement it.
	deriveSHAKE256
	// deriveRaw takes ikm itself as the seed and requires Nsk bytes of it:
	// ML-KEM's DeriveKeyPair in @hpke/ml-kem 0.3.0 (ts-mls), whose suites
	// use HKDF-SHA512 so that every node secret is exactly 64 bytes.
	deriveRaw
)

func (d derivation) seed(kemID uint16, ikm []byte, n int) ([]byte, error) {
	switch d {
	case deriveLabeled:
		h := sha3.NewSHAKE256()
		h.Write(ikm)
		h.Write([]byte(hpkeVersion))
		h.Write([]byte{'K', 'E', 'M', byte(kemID >> 8), byte(kemID)})
		const label = "DeriveKeyPair"
		h.Write([]byte{0, byte(len(label))})
		h.Write([]byte(label))
		h.Write([]byte{byte(n >> 8), byte(n)}) // then the empty context
		out := make([]byte, n)
		h.Read(out)
		return out, nil
	case deriveSHAKE256:
		return sha3.SumSHAKE256(ikm, n), nil
	default:
		if len(ikm) != n {
			return nil, errors.New("ciphersuite: DeriveKeyPair input must be exactly the private key size for this KEM")
		}
		return append([]byte(nil), ikm...), nil
	}
}

// seedKEM is a KEM whose private key is a seed it expands.
type seedKEM interface {
	id() uint16
	fromSeed(seed []byte) (priv, pub []byte, err error)
}

// generateFromSeed is GenerateKeyPair for a seedKEM: a random seed.
func generateFromSeed(k seedKEM, n int) (priv, pub []byte, err error) {
	seed := make([]byte, n)
	rand.Read(seed)
	return k.fromSeed(seed)
}

// deriveFromSeed is DeriveKeyPair for a seedKEM under convention d.
func deriveFromSeed(k seedKEM, d derivation, ikm []byte, n int) (priv, pub []byte, err error) {
	seed, err := d.seed(k.id(), ikm, n)
	if err != nil {
		return nil, nil, err
	}
	return k.fromSeed(seed)
}

// mlkemKEM is ML-KEM as an HPKE KEM (draft-ietf-hpke-pq section 3): the
// private key is the 64-byte seed, Encap and Decap are ML-KEM's, and the
// HPKE shared secret is ML-KEM's shared key.
type mlkemKEM struct {
	kemID      uint16
	set        *mlkemSet
	derivation derivation
}

func (k *mlkemKEM) id() uint16          { return k.kemID }
func (k *mlkemKEM) privateKeySize() int { return mlkemSeedSize }
func (k *mlkemKEM) publicKeySize() int  { return k.set.ekSize }
func (k *mlkemKEM) encSize() int        { return k.set.ctSize }

func (k *mlkemKEM) generate() (priv, pub []byte, err error) {
	return generateFromSeed(k, mlkemSeedSize)
}

func (k *mlkemKEM) derive(ikm []byte) (priv, pub []byte, err error) {
	return deriveFromSeed(k, k.derivation, ikm, mlkemSeedSize)
}

func (k *mlkemKEM) publicKey(priv []byte) ([]byte, error) {
	_, pub, err := k.fromSeed(priv)
	return pub, err
}

func (k *mlkemKEM) fromSeed(seed []byte) (priv, pub []byte, err error) {
	dk, err := k.set.newDecapsulator(seed)
	if err != nil {
		return nil, nil, err
	}
	return seed, dk.Encapsulator().Bytes(), nil
}

func (k *mlkemKEM) encap(pub []byte) (shared, enc []byte, err error) {
	ek, err := k.set.newEncapsulator(pub)
	if err != nil {
		return nil, nil, errors.New("ciphersuite: invalid HPKE public key")
	}
	shared, enc = ek.Encapsulate()
	return shared, enc, nil
}

func (k *mlkemKEM) checkPublicKey(pub []byte) error {
	if _, err := k.set.newEncapsulator(pub); err != nil {
		return errors.New("ciphersuite: invalid HPKE public key")
	}
	return nil
}

func (k *mlkemKEM) decap(enc, priv []byte) ([]byte, error) {
	dk, err := k.set.newDecapsulator(priv)
	if err != nil {
		return nil, err
	}
	// ML-KEM decapsulation never fails on a well-sized ciphertext: a
	// forged one yields a pseudorandom key (implicit rejection).
	return dk.Decapsulate(enc)
}

// hybridKEM is an ML-KEM/ECDH hybrid of draft-irtf-cfrg-concrete-hybrid-kems
// as draft-ietf-hpke-pq uses it; MLKEM768-X25519 is X-Wing. The private key
// is a 32-byte seed that SHAKE256 expands into the ML-KEM seed and the ECDH
// scalar; the shared secret is
//
//	SHA3-256(ss_PQ || ss_T || ct_T || ek_T || label)
type hybridKEM struct {
	kemID  uint16
	label  string
	set    *mlkemSet
	curve  ecdh.Curve
	nseed  int // curve scalar size, the unit of rejection sampling
	npoint int // encoded curve point size
	// derivation is the DeriveKeyPair convention.
	derivation derivation
}

const hybridSeedSize = 32

// xwingLabel is X-Wing's combiner label, the ASCII art \./ followed by /^\.
const xwingLabel = "\\.//^\\"

func (k *hybridKEM) id() uint16          { return k.kemID }
func (k *hybridKEM) privateKeySize() int { return hybridSeedSize }
func (k *hybridKEM) publicKeySize() int  { return k.set.ekSize + k.npoint }
func (k *hybridKEM) encSize() int        { return k.set.ctSize + k.npoint }

// expandedKey is a hybrid private key expanded from its seed.
type expandedKey struct {
	pq  crypto.Decapsulator
	t   *ecdh.PrivateKey
	pub []byte // ek_PQ || ek_T
}

// expand is the hybrid KEM's key expansion: SHAKE256(seed) yields the
// ML-KEM seed, then curve scalars until one is valid (only the NIST curves
// ever reject one, with negligible probability).
func (k *hybridKEM) expand(seed []byte) (*expandedKey, error) {
	if len(seed) != hybridSeedSize {
		return nil, errors.New("ciphersuite: invalid HPKE private key")
	}
	xof := sha3.NewSHAKE256()
	xof.Write(seed)
	pqSeed := make([]byte, mlkemSeedSize)
	xof.Read(pqSeed)
	pq, err := k.set.newDecapsulator(pqSeed)
	if err != nil {
		return nil, err
	}
	tSeed := make([]byte, k.nseed)
	for range 1000 {
		xof.Read(tSeed)
		t, err := k.curve.NewPrivateKey(tSeed)
		if err != nil {
			continue
		}
		pub := append(pq.Encapsulator().Bytes(), t.PublicKey().Bytes()...)
		return &expandedKey{pq, t, pub}, nil
	}
	return nil, errors.New("ciphersuite: hybrid key expansion found no valid scalar")
}

func (k *hybridKEM) generate() (priv, pub []byte, err error) {
	return generateFromSeed(k, hybridSeedSize)
}

func (k *hybridKEM) derive(ikm []byte) (priv, pub []byte, err error) {
	return deriveFromSeed(k, k.derivation, ikm, hybridSeedSize)
}

func (k *hybridKEM) publicKey(priv []byte) ([]byte, error) {
	x, err := k.expand(priv)
	if err != nil {
		return nil, err
	}
	return x.pub, nil
}

func (k *hybridKEM) fromSeed(seed []byte) (priv, pub []byte, err error) {
	pub, err = k.publicKey(seed)
	return seed, pub, err
}

func (k *hybridKEM) combine(ssPQ, ssT, ctT, ekT []byte) []byte {
	h := sha3.New256()
	h.Write(ssPQ)
	h.Write(ssT)
	h.Write(ctT)
	h.Write(ekT)
	h.Write([]byte(k.label))
	return h.Sum(nil)
}

// parsePublic splits and checks ek_PQ || ek_T.
func (k *hybridKEM) parsePublic(pub []byte) (crypto.Encapsulator, *ecdh.PublicKey, error) {
	pq, err := k.set.newEncapsulator(pub[:k.set.ekSize])
	if err != nil {
		return nil, nil, errors.New("ciphersuite: invalid HPKE public key")
	}
	pkT, err := k.curve.NewPublicKey(pub[k.set.ekSize:])
	if err != nil {
		return nil, nil, errors.New("ciphersuite: invalid HPKE public key")
	}
	return pq, pkT, nil
}

func (k *hybridKEM) checkPublicKey(pub []byte) error {
	_, _, err := k.parsePublic(pub)
	return err
}

func (k *hybridKEM) encap(pub []byte) (shared, enc []byte, err error) {
	pq, pkT, err := k.parsePublic(pub)
	if err != nil {
		return nil, nil, err
	}
	ekT := pub[k.set.ekSize:]
	eph, err := k.curve.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	ssT, err := eph.ECDH(pkT)
	if err != nil {
		return nil, nil, errors.New("ciphersuite: invalid DH result (low-order public key)")
	}
	ctT := eph.PublicKey().Bytes()
	ssPQ, ctPQ := pq.Encapsulate()
	return k.combine(ssPQ, ssT, ctT, ekT), append(ctPQ, ctT...), nil
}

func (k *hybridKEM) decap(enc, priv []byte) ([]byte, error) {
	x, err := k.expand(priv)
	if err != nil {
		return nil, err
	}
	ctPQ, ctT := enc[:k.set.ctSize], enc[k.set.ctSize:]
	ssPQ, err := x.pq.Decapsulate(ctPQ)
	if err != nil {
		return nil, err
	}
	pkE, err := k.curve.NewPublicKey(ctT)
	if err != nil {
		return nil, errors.New("ciphersuite: invalid kem output")
	}
	ssT, err := x.t.ECDH(pkE)
	if err != nil {
		return nil, errors.New("ciphersuite: invalid DH result (low-order public key)")
	}
	return k.combine(ssPQ, ssT, ctT, x.pub[k.set.ekSize:]), nil
}

func newXWing(kemID uint16, d derivation) *hybridKEM {
	return &hybridKEM{kemID: kemID, label: xwingLabel, set: mlkemSet768, curve: ecdh.X25519(), nseed: 32, npoint: 32, derivation: d}
}

// The post-quantum KEMs, by HPKE KEM ID and DeriveKeyPair convention.
var (
	kemMLKEM512      = &mlkemKEM{0x0040, mlkemSet512, deriveLabeled}
	kemMLKEM768      = &mlkemKEM{0x0041, mlkemSet768, deriveLabeled}
	kemMLKEM1024     = &mlkemKEM{0x0042, mlkemSet1024, deriveLabeled}
	kemXWing         = newXWing(0x647a, deriveLabeled)
	kemMLKEM768P256  = &hybridKEM{kemID: 0x0050, label: "MLKEM768-P256", set: mlkemSet768, curve: ecdh.P256(), nseed: 32, npoint: 65, derivation: deriveLabeled}
	kemMLKEM1024P384 = &hybridKEM{kemID: 0x0051, label: "MLKEM1024-P384", set: mlkemSet1024, curve: ecdh.P384(), nseed: 48, npoint: 97, derivation: deriveLabeled}

	// OpenMLS's X-Wing (HpkeKemType::XWingKemDraft6) runs HPKE under the
	// provisional KEM ID 0x004D.
	kemXWingOpenMLS = newXWing(0x004D, deriveSHAKE256)

	// ts-mls 1.6.4's KEMs, from @hpke/ml-kem 0.3.0 and
	// @hpke/hybridkem-x-wing 0.7.0: the standard KEM IDs, older derivations.
	kemMLKEM512TSMLS  = &mlkemKEM{0x0040, mlkemSet512, deriveRaw}
	kemMLKEM768TSMLS  = &mlkemKEM{0x0041, mlkemSet768, deriveRaw}
	kemMLKEM1024TSMLS = &mlkemKEM{0x0042, mlkemSet1024, deriveRaw}
	kemXWingTSMLS     = newXWing(0x647a, deriveSHAKE256)
)

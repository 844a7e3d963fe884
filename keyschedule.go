package mls

import (
	"errors"
	"fmt"

	"github.com/arbormls/mls/ciphersuite"
)

// EpochSecrets holds the secrets of one epoch of the key schedule (RFC 9420
// section 8). The secrets are unexported; accessors return the stored slices
// themselves, which callers must not modify and which the Erase methods zero.
// An accessor returns nil once its secret has been erased.
//
// The epoch_secret itself is never kept: it is consumed by deriving the
// values below and zeroed at once (section 9.2).
type EpochSecrets struct {
	suite *ciphersuite.Suite

	joinerSecret  []byte
	welcomeSecret []byte

	senderDataSecret   []byte
	encryptionSecret   []byte
	exporterSecret     []byte
	externalSecret     []byte
	confirmationKey    []byte
	membershipKey      []byte
	resumptionPSK      []byte
	epochAuthenticator []byte
	initSecret         []byte // init_secret_[n], input to the next epoch
	// applicationExportSecret is the root of the epoch's exporter tree
	// (draft-ietf-mls-extensions-10 section 4.4), consumed when the group
	// builds the tree.
	applicationExportSecret []byte
}

// errSecretErased is returned when a secret is asked for after it was erased.
var errSecretErased = errors.New("mls: secret already erased")

// secretOrZero returns v, or Nh zero bytes when v is nil (RFC 9420 section
// 8: an absent commit_secret or psk_secret is the all-zero string). Any other
// length is an error: a short IKM would silently change every epoch secret.
func secretOrZero(s *ciphersuite.Suite, v []byte, what string) ([]byte, error) {
	if v == nil {
		return make([]byte, s.HashSize()), nil
	}
	if len(v) != s.HashSize() {
		return nil, fmt.Errorf("mls: %s is %d bytes, want %d", what, len(v), s.HashSize())
	}
	return v, nil
}

// DeriveEpochSecrets advances the key schedule as a member does: from the
// previous epoch's init_secret, the commit_secret (nil for a Commit without
// a path: all zero), the psk_secret (nil when no PSK is injected: all zero)
// and the encoded GroupContext of the new epoch. The inputs are not modified;
// the caller erases the previous init_secret once the new epoch is in use.
func DeriveEpochSecrets(s *ciphersuite.Suite, initSecret, commitSecret, pskSecret, groupContext []byte) (*EpochSecrets, error) {
	if len(initSecret) != s.HashSize() {
		return nil, fmt.Errorf("mls: init_secret is %d bytes, want %d", len(initSecret), s.HashSize())
	}
	commitSecret, err := secretOrZero(s, commitSecret, "commit_secret")
	if err != nil {
		return nil, err
	}
	prk, err := s.Extract(initSecret, commitSecret)
	if err != nil {
		return nil, err
	}
	joiner, err := s.ExpandWithLabel(prk, "joiner", groupContext, s.HashSize())
	clear(prk)
	if err != nil {
		return nil, err
	}
	e, err := deriveFromJoiner(s, joiner, pskSecret, groupContext)
	if err != nil {
		clear(joiner)
		return nil, err
	}
	return e, nil
}

// DeriveEpochSecretsFromJoiner runs the key schedule as a new member does,
// from the joiner_secret of a Welcome's GroupSecrets, the psk_secret (nil
// when no PSK is injected) and the encoded GroupContext of the epoch joined.
func DeriveEpochSecretsFromJoiner(s *ciphersuite.Suite, joinerSecret, pskSecret, groupContext []byte) (*EpochSecrets, error) {
	if len(joinerSecret) != s.HashSize() {
		return nil, fmt.Errorf("mls: joiner_secret is %d bytes, want %d", len(joinerSecret), s.HashSize())
	}
	joiner := append([]byte(nil), joinerSecret...)
	e, err := deriveFromJoiner(s, joiner, pskSecret, groupContext)
	if err != nil {
		clear(joiner)
		return nil, err
	}
	return e, nil
}

// DeriveWelcomeSecret returns welcome_secret =
// DeriveSecret(Extract(joiner_secret, psk_secret), "welcome"), the secret a
// joiner needs to decrypt the GroupInfo before it knows the GroupContext.
func DeriveWelcomeSecret(s *ciphersuite.Suite, joinerSecret, pskSecret []byte) ([]byte, error) {
	member, err := memberSecret(s, joinerSecret, pskSecret)
	if err != nil {
		return nil, err
	}
	defer clear(member)
	return s.DeriveSecret(member, "welcome")
}

// memberSecret is Extract(salt = joiner_secret, ikm = psk_secret or 0), the
// unnamed intermediate from which welcome_secret and epoch_secret derive.
func memberSecret(s *ciphersuite.Suite, joinerSecret, pskSecret []byte) ([]byte, error) {
	if len(joinerSecret) != s.HashSize() {
		return nil, fmt.Errorf("mls: joiner_secret is %d bytes, want %d", len(joinerSecret), s.HashSize())
	}
	psk, err := secretOrZero(s, pskSecret, "psk_secret")
	if err != nil {
		return nil, err
	}
	return s.Extract(joinerSecret, psk)
}

// deriveFromJoiner takes ownership of joiner (it becomes e.joinerSecret).
func deriveFromJoiner(s *ciphersuite.Suite, joiner, pskSecret, groupContext []byte) (*EpochSecrets, error) {
	member, err := memberSecret(s, joiner, pskSecret)
	if err != nil {
		return nil, err
	}
	defer clear(member)
	e := &EpochSecrets{suite: s, joinerSecret: joiner}
	if e.welcomeSecret, err = s.DeriveSecret(member, "welcome"); err != nil {
		return nil, err
	}
	epoch, err := s.ExpandWithLabel(member, "epoch", groupContext, s.HashSize())
	if err != nil {
		e.Erase()
		return nil, err
	}
	defer clear(epoch)
	for _, d := range []struct {
		dst   *[]byte
		label string
	}{
		{&e.senderDataSecret, "sender data"},
		{&e.encryptionSecret, "encryption"},
		{&e.exporterSecret, "exporter"},
		{&e.externalSecret, "external"},
		{&e.confirmationKey, "confirm"},
		{&e.membershipKey, "membership"},
		{&e.resumptionPSK, "resumption"},
		{&e.epochAuthenticator, "authentication"},
		{&e.initSecret, "init"},
		{&e.applicationExportSecret, "application_export"},
	} {
		if *d.dst, err = s.DeriveSecret(epoch, d.label); err != nil {
			e.Erase()
			return nil, err
		}
	}
	return e, nil
}

// Suite returns the cipher suite the secrets were derived with.
func (e *EpochSecrets) Suite() *ciphersuite.Suite { return e.suite }

// JoinerSecret returns joiner_secret, which a committer puts in the
// GroupSecrets of its Welcome.
func (e *EpochSecrets) JoinerSecret() []byte { return e.joinerSecret }

// WelcomeSecret returns welcome_secret, which keys the encryption of the
// GroupInfo in a Welcome.
func (e *EpochSecrets) WelcomeSecret() []byte { return e.welcomeSecret }

// SenderDataSecret returns sender_data_secret (see [SenderDataKeyNonce]).
func (e *EpochSecrets) SenderDataSecret() []byte { return e.senderDataSecret }

// EncryptionSecret returns encryption_secret, the root of the secret tree.
func (e *EpochSecrets) EncryptionSecret() []byte { return e.encryptionSecret }

// ExporterSecret returns exporter_secret (see [EpochSecrets.Exporter]).
func (e *EpochSecrets) ExporterSecret() []byte { return e.exporterSecret }

// ExternalSecret returns external_secret, the seed of the external key pair.
func (e *EpochSecrets) ExternalSecret() []byte { return e.externalSecret }

// ConfirmationKey returns confirmation_key, the key of the confirmation_tag MAC.
func (e *EpochSecrets) ConfirmationKey() []byte { return e.confirmationKey }

// MembershipKey returns membership_key, the key of a PublicMessage's membership_tag.
func (e *EpochSecrets) MembershipKey() []byte { return e.membershipKey }

// ResumptionPSK returns resumption_psk, this epoch's secret for later
// resumption PSKs (RFC 9420 section 8.6).
func (e *EpochSecrets) ResumptionPSK() []byte { return e.resumptionPSK }

// EpochAuthenticator returns epoch_authenticator (RFC 9420 section 8.7).
// It is not secret from the members, but should not be published.
func (e *EpochSecrets) EpochAuthenticator() []byte { return e.epochAuthenticator }

// InitSecret returns init_secret_[n], the input to the next epoch's key schedule.
func (e *EpochSecrets) InitSecret() []byte { return e.initSecret }

// Exporter is MLS-Exporter(label, context, length) of RFC 9420 section 8.5:
// ExpandWithLabel(DeriveSecret(exporter_secret, label), "exported",
// Hash(context), length).
func (e *EpochSecrets) Exporter(label string, context []byte, length int) ([]byte, error) {
	if e.exporterSecret == nil {
		return nil, errSecretErased
	}
	s := e.suite
	derived, err := s.DeriveSecret(e.exporterSecret, label)
	if err != nil {
		return nil, err
	}
	defer clear(derived)
	return s.ExpandWithLabel(derived, "exported", s.Hash(context), length)
}

// ExternalKeyPair derives the group's external HPKE key pair,
// KEM.DeriveKeyPair(external_secret) (RFC 9420 section 8). The private key
// lets members process external Commits; external_pub goes in GroupInfo.
func (e *EpochSecrets) ExternalKeyPair() (priv, pub []byte, err error) {
	if e.externalSecret == nil {
		return nil, nil, errSecretErased
	}
	return e.suite.DeriveHPKEKeyPair(e.externalSecret)
}

// ExternalPub returns external_pub, the public half of [EpochSecrets.ExternalKeyPair].
func (e *EpochSecrets) ExternalPub() ([]byte, error) {
	priv, pub, err := e.ExternalKeyPair()
	clear(priv)
	return pub, err
}

// EraseJoinerSecrets zeroes joiner_secret and welcome_secret, which are
// consumed once the Welcome for the epoch has been built or processed.
func (e *EpochSecrets) EraseJoinerSecrets() {
	erase(&e.joinerSecret, &e.welcomeSecret)
}

// EraseInitSecret zeroes init_secret_[n], consumed once the next epoch's
// secrets have been derived and that epoch is in use (RFC 9420 section 9.2).
func (e *EpochSecrets) EraseInitSecret() { erase(&e.initSecret) }

// EraseEncryptionSecret zeroes encryption_secret, consumed once the secret
// tree has been built from it (NewSecretTree copies it).
func (e *EpochSecrets) EraseEncryptionSecret() { erase(&e.encryptionSecret) }

// Erase zeroes every secret of the epoch, as when the epoch leaves the
// window of epochs a member keeps.
func (e *EpochSecrets) Erase() {
	erase(&e.joinerSecret, &e.welcomeSecret, &e.senderDataSecret, &e.encryptionSecret,
		&e.exporterSecret, &e.externalSecret, &e.confirmationKey, &e.membershipKey,
		&e.resumptionPSK, &e.epochAuthenticator, &e.initSecret, &e.applicationExportSecret)
}

// erase zeroes each secret in place and drops the reference.
func erase(secrets ...*[]byte) {
	for _, p := range secrets {
		clear(*p)
		*p = nil
	}
}

// String names the type and suite only; secrets never appear.
func (e EpochSecrets) String() string {
	if e.suite == nil {
		return "mls.EpochSecrets(redacted)"
	}
	return "mls.EpochSecrets(" + e.suite.Name() + ", redacted)"
}

// GoString keeps %#v from printing the secret fields.
func (e EpochSecrets) GoString() string { return e.String() }

package ciphersuite

import (
	"github.com/arbormls/mls/internal/codec"
)

// ComponentID identifies a component of an application using MLS
// (draft-ietf-mls-extensions-10 section 4.1): the safe application
// interface separates the signatures, encryptions and exported secrets of
// one component from those of MLS itself and of every other component.
type ComponentID uint16

// componentBaseLabel is ComponentOperationLabel.base_label.
const componentBaseLabel = "MLS Component"

// ComponentOperationLabel returns the encoding of the draft's
// ComponentOperationLabel for component id and operation label:
//
//	struct {
//	    opaque base_label<V>; /* = "MLS Component" */
//	    ComponentID component_id;
//	    opaque label<V>;
//	} ComponentOperationLabel;
//
// It is the label the Safe*WithLabel functions pass to the *WithLabel
// functions of RFC 9420, which prefix it with "MLS 1.0 " as always. It
// fails only for a label too long for a vector (2^30 bytes).
func ComponentOperationLabel(id ComponentID, label string) ([]byte, error) {
	b := codec.NewBuilder(2 + len(componentBaseLabel) + 2 + 4 + len(label))
	b.AddOpaque([]byte(componentBaseLabel))
	b.AddUint16(uint16(id))
	b.AddOpaque([]byte(label))
	return b.Bytes()
}

// SafeSignWithLabel is SignWithLabel with the ComponentOperationLabel of
// component id and label (draft-ietf-mls-extensions-10 section 4.3): a
// component signs with an MLS signature key, for example its leaf's,
// without any signature of MLS or of another component verifying as its.
// id MUST be the signing component's own.
func (s *Suite) SafeSignWithLabel(k *SigningKey, id ComponentID, label string, content []byte) ([]byte, error) {
	l, err := ComponentOperationLabel(id, label)
	if err != nil {
		return nil, err
	}
	return s.SignWithLabel(k, string(l), content)
}

// SafeVerifyWithLabel verifies a signature of SafeSignWithLabel.
func (s *Suite) SafeVerifyWithLabel(pub []byte, id ComponentID, label string, content, signature []byte) error {
	l, err := ComponentOperationLabel(id, label)
	if err != nil {
		return err
	}
	return s.VerifyWithLabel(pub, string(l), content, signature)
}

// SafeEncryptWithLabel is EncryptWithLabel with the ComponentOperationLabel
// of component id and label (draft-ietf-mls-extensions-10 section 4.2): it
// encrypts to an MLS HPKE key (a leaf's encryption key, external_pub)
// something only component id decrypts.
func (s *Suite) SafeEncryptWithLabel(pub []byte, id ComponentID, label string, context, plaintext []byte) (kemOutput, ciphertext []byte, err error) {
	l, err := ComponentOperationLabel(id, label)
	if err != nil {
		return nil, nil, err
	}
	return s.EncryptWithLabel(pub, string(l), context, plaintext)
}

// SafeDecryptWithLabel decrypts what SafeEncryptWithLabel encrypted. id
// MUST be the decrypting component's own.
func (s *Suite) SafeDecryptWithLabel(priv []byte, id ComponentID, label string, context, kemOutput, ciphertext []byte) ([]byte, error) {
	l, err := ComponentOperationLabel(id, label)
	if err != nil {
		return nil, err
	}
	return s.DecryptWithLabel(priv, string(l), context, kemOutput, ciphertext)
}

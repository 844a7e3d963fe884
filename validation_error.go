package mls

// ValidationError reports a protocol object that breaks a validation rule of
// RFC 9420: a KeyPackage, a LeafNode, a ratchet tree, a proposal or a
// commit. Rule names the rule in a few words (for example "key package
// signature" or "lifetime"); Err says what was wrong and may wrap a cause
// such as ciphersuite.ErrVerification.
//
// Callers branch on it with errors.As:
//
//	var ve *mls.ValidationError
//	if errors.As(err, &ve) && ve.Rule == "lifetime" { ... }
type ValidationError struct {
	Rule string
	Err  error
}

// Error returns "mls: <rule>: <cause>".
func (e *ValidationError) Error() string {
	if e.Err == nil {
		return "mls: " + e.Rule
	}
	return "mls: " + e.Rule + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *ValidationError) Unwrap() error { return e.Err }

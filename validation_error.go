package mls

import (
	"fmt"
	"strings"
)

// ValidationError reports a protocol object that breaks a validation rule of
// RFC 9420: a KeyPackage, a LeafNode, a ratchet tree, a proposal or a
// commit. Rule names the rule in a few words ("signature", "parent_hash",
// "lifetime", ...). For rules about a ratchet tree, Node is the node at
// fault (HasNode is set). Err is what was wrong: one of the sentinel errors
// of this package where one exists (so errors.Is works), else the cause.
// Cause is the error of the application's credential validator, for the
// rule "credential".
//
// Callers branch on it with errors.As:
//
//	var ve *mls.ValidationError
//	if errors.As(err, &ve) && ve.Rule == "lifetime" { ... }
type ValidationError struct {
	Rule    string
	Node    NodeIndex
	HasNode bool
	Reason  string
	Err     error
	Cause   error
}

// Error returns "mls: <rule>: <reason>[ at node N][ (RFC 9420 section S)]".
func (e *ValidationError) Error() string {
	msg := "mls: " + e.Rule
	detail := e.Reason
	if detail == "" && e.Err != nil {
		detail = e.Err.Error()
	}
	if detail != "" {
		msg += ": " + detail
	}
	if e.HasNode {
		msg += fmt.Sprintf(" at node %d", e.Node)
	}
	sec, ok := ruleSections[e.Rule]
	if !ok {
		sec, ok = groupRuleSections[e.Rule]
	}
	if ok && strings.HasPrefix(sec, "draft-") {
		msg += " (" + sec + ")"
	} else if ok {
		msg += " (RFC 9420 section " + sec + ")"
	}
	return msg
}

// Unwrap returns Err and Cause, whichever are set.
func (e *ValidationError) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.Err, e.Cause} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

package ds

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/dsclient"
)

// Headers of a signed request; dsclient holds the one definition, which
// its clients use too.
const (
	HeaderClient    = dsclient.HeaderClient
	HeaderTimestamp = dsclient.HeaderTimestamp
	HeaderNonce     = dsclient.HeaderNonce
	HeaderSignature = dsclient.HeaderSignature
	// Voucher headers of a registration (dsclient.VouchRequest).
	HeaderVoucher          = dsclient.HeaderVoucher
	HeaderVoucherSignature = dsclient.HeaderVoucherSignature
)

// RequestLabel is the SignWithLabel label of request signatures
// (dsclient.RequestLabel).
const RequestLabel = dsclient.RequestLabel

// DefaultClockWindow is how far a request's timestamp may be from the
// server's clock.
const DefaultClockWindow = 2 * time.Minute

// ErrUnauthenticated is wrapped by every authentication failure.
var ErrUnauthenticated = errors.New("mls: ds: unauthenticated")

// Authenticator decides which registered client sent a request. body is
// the whole request body, already read. A deployment may plug its own
// (mutual TLS, tokens); SignatureAuth is the default.
type Authenticator interface {
	Authenticate(r *http.Request, body []byte) (clientID string, err error)
}

// SignRequest sets the authentication headers of r, whose body is body,
// for the client clientID with its MLS signature key. It is
// dsclient.SignRequest, kept here for the server's callers and tests.
func SignRequest(r *http.Request, clientID string, key *ciphersuite.SigningKey, body []byte) error {
	return dsclient.SignRequest(r, clientID, key, body)
}

// VouchRequest sets the voucher headers of a registration r signed by
// SignRequest; it is dsclient.VouchRequest.
func VouchRequest(r *http.Request, voucherID string, voucherKey *ciphersuite.SigningKey, body []byte) error {
	return dsclient.VouchRequest(r, voucherID, voucherKey, body)
}

// SignatureAuth authenticates requests signed with SignRequest by the
// signature key the client registered, within Window of the server's
// clock, each nonce once (recorded in the Store, so the rule holds across
// server processes).
type SignatureAuth struct {
	Store  Store
	Window time.Duration    // zero means DefaultClockWindow
	Now    func() time.Time // nil means time.Now
}

// verifyRequest checks r's signature with pub and its timestamp; it
// returns the nonce and its expiry.
func (a *SignatureAuth) verifyRequest(r *http.Request, body []byte, suite ciphersuite.ID, pub []byte) (string, time.Time, error) {
	now, window := time.Now(), a.Window
	if a.Now != nil {
		now = a.Now()
	}
	if window == 0 {
		window = DefaultClockWindow
	}
	ts, nonce := r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderNonce)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: bad timestamp", ErrUnauthenticated)
	}
	t := time.Unix(sec, 0)
	if t.Before(now.Add(-window)) || t.After(now.Add(window)) {
		return "", time.Time{}, fmt.Errorf("%w: timestamp outside the clock window", ErrUnauthenticated)
	}
	if len(nonce) < 16 || len(nonce) > 64 {
		return "", time.Time{}, fmt.Errorf("%w: bad nonce", ErrUnauthenticated)
	}
	if err := verifyContent(r, body, HeaderSignature, suite, pub); err != nil {
		return "", time.Time{}, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	// A nonce must be remembered as long as its timestamp is acceptable.
	return nonce, t.Add(window + time.Minute), nil
}

// verifyContent checks the signature in r's header sigHeader, with the key
// pub of suite, over the request's content (dsclient.RequestContent, with
// r's timestamp and nonce, which the caller checks).
func verifyContent(r *http.Request, body []byte, sigHeader string, suite ciphersuite.ID, pub []byte) error {
	sig, err := base64.StdEncoding.DecodeString(r.Header.Get(sigHeader))
	if err != nil {
		return errors.New("bad signature encoding")
	}
	s, err := ciphersuite.Lookup(suite)
	if err != nil {
		return err
	}
	content := dsclient.RequestContent(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderNonce), body)
	if err := s.VerifyWithLabel(pub, RequestLabel, content, sig); err != nil {
		return errors.New("bad signature")
	}
	return nil
}

// Authenticate implements Authenticator.
func (a *SignatureAuth) Authenticate(r *http.Request, body []byte) (string, error) {
	id := r.Header.Get(HeaderClient)
	c, err := a.Store.Client(r.Context(), id)
	if errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("%w: unknown client", ErrUnauthenticated)
	} else if err != nil {
		return "", err
	}
	nonce, exp, err := a.verifyRequest(r, body, ciphersuite.ID(c.Suite), c.SignatureKey)
	if err != nil {
		return "", err
	}
	if err := a.useNonce(r.Context(), id, nonce, exp); err != nil {
		return "", err
	}
	return id, nil
}

func (a *SignatureAuth) useNonce(ctx context.Context, id, nonce string, exp time.Time) error {
	err := a.Store.UseNonce(ctx, id, nonce, exp)
	if errors.Is(err, ErrReplay) {
		return fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	return err
}

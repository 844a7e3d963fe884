// Package dsclient is a client of mlsd, Arbor's MLS Delivery Service
// (RFC 9750 section 5; the server is the nested module
// github.com/arbormls/mls/ds, whose README lists the HTTP API).
//
// A Client speaks for one registered client of the service: it signs
// every request with the client's MLS signature key (SignRequest) and has
// one method per endpoint. MLS objects travel in their wire form; the
// methods take *mls.MLSMessage and *mls.KeyPackage values and return what
// the server sent as bytes where one malformed entry must not hide the
// others (a claim, an inbox page).
//
// The usual order for a member: Register once (a user's later devices:
// RegisterDevice, vouched for by one registered), PublishKeyPackages, then
// Claim the KeyPackages of the users to add, Commit the group's changes
// (merging the pending commit only once Commit returns an epoch, and
// discarding it on a *ConflictError), Send application messages, and read
// everything addressed to the client with Inbox, acknowledging with Ack
// what was processed and saved.
//
// The package depends on the standard library and the mls module only, so
// applications that talk to a Delivery Service take no database driver.
package dsclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
)

// Headers of a signed request.
const (
	HeaderClient    = "Mlsd-Client"
	HeaderTimestamp = "Mlsd-Timestamp"
	HeaderNonce     = "Mlsd-Nonce"
	HeaderSignature = "Mlsd-Signature"
	// HeaderVoucher and HeaderVoucherSignature vouch for the registration
	// of another client of a user that already has clients: the ID of one
	// of them, and its signature (SignWithLabel, RequestLabel) over the
	// same RequestContent as HeaderSignature (VouchRequest sets them).
	HeaderVoucher          = "Mlsd-Voucher"
	HeaderVoucherSignature = "Mlsd-Voucher-Signature"
)

// RequestLabel is the SignWithLabel label of request signatures, distinct
// from every label RFC 9420 uses, so a request signature can never be
// taken for an MLS signature or the reverse.
const RequestLabel = "mlsd request"

// ContentTypeMLS is the media type of a body in the MLS wire form (an
// MLSMessage), RFC 9420 section 17.10.
const ContentTypeMLS = "application/mls-message"

// MaxGroupIDLen is the longest group ID, in bytes, that mlsd serves and
// its clients send: RFC 9420 lets a group ID be up to 2^30 - 1 bytes, and a
// service may take fewer. 127 is what the mls command's state folder holds
// (dirstore.MaxIDLen: its hex must fit a 255-byte file name), so a server
// that takes no more never hands a client a message it cannot store.
const MaxGroupIDLen = 127

// DefaultMaxResponse bounds the body of an answer the client reads. An
// inbox page holds up to 500 messages of up to 1 MiB each by the server's
// defaults, so a page of large messages can be big; beyond this bound the
// request fails rather than using unbounded memory.
const DefaultMaxResponse = 64 << 20

// RequestContent is the content a request signature covers: method, path
// (escaped, as sent), raw query, timestamp, nonce and the SHA-256 of the
// body, each with a 4-byte length prefix so that no two requests share an
// encoding. The server verifies with the same function.
func RequestContent(method, path, query, ts, nonce string, body []byte) []byte {
	h := sha256.Sum256(body)
	var b bytes.Buffer
	for _, f := range [][]byte{[]byte(method), []byte(path), []byte(query), []byte(ts), []byte(nonce), h[:]} {
		b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(f))))
		b.Write(f)
	}
	return b.Bytes()
}

// SignRequest sets the authentication headers of r, whose body is body,
// for the client clientID with its MLS signature key: a fresh random
// nonce, the current time in Unix seconds, and
// SignWithLabel(key, RequestLabel, RequestContent(...)) in standard
// base64.
func SignRequest(r *http.Request, clientID string, key *ciphersuite.SigningKey, body []byte) error {
	s, err := ciphersuite.Lookup(key.Suite())
	if err != nil {
		return err
	}
	var n [16]byte
	if _, err := rand.Read(n[:]); err != nil {
		return err
	}
	nonce := hex.EncodeToString(n[:])
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sig, err := s.SignWithLabel(key, RequestLabel, RequestContent(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, ts, nonce, body))
	if err != nil {
		return err
	}
	r.Header.Set(HeaderClient, clientID)
	r.Header.Set(HeaderTimestamp, ts)
	r.Header.Set(HeaderNonce, nonce)
	r.Header.Set(HeaderSignature, base64.StdEncoding.EncodeToString(sig))
	return nil
}

// VouchRequest sets the voucher headers of r, a registration already
// signed by SignRequest (whose timestamp and nonce it reuses), for the
// registered client voucherID with its signature key: that client, of the
// same user, vouches for the new one. Its signature covers the same
// content as the new client's, so it holds for this request only.
func VouchRequest(r *http.Request, voucherID string, voucherKey *ciphersuite.SigningKey, body []byte) error {
	s, err := ciphersuite.Lookup(voucherKey.Suite())
	if err != nil {
		return err
	}
	ts, nonce := r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderNonce)
	if ts == "" || nonce == "" {
		return errors.New("dsclient: VouchRequest on a request not signed by SignRequest")
	}
	sig, err := s.SignWithLabel(voucherKey, RequestLabel, RequestContent(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, ts, nonce, body))
	if err != nil {
		return err
	}
	r.Header.Set(HeaderVoucher, voucherID)
	r.Header.Set(HeaderVoucherSignature, base64.StdEncoding.EncodeToString(sig))
	return nil
}

// RegisterRequest is the body of POST /v1/clients.
type RegisterRequest struct {
	ID           string `json:"id"`
	User         string `json:"user"`
	Suite        uint16 `json:"suite"`
	SignatureKey []byte `json:"signature_key"`
}

// KeyPackagesRequest is the body of POST /v1/keypackages: KeyPackages as
// MLSMessages in the wire form.
type KeyPackagesRequest struct {
	KeyPackages [][]byte `json:"key_packages"`
}

// ClaimedKeyPackage is one entry of the answer to a claim: a KeyPackage,
// as an MLSMessage in the wire form, of the client Client.
type ClaimedKeyPackage struct {
	Client     string `json:"client"`
	KeyPackage []byte `json:"key_package"`
	LastResort bool   `json:"last_resort,omitempty"`
}

// Parse decodes the claimed KeyPackage. It checks only the encoding; the
// caller validates the KeyPackage for its group (mls.KeyPackage.Validate,
// which Group.Commit runs on the KeyPackages it adds).
func (c *ClaimedKeyPackage) Parse() (*mls.KeyPackage, error) {
	var m mls.MLSMessage
	if err := m.UnmarshalBinary(c.KeyPackage); err != nil {
		return nil, fmt.Errorf("dsclient: KeyPackage of client %q: %w", c.Client, err)
	}
	if m.KeyPackage == nil {
		return nil, fmt.Errorf("dsclient: KeyPackage of client %q is a %v", c.Client, m.WireFormat())
	}
	return m.KeyPackage, nil
}

// CommitBundle is the body of POST /v1/groups/{group}/commit: the commit
// and, optionally, the Welcome of the members it adds and the GroupInfo of
// the new epoch, each an MLSMessage in the wire form.
type CommitBundle struct {
	Commit    []byte `json:"commit"`
	Welcome   []byte `json:"welcome,omitempty"`
	GroupInfo []byte `json:"group_info,omitempty"`
}

// InboxMessage is one entry of an inbox page: an MLSMessage in the wire
// form with its sequence number, which increases by one per message
// delivered to the client.
type InboxMessage struct {
	Seq     uint64 `json:"seq"`
	Message []byte `json:"message"`
}

// Parse decodes the message.
func (m *InboxMessage) Parse() (*mls.MLSMessage, error) {
	var msg mls.MLSMessage
	if err := msg.UnmarshalBinary(m.Message); err != nil {
		return nil, fmt.Errorf("dsclient: inbox message %d: %w", m.Seq, err)
	}
	return &msg, nil
}

// AckRequest is the body of POST /v1/inbox/ack.
type AckRequest struct {
	Seq uint64 `json:"seq"`
}

// Error is an answer of the server other than success: its HTTP status
// and the message of its JSON error body (or the start of a body of
// another kind).
type Error struct {
	Status  int
	Message string
	// RetryAfter is the wait a 429 (rate limit) answer asked for.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("dsclient: server answered %d %s", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("dsclient: server answered %d: %s", e.Status, e.Message)
}

// ConflictError is the answer 409 to a commit or message of an epoch that
// is not the group's current one (for messages: not within the server's
// window of recent epochs). Epoch is the group's current epoch at the
// server. For a commit, the group's pending commit lost: discard it,
// process the inbox (which holds the commit that won) and try again.
type ConflictError struct {
	Epoch uint64
	Err   *Error
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("dsclient: epoch conflict, the group is in epoch %d at the server: %s", e.Epoch, e.Err.Message)
}

// Unwrap returns the underlying *Error (status 409).
func (e *ConflictError) Unwrap() error { return e.Err }

// Rate limits: a request answered 429 was not processed (the server
// counts requests before it handles them), so it is sent again, signed
// afresh, after the Retry-After the server gave, up to rateRetries times.
const (
	rateRetries  = 3
	maxRateWait  = 30 * time.Second
	defaultRetry = time.Second
)

// Client is a client of one mlsd server, speaking for one registered MLS
// client. Its methods may be called concurrently. A request refused by the
// server's rate limit (429) is sent again after the wait the server asks
// for, up to 3 times, within the context's deadline.
type Client struct {
	base *url.URL
	id   string
	key  *ciphersuite.SigningKey
	// HTTP is the HTTP client used; nil means http.DefaultClient. Inbox
	// long polls last up to the wait asked, so a Timeout, if set, must be
	// longer.
	HTTP *http.Client
	// MaxResponse bounds the answers read; zero means DefaultMaxResponse.
	MaxResponse int64

	// sleep waits before a retry; nil means a timer (tests replace it).
	sleep func(ctx context.Context, d time.Duration) error
}

// New returns a Client of the server at serverURL (http or https, e.g.
// "http://127.0.0.1:7420") for the client clientID, which signs its
// requests with key, the signature key of its MLS identity.
func New(serverURL, clientID string, key *ciphersuite.SigningKey) (*Client, error) {
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("dsclient: server URL %q is not an http or https URL", serverURL)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("dsclient: server URL %q must not have credentials, a query or a fragment", serverURL)
	}
	if clientID == "" || len(clientID) > 256 {
		return nil, errors.New("dsclient: client ID must be 1 to 256 bytes")
	}
	if key == nil {
		return nil, errors.New("dsclient: no signature key")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return &Client{base: u, id: clientID, key: key}, nil
}

// ID returns the client's ID at the server.
func (c *Client) ID() string { return c.id }

// groupPath is the path of a group's endpoints: its ID in unpadded
// base64url.
func groupPath(groupID []byte) string {
	return "/v1/groups/" + base64.RawURLEncoding.EncodeToString(groupID)
}

// checkGroupID refuses a group ID the server does not serve, before a
// request is made.
func checkGroupID(groupID []byte) error {
	if len(groupID) == 0 || len(groupID) > MaxGroupIDLen {
		return fmt.Errorf("dsclient: group ID of %d bytes: the Delivery Service serves 1 to %d", len(groupID), MaxGroupIDLen)
	}
	return nil
}

// do sends a signed request and returns the answer's body when its status
// is want, sending it again while the server's rate limit refuses it.
// path is escaped; contentType is that of body, if any.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, contentType string, body []byte, want int) ([]byte, error) {
	return c.doSigned(ctx, nil, method, path, query, contentType, body, want)
}

// doSigned is do, with sign, when not nil, called on each signed request
// before it is sent (to add a voucher's signature).
func (c *Client) doSigned(ctx context.Context, sign func(*http.Request) error, method, path string, query url.Values, contentType string, body []byte, want int) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		out, err := c.doOnce(ctx, sign, method, path, query, contentType, body, want)
		var herr *Error
		if attempt == rateRetries || !errors.As(err, &herr) || herr.Status != http.StatusTooManyRequests {
			return out, err
		}
		sleep := c.sleep
		if sleep == nil {
			sleep = sleepCtx
		}
		if err := sleep(ctx, min(herr.RetryAfter, maxRateWait)); err != nil {
			return nil, fmt.Errorf("dsclient: %w", err)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// doOnce sends the request once; see do.
func (c *Client) doOnce(ctx context.Context, sign func(*http.Request) error, method, path string, query url.Values, contentType string, body []byte, want int) ([]byte, error) {
	u := *c.base
	u.RawPath = c.base.EscapedPath() + path
	var err error
	if u.Path, err = url.PathUnescape(u.RawPath); err != nil {
		return nil, fmt.Errorf("dsclient: %w", err)
	}
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("dsclient: %w", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if err := SignRequest(req, c.id, c.key, body); err != nil {
		return nil, fmt.Errorf("dsclient: signing the request: %w", err)
	}
	if sign != nil {
		if err := sign(req); err != nil {
			return nil, fmt.Errorf("dsclient: signing the request: %w", err)
		}
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("dsclient: %w", err)
	}
	defer resp.Body.Close()
	max := c.MaxResponse
	if max <= 0 {
		max = DefaultMaxResponse
	}
	out, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("dsclient: reading the answer: %w", err)
	}
	if int64(len(out)) > max {
		return nil, fmt.Errorf("dsclient: answer of %s %s longer than %d bytes", method, path, max)
	}
	if resp.StatusCode != want {
		err := answerError(resp.StatusCode, out)
		var herr *Error
		if resp.StatusCode == http.StatusTooManyRequests && errors.As(err, &herr) {
			// Seconds (RFC 9110 section 10.2.3); an HTTP date, which
			// mlsd does not send, counts as the default.
			herr.RetryAfter = defaultRetry
			if n, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && n >= 0 {
				herr.RetryAfter = time.Duration(min(n, int(maxRateWait/time.Second))) * time.Second
			}
		}
		return nil, err
	}
	return out, nil
}

// answerError makes the error of an unexpected status. The server answers
// errors as JSON {"error": ..., "epoch"?: ...}; a proxy may answer
// anything. Of either, the first line, printable and bounded, is kept.
func answerError(status int, body []byte) error {
	var e struct {
		Error string  `json:"error"`
		Epoch *uint64 `json:"epoch"`
	}
	herr := &Error{Status: status}
	// Either way the text is the server's, which MLS does not trust: keep
	// one line, bounded and printable, so that printing an error cannot
	// drive a terminal.
	text := string(body)
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		text = e.Error
	}
	line, _, _ := strings.Cut(text, "\n")
	if len(line) > 200 {
		line = line[:200]
	}
	herr.Message = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, strings.TrimSpace(line))
	if status == http.StatusConflict && e.Epoch != nil {
		return &ConflictError{Epoch: *e.Epoch, Err: herr}
	}
	return herr
}

// doJSON sends v as a JSON body (none if v is nil) and decodes the answer
// into out, if not nil.
func (c *Client) doJSON(ctx context.Context, method, path string, query url.Values, v any, want int, out any) error {
	var body []byte
	ct := ""
	if v != nil {
		var err error
		if body, err = json.Marshal(v); err != nil {
			return fmt.Errorf("dsclient: %w", err)
		}
		ct = "application/json"
	}
	data, err := c.do(ctx, method, path, query, ct, body, want)
	if err != nil {
		return err
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("dsclient: answer of %s %s is not the JSON expected: %w", method, path, err)
		}
	}
	return nil
}

// Register registers the client under user, with the suite and public key
// of its signature key. The request is signed with that key, which proves
// the client holds it. An ID or key already registered fails with an
// *Error of status 409. It is for the first client of user; a user that
// has clients takes another only with RegisterDevice (403 otherwise).
func (c *Client) Register(ctx context.Context, user string) error {
	req := RegisterRequest{ID: c.id, User: user, Suite: uint16(c.key.Suite()), SignatureKey: c.key.PublicKey()}
	return c.doJSON(ctx, http.MethodPost, "/v1/clients", nil, req, http.StatusCreated, nil)
}

// RegisterDevice registers the client as another device of user, which
// already has clients: voucherID, a registered client of user, vouches for
// it with its signature key voucherKey (VouchRequest). Without a voucher,
// or with one of another user or a wrong key, the server answers 403.
func (c *Client) RegisterDevice(ctx context.Context, user, voucherID string, voucherKey *ciphersuite.SigningKey) error {
	if voucherID == "" || voucherKey == nil {
		return errors.New("dsclient: RegisterDevice needs a voucher ID and key")
	}
	body, err := json.Marshal(RegisterRequest{ID: c.id, User: user, Suite: uint16(c.key.Suite()), SignatureKey: c.key.PublicKey()})
	if err != nil {
		return fmt.Errorf("dsclient: %w", err)
	}
	vouch := func(r *http.Request) error { return VouchRequest(r, voucherID, voucherKey, body) }
	_, err = c.doSigned(ctx, vouch, http.MethodPost, "/v1/clients", nil, "application/json", body, http.StatusCreated)
	return err
}

// PublishKeyPackages publishes KeyPackages of the client (of its suite
// and signature key; the server validates each) and returns how many
// unclaimed ones, last-resort ones excluded, the server now holds.
func (c *Client) PublishKeyPackages(ctx context.Context, kps []*mls.KeyPackage) (int, error) {
	var req KeyPackagesRequest
	for _, kp := range kps {
		data, err := (&mls.MLSMessage{KeyPackage: kp}).MarshalBinary()
		if err != nil {
			return 0, fmt.Errorf("dsclient: %w", err)
		}
		req.KeyPackages = append(req.KeyPackages, data)
	}
	var out struct {
		Count int `json:"count"`
	}
	err := c.doJSON(ctx, http.MethodPost, "/v1/keypackages", nil, req, http.StatusOK, &out)
	return out.Count, err
}

// CountKeyPackages returns how many unclaimed KeyPackages of the client
// the server holds, last-resort ones excluded.
func (c *Client) CountKeyPackages(ctx context.Context) (int, error) {
	var out struct {
		Count int `json:"count"`
	}
	err := c.doJSON(ctx, http.MethodGet, "/v1/keypackages/count", nil, nil, http.StatusOK, &out)
	return out.Count, err
}

// Claim takes one KeyPackage of each client of user, to add them to a
// group. A client with none left gives its last-resort KeyPackage, if it
// published one; a user with no KeyPackages gives an empty list.
func (c *Client) Claim(ctx context.Context, user string) ([]ClaimedKeyPackage, error) {
	if user == "" {
		return nil, errors.New("dsclient: empty user name")
	}
	var out struct {
		KeyPackages []ClaimedKeyPackage `json:"key_packages"`
	}
	// PathEscape keeps a user name with "/" or "?" one path element.
	err := c.doJSON(ctx, http.MethodPost, "/v1/users/"+url.PathEscape(user)+"/claim", nil, nil, http.StatusOK, &out)
	return out.KeyPackages, err
}

// marshalOptional returns the wire form of m, or nil for a nil m.
func marshalOptional(m *mls.MLSMessage) ([]byte, error) {
	if m == nil {
		return nil, nil
	}
	return m.MarshalBinary()
}

// Commit submits a commit of the group groupID with, when not nil, the
// Welcome of the members it adds and the GroupInfo of the new epoch. A
// GroupInfo with the ratchet_tree extension tells the server the member
// set of the new epoch. It returns the new epoch; when another commit won
// the epoch it fails with a *ConflictError carrying the server's current
// epoch. Merge the pending commit only after Commit succeeded.
func (c *Client) Commit(ctx context.Context, groupID []byte, commit, welcome, groupInfo *mls.MLSMessage) (uint64, error) {
	if commit == nil {
		return 0, errors.New("dsclient: no commit")
	}
	if err := checkGroupID(groupID); err != nil {
		return 0, err
	}
	var b CommitBundle
	var err error
	if b.Commit, err = commit.MarshalBinary(); err == nil {
		if b.Welcome, err = marshalOptional(welcome); err == nil {
			b.GroupInfo, err = marshalOptional(groupInfo)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("dsclient: %w", err)
	}
	var out struct {
		Epoch uint64 `json:"epoch"`
	}
	err = c.doJSON(ctx, http.MethodPost, groupPath(groupID)+"/commit", nil, b, http.StatusOK, &out)
	return out.Epoch, err
}

// Send delivers an application message or a proposal to the other members
// of the group and returns to how many clients. A message of an epoch the
// server no longer accepts fails with a *ConflictError.
func (c *Client) Send(ctx context.Context, groupID []byte, msg *mls.MLSMessage) (int, error) {
	if err := checkGroupID(groupID); err != nil {
		return 0, err
	}
	data, err := msg.MarshalBinary()
	if err != nil {
		return 0, fmt.Errorf("dsclient: %w", err)
	}
	out, err := c.do(ctx, http.MethodPost, groupPath(groupID)+"/messages", nil, ContentTypeMLS, data, http.StatusOK)
	if err != nil {
		return 0, err
	}
	var r struct {
		Delivered int `json:"delivered"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return 0, fmt.Errorf("dsclient: answer to a message is not the JSON expected: %w", err)
	}
	return r.Delivered, nil
}

// GroupInfo returns the latest GroupInfo the group's committers
// submitted. Only members may fetch it.
func (c *Client) GroupInfo(ctx context.Context, groupID []byte) (*mls.MLSMessage, error) {
	if err := checkGroupID(groupID); err != nil {
		return nil, err
	}
	data, err := c.do(ctx, http.MethodGet, groupPath(groupID)+"/groupinfo", nil, "", nil, http.StatusOK)
	if err != nil {
		return nil, err
	}
	var m mls.MLSMessage
	if err := m.UnmarshalBinary(data); err != nil || m.GroupInfo == nil {
		return nil, errors.New("dsclient: the server's answer is not a GroupInfo")
	}
	return &m, nil
}

// RatchetTree returns the ratchet tree of a verified group in epoch, as
// the server verified it (GET /v1/groups/{group}/tree): what a joiner
// whose Welcome carries no tree needs. Pass it as
// mls.JoinOptions.RatchetTreeFunc (see TreeFunc); Join checks it against
// the GroupInfo's tree hash. An epoch that is over is a *ConflictError.
func (c *Client) RatchetTree(ctx context.Context, groupID []byte, epoch uint64) (mls.TreeNodes, error) {
	data, err := c.do(ctx, http.MethodGet, groupPath(groupID)+"/tree", url.Values{"epoch": {strconv.FormatUint(epoch, 10)}}, "", nil, http.StatusOK)
	if err != nil {
		return nil, err
	}
	var nodes mls.TreeNodes
	if err := nodes.UnmarshalBinary(data); err != nil {
		return nil, fmt.Errorf("dsclient: the server's answer is not a ratchet tree: %w", err)
	}
	return nodes, nil
}

// TreeFunc returns RatchetTree as an mls.JoinOptions.RatchetTreeFunc.
func (c *Client) TreeFunc(ctx context.Context) func(groupID []byte, epoch uint64) (mls.TreeNodes, error) {
	return func(groupID []byte, epoch uint64) (mls.TreeNodes, error) { return c.RatchetTree(ctx, groupID, epoch) }
}

// Inbox returns the messages addressed to the client whose sequence
// number is above after, oldest first (one page; ask again after the
// last). With wait above zero the server holds the request until a
// message arrives or wait passes (it caps wait, at 60 s by default); an
// empty list means none came.
func (c *Client) Inbox(ctx context.Context, after uint64, wait time.Duration) ([]InboxMessage, error) {
	if wait < 0 {
		return nil, errors.New("dsclient: negative wait")
	}
	q := url.Values{"after": {strconv.FormatUint(after, 10)}}
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	var out struct {
		Messages []InboxMessage `json:"messages"`
	}
	if err := c.doJSON(ctx, http.MethodGet, "/v1/inbox", q, nil, http.StatusOK, &out); err != nil {
		return nil, err
	}
	for i, m := range out.Messages {
		if m.Seq <= after || (i > 0 && m.Seq <= out.Messages[i-1].Seq) {
			return nil, errors.New("dsclient: the server's inbox page is out of order")
		}
	}
	return out.Messages, nil
}

// Ack deletes the client's messages up to and including seq from the
// server. Acknowledge only what was processed and saved.
func (c *Client) Ack(ctx context.Context, seq uint64) error {
	return c.doJSON(ctx, http.MethodPost, "/v1/inbox/ack", nil, AckRequest{Seq: seq}, http.StatusNoContent, nil)
}

// Package simclient is a client of the mlsd HTTP API that holds real MLS
// state, for the Delivery Service's load tool (cmd/mlsload) and its
// process-level tests: Client makes the signed requests, Member adds the
// groups and handles the inbox.
//
// Neither type is safe for concurrent use; a caller running a reader and a
// sender for one member guards the Member with its own lock.
package simclient

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/ds"
)

// maxAnswer bounds the body read from the server (an inbox page of
// 500 messages of the server's 1 MiB bound would be far less).
const maxAnswer = 64 << 20

// Client is one client registered (or to be) with an mlsd server.
type Client struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:7420. It may be
	// changed between requests (a restarted server on another port).
	URL   string
	HTTP  *http.Client
	ID    string
	User  string
	Ident *mls.Identity
	// Voucher, when set, is a registered client of the same user that
	// vouches for this one's registration (a user's later devices).
	Voucher *Client

	kps map[string]*mls.KeyPackageBundle // by KeyPackageRef
}

// NewClient makes a client with a fresh basic identity of suite, named id.
// hc nil means http.DefaultClient.
func NewClient(url string, hc *http.Client, id, user string, suite ciphersuite.ID) (*Client, error) {
	ident, err := mls.NewBasicIdentity(suite, id)
	if err != nil {
		return nil, err
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{URL: url, HTTP: hc, ID: id, User: user, Ident: ident, kps: map[string]*mls.KeyPackageBundle{}}, nil
}

// StatusError is an answer with another status than the one expected.
type StatusError struct {
	Method, Path string
	Status       int
	// Epoch is the group's current epoch, as a 409 answer reports it.
	Epoch uint64
	Body  string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: status %d: %s", e.Method, e.Path, e.Status, e.Body)
}

// Conflict reports whether err is a 409 answer, and the epoch it reports.
func Conflict(err error) (epoch uint64, ok bool) {
	if se, is := err.(*StatusError); is && se.Status == http.StatusConflict {
		return se.Epoch, true
	}
	return 0, false
}

// Answered reports whether err, returned by a request method, came with an
// answer from the server. A request without one (connection refused or
// reset, timeout) may or may not have taken effect.
func Answered(err error) bool {
	_, ok := err.(*StatusError)
	return err == nil || ok
}

// Do sends a request signed by c and returns the status and body of the
// answer; err is set only when there was no answer.
func (c *Client) Do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	return c.do(ctx, method, path, body, nil)
}

// do is Do, with sign, when not nil, called on the signed request before
// it is sent.
func (c *Client) do(ctx context.Context, method, path string, body []byte, sign func(*http.Request, []byte) error) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if err := ds.SignRequest(req, c.ID, c.Ident.SigningKey, body); err != nil {
		return 0, nil, err
	}
	if sign != nil {
		if err := sign(req, body); err != nil {
			return 0, nil, err
		}
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		// The server may have died while answering; the status alone
		// does not tell whether the request took effect in full.
		return 0, nil, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return resp.StatusCode, out, nil
}

// call sends in (raw bytes, or JSON for anything else) and decodes the
// answer into out when the status is want; any other status is a
// *StatusError.
func (c *Client) call(ctx context.Context, method, path string, in any, want int, out any) error {
	var body []byte
	switch v := in.(type) {
	case nil:
	case []byte:
		body = v
	default:
		var err error
		if body, err = json.Marshal(v); err != nil {
			return err
		}
	}
	st, ans, err := c.Do(ctx, method, path, body)
	if err != nil {
		return err
	}
	if st != want {
		se := &StatusError{Method: method, Path: path, Status: st, Body: string(bytes.TrimSpace(ans))}
		if st == http.StatusConflict {
			var r struct{ Epoch uint64 }
			if json.Unmarshal(ans, &r) == nil {
				se.Epoch = r.Epoch
			}
		}
		return se
	}
	if out != nil {
		if err := json.Unmarshal(ans, out); err != nil {
			return fmt.Errorf("%s %s: bad answer: %w", method, path, err)
		}
	}
	return nil
}

// Register registers the client with its signature key, vouched for by
// c.Voucher when set.
func (c *Client) Register(ctx context.Context) error {
	body, err := json.Marshal(ds.RegisterRequest{ID: c.ID, User: c.User,
		Suite: uint16(c.Ident.SigningKey.Suite()), SignatureKey: c.Ident.SigningKey.PublicKey()})
	if err != nil {
		return err
	}
	var vouch func(*http.Request, []byte) error
	if v := c.Voucher; v != nil {
		vouch = func(r *http.Request, body []byte) error { return ds.VouchRequest(r, v.ID, v.Ident.SigningKey, body) }
	}
	st, ans, err := c.do(ctx, "POST", "/v1/clients", body, vouch)
	if err != nil {
		return err
	}
	if st != http.StatusCreated {
		return &StatusError{Method: "POST", Path: "/v1/clients", Status: st, Body: string(bytes.TrimSpace(ans))}
	}
	return nil
}

// Publish makes n KeyPackages, and a last-resort one if lastResort, keeps
// their private keys and publishes them; it returns the server's count.
func (c *Client) Publish(ctx context.Context, n int, lastResort bool) (int, error) {
	var req ds.KeyPackagesRequest
	for i := range n + 1 {
		if i == n && !lastResort {
			break
		}
		b, err := mls.NewKeyPackage(c.Ident, &mls.KeyPackageOptions{LastResort: i == n})
		if err != nil {
			return 0, err
		}
		data, err := (&mls.MLSMessage{KeyPackage: b.KeyPackage}).MarshalBinary()
		if err != nil {
			return 0, err
		}
		c.kps[string(b.Ref())] = b
		req.KeyPackages = append(req.KeyPackages, data)
	}
	var r struct{ Count int }
	err := c.call(ctx, "POST", "/v1/keypackages", req, http.StatusOK, &r)
	return r.Count, err
}

// Claim claims a KeyPackage of each client of user.
func (c *Client) Claim(ctx context.Context, user string) ([]ds.ClaimedKeyPackage, error) {
	var r struct {
		KeyPackages []ds.ClaimedKeyPackage `json:"key_packages"`
	}
	err := c.call(ctx, "POST", "/v1/users/"+user+"/claim", nil, http.StatusOK, &r)
	return r.KeyPackages, err
}

// CountKeyPackages returns how many of its KeyPackages the server still
// holds unclaimed.
func (c *Client) CountKeyPackages(ctx context.Context) (int, error) {
	var r struct{ Count int }
	err := c.call(ctx, "GET", "/v1/keypackages/count", nil, http.StatusOK, &r)
	return r.Count, err
}

// Inbox returns the client's messages after seq, waiting up to wait for
// one to arrive.
func (c *Client) Inbox(ctx context.Context, after uint64, wait time.Duration) ([]ds.InboxMessage, error) {
	var r struct{ Messages []ds.InboxMessage }
	path := "/v1/inbox?after=" + strconv.FormatUint(after, 10) + "&wait=" + wait.String()
	err := c.call(ctx, "GET", path, nil, http.StatusOK, &r)
	return r.Messages, err
}

// Ack deletes the client's messages up to seq from the server.
func (c *Client) Ack(ctx context.Context, seq uint64) error {
	return c.call(ctx, "POST", "/v1/inbox/ack", ds.AckRequest{Seq: seq}, http.StatusNoContent, nil)
}

// GroupPath is the API path of a group.
func GroupPath(groupID []byte) string {
	return "/v1/groups/" + base64.RawURLEncoding.EncodeToString(groupID)
}

// PostCommit posts a commit bundle (JSON of ds.CommitBundle) and returns
// the new epoch; a lost race is a *StatusError with status 409 and the
// group's epoch.
func (c *Client) PostCommit(ctx context.Context, groupID, bundle []byte) (uint64, error) {
	var r struct{ Epoch uint64 }
	err := c.call(ctx, "POST", GroupPath(groupID)+"/commit", bundle, http.StatusOK, &r)
	return r.Epoch, err
}

// PostMessage posts an application message or proposal (an MLSMessage)
// and returns to how many clients the server delivered it.
func (c *Client) PostMessage(ctx context.Context, groupID, msg []byte) (int, error) {
	var r struct{ Delivered int }
	err := c.call(ctx, "POST", GroupPath(groupID)+"/messages", msg, http.StatusOK, &r)
	return r.Delivered, err
}

// GroupInfo returns the group's latest GroupInfo as the server holds it.
func (c *Client) GroupInfo(ctx context.Context, groupID []byte) (*mls.MLSMessage, error) {
	st, body, err := c.Do(ctx, "GET", GroupPath(groupID)+"/groupinfo", nil)
	if err != nil {
		return nil, err
	}
	if st != http.StatusOK {
		return nil, &StatusError{Method: "GET", Path: GroupPath(groupID) + "/groupinfo", Status: st, Body: string(body)}
	}
	var m mls.MLSMessage
	if err := m.UnmarshalBinary(body); err != nil || m.GroupInfo == nil {
		return nil, fmt.Errorf("groupinfo answer is not a GroupInfo: %v", err)
	}
	return &m, nil
}

// KeyPackageBundle returns the private part of one of c's KeyPackages.
func (c *Client) KeyPackageBundle(ref []byte) *mls.KeyPackageBundle { return c.kps[string(ref)] }

// Package simclient is a client of the mlsd HTTP API that holds real MLS
// state, for the Delivery Service's load tool (cmd/mlsload) and its
// process-level tests: Client makes the signed requests (with
// dsclient) and keeps its KeyPackages' private keys, Member adds the
// groups and handles the inbox.
//
// Neither type is safe for concurrent use; a caller running a reader and a
// sender for one member guards the Member with its own lock.
package simclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/ds"
	"github.com/arbormls/mls/dsclient"
)

// Client is one client registered (or to be) with an mlsd server. Its
// requests go through a dsclient.Client made for each call from the
// fields below, so that changing them between requests takes effect.
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
	c := &Client{URL: url, HTTP: hc, ID: id, User: user, Ident: ident, kps: map[string]*mls.KeyPackageBundle{}}
	if _, err := c.api(); err != nil {
		return nil, err
	}
	return c, nil
}

// api returns a dsclient.Client for the current URL, HTTP client and
// identity. Making one is cheap (a URL parse) next to signing a request.
func (c *Client) api() (*dsclient.Client, error) {
	dc, err := dsclient.New(c.URL, c.ID, c.Ident.SigningKey)
	if err != nil {
		return nil, err
	}
	dc.HTTP = c.HTTP
	return dc, nil
}

// Conflict reports whether err is a 409 epoch conflict (a commit that lost
// its epoch, or a message of an epoch the server no longer accepts), and
// the group's current epoch at the server.
func Conflict(err error) (epoch uint64, ok bool) {
	var ce *dsclient.ConflictError
	if errors.As(err, &ce) {
		return ce.Epoch, true
	}
	return 0, false
}

// Answered reports whether err, returned by a request method, came with an
// answer from the server: nil or a *dsclient.Error (which a
// *dsclient.ConflictError wraps). A request without one (connection
// refused or reset, timeout, an answer cut short) may or may not have
// taken effect.
func Answered(err error) bool {
	var herr *dsclient.Error
	return err == nil || errors.As(err, &herr)
}

// Register registers the client with its signature key, vouched for by
// c.Voucher when set.
func (c *Client) Register(ctx context.Context) error {
	dc, err := c.api()
	if err != nil {
		return err
	}
	if v := c.Voucher; v != nil {
		return dc.RegisterDevice(ctx, c.User, v.ID, v.Ident.SigningKey)
	}
	return dc.Register(ctx, c.User)
}

// Publish makes n KeyPackages, and a last-resort one if lastResort, keeps
// their private keys and publishes them; it returns the server's count.
func (c *Client) Publish(ctx context.Context, n int, lastResort bool) (int, error) {
	dc, err := c.api()
	if err != nil {
		return 0, err
	}
	var kps []*mls.KeyPackage
	for i := range n + 1 {
		if i == n && !lastResort {
			break
		}
		b, err := mls.NewKeyPackage(c.Ident, &mls.KeyPackageOptions{LastResort: i == n})
		if err != nil {
			return 0, err
		}
		c.kps[string(b.Ref())] = b
		kps = append(kps, b.KeyPackage)
	}
	return dc.PublishKeyPackages(ctx, kps)
}

// Claim claims a KeyPackage of each client of user.
func (c *Client) Claim(ctx context.Context, user string) ([]ds.ClaimedKeyPackage, error) {
	dc, err := c.api()
	if err != nil {
		return nil, err
	}
	return dc.Claim(ctx, user)
}

// CountKeyPackages returns how many of its KeyPackages the server still
// holds unclaimed.
func (c *Client) CountKeyPackages(ctx context.Context) (int, error) {
	dc, err := c.api()
	if err != nil {
		return 0, err
	}
	return dc.CountKeyPackages(ctx)
}

// Inbox returns the client's messages after seq, waiting up to wait for
// one to arrive.
func (c *Client) Inbox(ctx context.Context, after uint64, wait time.Duration) ([]ds.InboxMessage, error) {
	dc, err := c.api()
	if err != nil {
		return nil, err
	}
	return dc.Inbox(ctx, after, wait)
}

// Ack deletes the client's messages up to seq from the server.
func (c *Client) Ack(ctx context.Context, seq uint64) error {
	dc, err := c.api()
	if err != nil {
		return err
	}
	return dc.Ack(ctx, seq)
}

// parse decodes an MLSMessage; empty data is no message.
func parse(data []byte) (*mls.MLSMessage, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var m mls.MLSMessage
	if err := m.UnmarshalBinary(data); err != nil {
		return nil, err
	}
	return &m, nil
}

// PostCommit posts a commit bundle (JSON of ds.CommitBundle) and returns
// the new epoch; a lost race is a *dsclient.ConflictError with the
// group's epoch (see Conflict).
func (c *Client) PostCommit(ctx context.Context, groupID, bundle []byte) (uint64, error) {
	dc, err := c.api()
	if err != nil {
		return 0, err
	}
	var b ds.CommitBundle
	if err := json.Unmarshal(bundle, &b); err != nil {
		return 0, fmt.Errorf("commit bundle: %w", err)
	}
	// The messages are encoded again as sent: MLS encodings are minimal,
	// so the server gets the very bytes of the bundle.
	var msgs [3]*mls.MLSMessage
	for i, data := range [][]byte{b.Commit, b.Welcome, b.GroupInfo} {
		if msgs[i], err = parse(data); err != nil {
			return 0, fmt.Errorf("commit bundle: %w", err)
		}
	}
	return dc.Commit(ctx, groupID, msgs[0], msgs[1], msgs[2])
}

// PostMessage posts an application message or proposal (an MLSMessage)
// and returns to how many clients the server delivered it.
func (c *Client) PostMessage(ctx context.Context, groupID, msg []byte) (int, error) {
	dc, err := c.api()
	if err != nil {
		return 0, err
	}
	var m mls.MLSMessage
	if err := m.UnmarshalBinary(msg); err != nil {
		return 0, err
	}
	return dc.Send(ctx, groupID, &m)
}

// GroupInfo returns the group's latest GroupInfo as the server holds it.
func (c *Client) GroupInfo(ctx context.Context, groupID []byte) (*mls.MLSMessage, error) {
	dc, err := c.api()
	if err != nil {
		return nil, err
	}
	return dc.GroupInfo(ctx, groupID)
}

// KeyPackageBundle returns the private part of one of c's KeyPackages.
func (c *Client) KeyPackageBundle(ref []byte) *mls.KeyPackageBundle { return c.kps[string(ref)] }

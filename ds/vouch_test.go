package ds_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/ds"
)

// registerVouched registers a client id of user with a fresh identity,
// vouched for by voucherID with voucherKey (no voucher if voucherID is
// empty); it returns the status, the answer and the client.
func (e *env) registerVouched(id, user, voucherID string, voucherKey *ciphersuite.SigningKey) (int, string, *client) {
	e.t.Helper()
	ident, err := mls.NewBasicIdentity(suite, id)
	if err != nil {
		e.t.Fatal(err)
	}
	c := &client{e: e, id: id, user: user, ident: ident, kps: map[string]*mls.KeyPackageBundle{}}
	body, err := json.Marshal(ds.RegisterRequest{ID: id, User: user, Suite: uint16(suite), SignatureKey: ident.SigningKey.PublicKey()})
	if err != nil {
		e.t.Fatal(err)
	}
	st, out := c.request("POST", "/v1/clients", body, func(r *http.Request) {
		if voucherID != "" {
			if err := ds.VouchRequest(r, voucherID, voucherKey, body); err != nil {
				e.t.Fatal(err)
			}
		}
	})
	return st, string(out), c
}

// TestVouchedRegistration: a user's first client registers alone; any
// other needs a voucher, a client of the same user whose signature covers
// the same request. Mallory cannot add a device to alice.
func TestVouchedRegistration(t *testing.T) {
	e := newEnv(t)
	alice1 := e.client("alice-1", "alice")
	mallory := e.client("mallory-1", "mallory")
	bob := e.client("bob-1", "bob")
	alice1.publish(2, false)

	refused := []struct {
		name, voucher string
		key           *ciphersuite.SigningKey
		want          string
	}{
		{"no voucher", "", nil, "must vouch"},
		{"voucher of another user", "mallory-1", mallory.ident.SigningKey, "not a client of the user"},
		{"unknown voucher", "nobody", mallory.ident.SigningKey, "not a registered client"},
		{"signature by another key", "alice-1", mallory.ident.SigningKey, "voucher: bad signature"},
	}
	for _, tc := range refused {
		st, out, _ := e.registerVouched("alice-2", "alice", tc.voucher, tc.key)
		if st != http.StatusForbidden || !strings.Contains(out, tc.want) {
			t.Errorf("%s: %d %s; want 403 %q", tc.name, st, out, tc.want)
		}
	}
	// A voucher signature over other content: alice-1 signed another
	// request (its timestamp and nonce, another body).
	c := &client{e: e, id: "alice-2", user: "alice"}
	ident, _ := mls.NewBasicIdentity(suite, "alice-2")
	c.ident = ident
	body, _ := json.Marshal(ds.RegisterRequest{ID: "alice-2", User: "alice", Suite: uint16(suite), SignatureKey: ident.SigningKey.PublicKey()})
	st, out := c.request("POST", "/v1/clients", body, func(r *http.Request) {
		other, _ := http.NewRequest("POST", r.URL.String(), nil)
		if err := ds.SignRequest(other, "alice-2", ident.SigningKey, []byte("another body")); err != nil {
			t.Fatal(err)
		}
		if err := ds.VouchRequest(other, "alice-1", alice1.ident.SigningKey, []byte("another body")); err != nil {
			t.Fatal(err)
		}
		r.Header.Set(ds.HeaderVoucher, "alice-1")
		r.Header.Set(ds.HeaderVoucherSignature, other.Header.Get(ds.HeaderVoucherSignature))
	})
	if st != http.StatusForbidden || !bytes.Contains(out, []byte("voucher: bad signature")) {
		t.Errorf("voucher signature of another request: %d %s", st, out)
	}
	// None of the refused registrations left a client behind.
	if kps := bob.claim("alice"); len(kps) != 1 || kps[0].Client != "alice-1" {
		t.Fatalf("claim after refused registrations = %+v", kps)
	}

	st, sout, alice2 := e.registerVouched("alice-2", "alice", "alice-1", alice1.ident.SigningKey)
	if st != http.StatusCreated {
		t.Fatalf("vouched registration: %d %s", st, sout)
	}
	alice2.publish(1, false)
	// A claim of alice now hands out a KeyPackage of each device, each
	// with that device's signature key.
	kps := bob.claim("alice")
	keys := map[string][]byte{"alice-1": alice1.ident.SigningKey.PublicKey(), "alice-2": alice2.ident.SigningKey.PublicKey()}
	var got []string
	for _, kp := range kps {
		got = append(got, kp.Client)
		if !bytes.Equal(parseKP(t, kp.KeyPackage).LeafNode.SignatureKey, keys[kp.Client]) {
			t.Errorf("KeyPackage of %s has another signature key", kp.Client)
		}
	}
	sort.Strings(got)
	if fmt.Sprint(got) != "[alice-1 alice-2]" {
		t.Fatalf("claim of alice handed out KeyPackages of %v", got)
	}
	// The vouched device vouches in turn; mallory still cannot.
	if st, out, _ := e.registerVouched("alice-3", "alice", "alice-2", alice2.ident.SigningKey); st != http.StatusCreated {
		t.Fatalf("registration vouched by a vouched device: %d %s", st, out)
	}
	if st, out, _ := e.registerVouched("mallory-2", "alice", "mallory-1", mallory.ident.SigningKey); st != http.StatusForbidden {
		t.Fatalf("mallory's device for alice: %d %s", st, out)
	}
	// A repeated registration is a conflict, as before vouching.
	if st, out, _ := e.registerVouched("alice-2", "alice", "alice-1", alice1.ident.SigningKey); st != http.StatusConflict {
		t.Fatalf("repeated id: %d %s", st, out)
	}
}

// TestClientsPerUserCap: a user has at most ds.MaxClientsPerUser clients.
func TestClientsPerUserCap(t *testing.T) {
	e := newEnv(t)
	first := e.client("u-0", "u")
	for i := 1; i < ds.MaxClientsPerUser; i++ {
		if st, out, _ := e.registerVouched(fmt.Sprint("u-", i), "u", "u-0", first.ident.SigningKey); st != http.StatusCreated {
			t.Fatalf("client %d: %d %s", i+1, st, out)
		}
	}
	st, out, _ := e.registerVouched("u-extra", "u", "u-0", first.ident.SigningKey)
	if st != http.StatusForbidden || !strings.Contains(out, fmt.Sprint(ds.MaxClientsPerUser, " clients")) {
		t.Fatalf("client %d: %d %s", ds.MaxClientsPerUser+1, st, out)
	}
}

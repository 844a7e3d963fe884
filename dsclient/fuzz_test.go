package dsclient_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/dsclient"
)

// FuzzAnswers feeds untrusted answers of a server, with any status, to
// the client's decoding of an inbox page, a claim and a commit: errors,
// never panics, and what Inbox returns moves forward.
func FuzzAnswers(f *testing.F) {
	f.Add(200, []byte(`{"messages":[{"seq":1,"message":"AAE="},{"seq":2,"message":"AAE="}]}`))
	f.Add(200, []byte(`{"key_packages":[{"client":"bob-1","key_package":"AAE=","last_resort":true}]}`))
	f.Add(409, []byte(`{"error":"mls: ds: epoch","epoch":7}`))
	f.Add(200, []byte(`{"messages":[{"seq":0,"message":""}]}`))
	f.Add(429, []byte(`{"error":"slow down"}`))
	s, err := ciphersuite.Lookup(ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	if err != nil {
		f.Fatal(err)
	}
	key, err := s.GenerateSigningKey()
	if err != nil {
		f.Fatal(err)
	}
	// A real commit to send: the answer is what is fuzzed.
	id, err := mls.NewBasicIdentity(s.ID(), "alice")
	if err != nil {
		f.Fatal(err)
	}
	g, err := mls.CreateGroup(id, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	pc, err := g.Commit(mls.CommitOptions{})
	if err != nil {
		f.Fatal(err)
	}
	commit := pc.Commit
	var status atomic.Int64
	var answer atomic.Value
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(int(status.Load()))
		w.Write(answer.Load().([]byte))
	}))
	f.Cleanup(ts.Close)
	c, err := dsclient.New(ts.URL, "alice-1", key)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, code int, body []byte) {
		if code < 200 || code > 599 {
			code = 200 + (code%400+400)%400
		}
		status.Store(int64(code))
		answer.Store(body)
		ctx := context.Background()
		if msgs, err := c.Inbox(ctx, 5, 0); err == nil {
			for i, m := range msgs {
				if m.Seq <= 5 || (i > 0 && m.Seq <= msgs[i-1].Seq) {
					t.Fatalf("inbox page does not move forward: %+v", msgs)
				}
				m.Parse()
			}
		}
		if kps, err := c.Claim(ctx, "bob"); err == nil {
			for _, kp := range kps {
				kp.Parse()
			}
		}
		if _, err := c.Commit(ctx, []byte("g"), commit, nil, nil); err == nil && code != 200 {
			t.Fatalf("commit answered %d taken as accepted", code)
		}
	})
}

package dsclient_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/dsclient"
)

// Example creates a group at an mlsd server, adds the clients of user
// "bob", sends a message, and reads the inbox. It needs a server (cd ds &&
// go run ./cmd/mlsd), so it is compiled but not run by go test.
func Example() {
	ctx := context.Background()
	id, err := mls.NewBasicIdentity(ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, "alice")
	check(err)
	c, err := dsclient.New("http://127.0.0.1:7420", "alice-laptop", id.SigningKey)
	check(err)
	check(c.Register(ctx, "alice"))

	// One KeyPackage of each of bob's clients.
	claimed, err := c.Claim(ctx, "bob")
	check(err)
	var adds []*mls.KeyPackage
	for _, kp := range claimed {
		p, err := kp.Parse()
		check(err)
		adds = append(adds, p)
	}

	g, err := mls.CreateGroup(id, nil, &mls.CreateOptions{GroupID: []byte("team")})
	check(err)
	// The GroupInfo carries the ratchet tree, from which the server learns
	// who the members are.
	pc, err := g.Commit(mls.CommitOptions{Add: adds, GroupInfo: true})
	check(err)
	_, err = c.Commit(ctx, g.GroupID(), pc.Commit, pc.Welcome, pc.GroupInfo)
	var conflict *dsclient.ConflictError
	if errors.As(err, &conflict) {
		// Another commit won: drop ours, process the inbox, try again.
		check(g.DiscardPendingCommit())
		return
	}
	check(err)
	_, err = g.MergePendingCommit()
	check(err)

	m, err := g.Send([]byte("hello, bob"))
	check(err)
	_, err = c.Send(ctx, g.GroupID(), m)
	check(err)

	// Wait up to 30 s for what the others send.
	msgs, err := c.Inbox(ctx, 0, 30*time.Second)
	check(err)
	for _, im := range msgs {
		msg, err := im.Parse()
		check(err)
		r, err := g.Process(msg)
		if err != nil {
			fmt.Println("message", im.Seq, "rejected:", err)
			continue
		}
		if r.Kind == mls.KindApplication {
			fmt.Printf("%s: %s\n", r.Member.Credential.Identity, r.Data)
		}
	}
	if len(msgs) > 0 {
		check(c.Ack(ctx, msgs[len(msgs)-1].Seq))
	}
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

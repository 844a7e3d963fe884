package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/arbormls/mls/ds"
)

// testGC checks a Collector deletes exactly what has expired: nonces past
// their expiry (a live one still refuses its replay), inbox messages past
// the retention (none with retention zero), and claimed or replaced
// last-resort KeyPackages past theirs, while unclaimed KeyPackages and
// the newest last-resort one stay.
func testGC(t *testing.T, s ds.Store) {
	c, ok := s.(ds.Collector)
	if !ok {
		t.Fatal("the store is not a ds.Collector")
	}
	mustClient(t, s, "a1", "a")
	mustClient(t, s, "b1", "b")
	now := time.Now()
	if err := s.UseNonce(ctx, "a1", "expired", now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.UseNonce(ctx, "b1", "live", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Deliver(ctx, []string{"a1", "b1"}, []byte("m")); err != nil {
		t.Fatal(err)
	}
	// b1: two ordinary and a last-resort, then one claim (ordinary), then
	// a newer last-resort replacing the first.
	if err := s.AddKeyPackages(ctx, kps("b1", 2, true)); err != nil {
		t.Fatal(err)
	}
	claimed, err := s.ClaimKeyPackages(ctx, "b")
	if err != nil || len(claimed) != 1 || claimed[0].LastResort {
		t.Fatalf("claim = %v, %v", claimed, err)
	}
	time.Sleep(2 * time.Millisecond) // the newer last-resort sorts after
	if err := s.AddKeyPackages(ctx, []ds.KeyPackage{{Ref: []byte("b1-ref-lr2"), ClientID: "b1", Data: []byte("b1-kp-lr2"), LastResort: true}}); err != nil {
		t.Fatal(err)
	}

	// Now: only the expired nonce goes; retention zero keeps the rest.
	r, err := c.Collect(ctx, ds.GCOptions{Now: now})
	if err != nil || r != (ds.GCResult{Nonces: 1}) {
		t.Fatalf("collect now = %+v, %v; want 1 nonce", r, err)
	}
	if err := s.UseNonce(ctx, "b1", "live", now.Add(time.Hour)); !errors.Is(err, ds.ErrReplay) {
		t.Fatalf("live nonce after collection: %v, want ErrReplay", err)
	}
	// Within the retentions nothing more goes, except the replaced
	// last-resort KeyPackage that was never handed out.
	r, err = c.Collect(ctx, ds.GCOptions{Now: now, InboxRetention: time.Hour, KeyPackageRetention: time.Hour})
	if err != nil || r != (ds.GCResult{KeyPackages: 1}) {
		t.Fatalf("collect within retention = %+v, %v; want the replaced last resort", r, err)
	}
	if owner, err := s.KeyPackageOwner(ctx, claimed[0].Ref); err != nil || owner != "b1" {
		t.Fatalf("claimed KeyPackage gone within retention: %q %v", owner, err)
	}
	// Two hours on: the inbox messages and the claimed KeyPackage go.
	later := now.Add(2 * time.Hour)
	r, err = c.Collect(ctx, ds.GCOptions{Now: later, InboxRetention: time.Hour, KeyPackageRetention: time.Hour})
	if err != nil || r != (ds.GCResult{Nonces: 1, Inbox: 2, KeyPackages: 1}) {
		t.Fatalf("collect later = %+v, %v; want 1 nonce, 2 messages, 1 KeyPackage", r, err)
	}
	if _, err := s.KeyPackageOwner(ctx, claimed[0].Ref); !errors.Is(err, ds.ErrNotFound) {
		t.Fatalf("claimed KeyPackage after its retention: %v", err)
	}
	if msgs, err := s.Inbox(ctx, "a1", 0, 10); err != nil || len(msgs) != 0 {
		t.Fatalf("inbox after retention: %v %v", msgs, err)
	}
	// Left: the unclaimed ordinary KeyPackage and the newest last resort,
	// handed out in that order.
	if n, err := s.CountKeyPackages(ctx, "b1"); err != nil || n != 1 {
		t.Fatalf("count = %d, %v; want 1", n, err)
	}
	for _, want := range []string{"ordinary", "b1-kp-lr2"} {
		got, err := s.ClaimKeyPackages(ctx, "b")
		if err != nil || len(got) != 1 || (want == "ordinary") == got[0].LastResort || (want != "ordinary" && string(got[0].Data) != want) {
			t.Fatalf("claim after collection = %+v, %v; want %s", got, err, want)
		}
	}
	// The newest last resort was just handed out: it stays however late.
	r, err = c.Collect(ctx, ds.GCOptions{Now: later.Add(24 * time.Hour), KeyPackageRetention: time.Hour})
	if err != nil || r.KeyPackages != 1 { // the ordinary one claimed above
		t.Fatalf("final collect = %+v, %v", r, err)
	}
	if got, err := s.ClaimKeyPackages(ctx, "b"); err != nil || len(got) != 1 || string(got[0].Data) != "b1-kp-lr2" {
		t.Fatalf("newest last resort after collection: %+v, %v", got, err)
	}
}

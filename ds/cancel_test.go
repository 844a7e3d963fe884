package ds_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbormls/mls/ds"
	"github.com/arbormls/mls/ds/sqlite"
)

// stallStore holds CountKeyPackages until the request's context ends.
type stallStore struct {
	ds.Store
	entered chan struct{}
}

func (s *stallStore) CountKeyPackages(ctx context.Context, client string) (int, error) {
	close(s.entered)
	<-ctx.Done()
	return 0, ctx.Err()
}

// lockedBuffer is a log sink safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestClientGoneIsNotAStoreError: a client that hangs up while its request
// is in the store is logged as 499, not as a failed store operation.
func TestClientGoneIsNotAStoreError(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ds.db"))
	if err != nil {
		t.Fatal(err)
	}
	stall := &stallStore{Store: st, entered: make(chan struct{})}
	var logs lockedBuffer
	srv := ds.NewServer(stall, slog.New(slog.NewTextHandler(&logs, nil)))
	srv.AllowUnverified = true // its groups send PrivateMessage handshakes
	ts := httptestServer(t, srv)
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, srv: srv, ts: ts, store: st}
	alice := e.client("alice-1", "alice")

	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", ts.URL+"/v1/keypackages/count", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ds.SignRequest(req, alice.id, alice.ident.SigningKey, nil); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-stall.entered
	cancel()
	if err := <-done; err == nil {
		t.Fatal("canceled request answered")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "status=499") {
		if time.Now().After(deadline) {
			t.Fatalf("no 499 logged:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("a client that left was logged as an error:\n%s", logs.String())
	}
	if v := scrape(t, e)["mlsd_store_errors_total"]; v != 0 {
		t.Fatalf("store errors = %v, want 0", v)
	}
}

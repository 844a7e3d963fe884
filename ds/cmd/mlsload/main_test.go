package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arbormls/mls/ds/storetest"
)

// TestLoad runs a small load on each store: no errors, every message sent
// is delivered to each other member of its group exactly once (Run counts
// anything else as an error), and every operation was measured.
func TestLoad(t *testing.T) {
	stores := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "ds.db") },
		"postgres": storetest.PostgresDSN,
	}
	for name, store := range stores {
		t.Run(name, func(t *testing.T) {
			const clients, groups, messages = 12, 3, 240
			cfg := config{Store: store(t), Clients: clients, Groups: groups, Messages: messages,
				CommitRatio: 0.1, Size: 100, Wait: 5 * time.Second, Timeout: time.Minute}
			res, err := Run(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			if res.Errors != 0 {
				t.Fatalf("%d errors: %v", res.Errors, res.FirstErrors)
			}
			if res.Sent != messages {
				t.Errorf("sent %d messages, want %d", res.Sent, messages)
			}
			// Each message goes to the other members of its group.
			if want := int64(messages * (clients/groups - 1)); res.Delivered != want {
				t.Errorf("delivered %d messages, want %d", res.Delivered, want)
			}
			for _, op := range opNames {
				s := res.Ops[op]
				if op == "commit" && res.Commits == 0 {
					continue // every commit lost its race: possible, if unlikely
				}
				if s == nil || s.Count == 0 || !(s.P50 <= s.P95 && s.P95 <= s.P99 && s.P99 <= s.Max) {
					t.Errorf("op %s: %+v", op, s)
				}
			}
			if res.Ops["deliver"].Count != int(res.Delivered) || res.Ops["register"].Count != clients {
				t.Errorf("deliver measured %d times, register %d", res.Ops["deliver"].Count, res.Ops["register"].Count)
			}
			var out bytes.Buffer
			printResult(&out, res)
			if !strings.Contains(out.String(), "errors 0") {
				t.Errorf("report:\n%s", out.String())
			}
		})
	}
}

// TestConfig checks that bad settings are refused before anything runs.
func TestConfig(t *testing.T) {
	good := config{Server: "http://127.0.0.1:1", Clients: 4, Groups: 2, Messages: 10, Size: 100, Wait: time.Second, Timeout: time.Second}
	if err := good.check(); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*config){
		"no target":        func(c *config) { c.Server = "" },
		"two targets":      func(c *config) { c.Store = "x.db" },
		"lonely members":   func(c *config) { c.Clients = 3 },
		"no groups":        func(c *config) { c.Groups = 0 },
		"no end":           func(c *config) { c.Messages = 0 },
		"two ends":         func(c *config) { c.Duration = time.Second },
		"all commits":      func(c *config) { c.CommitRatio = 1 },
		"tiny messages":    func(c *config) { c.Size = 8 },
		"no wait":          func(c *config) { c.Wait = 0 },
		"negative timeout": func(c *config) { c.Timeout = -time.Second },
	} {
		c := good
		change(&c)
		if _, err := Run(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

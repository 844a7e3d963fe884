package ds_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestWebSocketFrameLimit: the inbox socket takes only small ack frames;
// a client sending a large frame has its socket closed with "message too
// big" instead of the server buffering it (request bodies are bounded by
// MaxBody, see TestBodyTooLarge).
func TestWebSocketFrameLimit(t *testing.T) {
	e := newEnv(t)
	alice := e.client("alice-1", "alice")
	conn := alice.mustDialInbox(0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	frame := `{"ack": 1` + strings.Repeat(" ", 4096) + `}`
	if err := conn.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		t.Fatal(err)
	}
	for {
		_, _, err := conn.Read(ctx)
		if err == nil {
			continue // a pushed message; the close follows
		}
		if st := websocket.CloseStatus(err); st != websocket.StatusMessageTooBig {
			t.Fatalf("after a 4 KiB frame: %v (status %v), want close with status %v", err, st, websocket.StatusMessageTooBig)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatal("socket not closed")
		}
		return
	}
}

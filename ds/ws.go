package ds

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"
)

// WSAck is the one frame a client may send on the inbox WebSocket: a text
// frame holding {"ack": SEQ}, which deletes the client's messages up to
// and including SEQ, as POST /v1/inbox/ack does.
type WSAck struct {
	Ack uint64 `json:"ack"`
}

// inboxWS serves GET /v1/inbox/ws?after=SEQ: a WebSocket on which the
// server sends every message of the client's inbox with a sequence number
// above SEQ, each as one text frame holding an InboxMessage in JSON, in
// sequence order, as they arrive. The upgrade request is signed like any
// other (empty body).
func (s *Server) inboxWS(w http.ResponseWriter, r *request) error {
	var after uint64
	if v := r.URL.Query().Get("after"); v != "" {
		var err error
		if after, err = strconv.ParseUint(v, 10, 64); err != nil {
			return fail(http.StatusBadRequest, "bad after")
		}
	}
	if !s.openStream(r.client) {
		s.metrics.limitedStreams.Add(1)
		tooMany(w, time.Second, "too many open long polls and WebSockets")
		return nil
	}
	defer s.closeStream(r.client)
	// Count the socket before upgrading, under the lock Drain takes, so
	// Drain either refuses it here or waits for it.
	s.sockMu.Lock()
	if s.drained {
		s.sockMu.Unlock()
		return fail(http.StatusServiceUnavailable, "server shutting down")
	}
	s.sockets.Add(1)
	s.sockMu.Unlock()
	defer s.sockets.Done()

	c, err := websocket.Accept(w, r.Request, nil)
	if err != nil {
		return nil // Accept has answered the request
	}
	s.metrics.websockets.Add(1)
	defer s.metrics.websockets.Add(-1)
	// An ack frame is small; anything larger is not one.
	c.SetReadLimit(256)
	// The request's context ends with the handler; the socket outlives
	// neither it nor the server's drain.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer cancel()
		s.wsRead(ctx, c, r.client)
	}()
	code, reason := s.wsPush(ctx, c, r.client, after)
	// Close unblocks the reader; wait for it so no goroutine outlives the
	// socket.
	c.Close(code, reason)
	<-readDone
	return nil
}

// wsPush sends the inbox until the socket or the server ends; it returns
// the close status to send.
func (s *Server) wsPush(ctx context.Context, c *websocket.Conn, client string, after uint64) (websocket.StatusCode, string) {
	tick, stopTick := s.pollTicker()
	defer stopTick()
	ping := time.NewTicker(s.pingInterval())
	defer ping.Stop()
	var sg streamGroups
	for {
		// As in the long poll: take the wake-up channel before reading.
		wake, release, err := s.waiter(ctx, client, &sg)
		var msgs []Message
		if err == nil {
			msgs, err = s.Store.Inbox(ctx, client, after, inboxPage)
			if err != nil {
				release()
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return websocket.StatusNormalClosure, ""
			}
			s.metrics.storeErrors.Add(1)
			s.Log.Error("websocket inbox read failed", "client", client, "err", err)
			return websocket.StatusInternalError, "store error"
		}
		for _, m := range msgs {
			data, err := json.Marshal(InboxMessage{Seq: m.Seq, Message: m.Data})
			if err != nil {
				release()
				return websocket.StatusInternalError, "encoding error"
			}
			if err := s.wsWrite(ctx, c, data); err != nil {
				release()
				return websocket.StatusPolicyViolation, "write timed out"
			}
			after = m.Seq
			s.metrics.pushed.Add(1)
		}
		if len(msgs) == inboxPage {
			release()
			continue // more are waiting
		}
	wait:
		select {
		case <-wake:
		case <-tick:
		case <-ping.C:
			pctx, pcancel := context.WithTimeout(ctx, s.writeTimeout())
			err := c.Ping(pctx)
			pcancel()
			if err != nil {
				release()
				return websocket.StatusPolicyViolation, "ping timed out"
			}
			// Nothing was delivered: wait on, without reading the store
			// (an idle socket costs no query).
			goto wait
		case <-s.draining:
			release()
			return websocket.StatusGoingAway, "server shutting down"
		case <-ctx.Done():
			release()
			return websocket.StatusNormalClosure, ""
		}
		release()
	}
}

// wsWrite sends one text frame within WriteTimeout: a client that does not
// read is cut off rather than holding the handler.
func (s *Server) wsWrite(ctx context.Context, c *websocket.Conn, data []byte) error {
	wctx, cancel := context.WithTimeout(ctx, s.writeTimeout())
	defer cancel()
	return c.Write(wctx, websocket.MessageText, data)
}

// wsRead reads the client's frames (acks) until the socket closes. Reading
// also answers the peer's pings and close frame. Acks spend the client's
// rate allowance; over it, the reader waits, which slows the client down.
func (s *Server) wsRead(ctx context.Context, c *websocket.Conn, client string) {
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		ack, ok := parseWSAck(data)
		if typ != websocket.MessageText || !ok {
			c.Close(websocket.StatusUnsupportedData, "only {\"ack\": SEQ} text frames are accepted")
			return
		}
		if s.Limits.ClientRate > 0 {
			lim := s.clientLimits.get(client, s.Limits.ClientRate, s.Limits.ClientBurst, time.Now())
			if err := lim.Wait(ctx); err != nil {
				return
			}
		}
		if err := s.Store.Ack(ctx, client, ack.Ack); err != nil {
			if !errors.Is(err, context.Canceled) {
				s.metrics.storeErrors.Add(1)
				s.Log.Error("websocket ack failed", "client", client, "err", err)
			}
			c.Close(websocket.StatusInternalError, "store error")
			return
		}
	}
}

// parseWSAck reads an ack frame: exactly {"ack": SEQ}, nothing more or less.
func parseWSAck(data []byte) (WSAck, bool) {
	var a struct {
		Ack *uint64 `json:"ack"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if dec.Decode(&a) != nil || a.Ack == nil || dec.More() {
		return WSAck{}, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return WSAck{}, false
	}
	return WSAck{Ack: *a.Ack}, true
}

func (s *Server) writeTimeout() time.Duration {
	if s.WriteTimeout > 0 {
		return s.WriteTimeout
	}
	return DefaultWriteTimeout
}

func (s *Server) pingInterval() time.Duration {
	if s.PingInterval > 0 {
		return s.PingInterval
	}
	return DefaultPingInterval
}

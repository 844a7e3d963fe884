package sqlstore

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"sync"

	"github.com/arbormls/mls/ds"
)

// hub hands the wakes of this process's deliveries, and those Publish
// receives from other processes, to the subscribers.
type hub struct {
	mu   sync.Mutex
	subs map[int]func(ds.Wake)
	next int
	id   string
}

// origin names this process in its notifications, so that it skips its
// own when they come back.
func (h *hub) origin() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.id == "" {
		h.id = rand.Text()
	}
	return h.id
}

func (h *hub) publish(w ds.Wake) {
	h.mu.Lock()
	subs := make([]func(ds.Wake), 0, len(h.subs))
	for _, f := range h.subs {
		subs = append(subs, f)
	}
	h.mu.Unlock()
	for _, f := range subs {
		f(w)
	}
}

// Subscribe implements ds.Waker.
func (s *Store) Subscribe(f func(ds.Wake)) (cancel func()) {
	h := &s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs == nil {
		h.subs = map[int]func(ds.Wake){}
	}
	id := h.next
	h.next++
	h.subs[id] = f
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.subs, id)
	}
}

// WakesAcrossProcesses implements ds.Waker.
func (s *Store) WakesAcrossProcesses() bool { return s.d.CrossProcess }

// Publish hands w, a wake received from another process, to the
// subscribers; payload is what EncodeWake made there. Wakes of this
// process (already handed out at their commit) and payloads that do not
// decode are dropped.
func (s *Store) Publish(payload string) {
	origin, w, ok := DecodeWake(payload)
	if !ok || origin == s.hub.origin() {
		return
	}
	s.hub.publish(w)
}

// PublishAll wakes every subscriber, for a listener that may have missed
// notifications (its connection was lost).
func (s *Store) PublishAll() { s.hub.publish(ds.Wake{All: true}) }

// maxPayload keeps a notification under PostgreSQL's 8000-byte limit.
const maxPayload = 7000

type wakePayload struct {
	Origin  string   `json:"o"`
	Groups  [][]byte `json:"g,omitempty"`
	Clients []string `json:"c,omitempty"`
}

// EncodeWake encodes w as notification payloads of at most about 7000
// bytes each.
func EncodeWake(origin string, w ds.Wake) []string {
	var out []string
	p := wakePayload{Origin: origin}
	size := 0
	flush := func() {
		b, _ := json.Marshal(p)
		out = append(out, string(b))
		p = wakePayload{Origin: origin}
		size = 0
	}
	for _, g := range w.Groups {
		n := base64.StdEncoding.EncodedLen(len(g)) + 3
		if size+n > maxPayload {
			flush()
		}
		p.Groups = append(p.Groups, g)
		size += n
	}
	for _, c := range w.Clients {
		// JSON may escape each byte of an id as \u00XX.
		n := 6*len(c) + 3
		if size+n > maxPayload {
			flush()
		}
		p.Clients = append(p.Clients, c)
		size += n
	}
	if size > 0 {
		flush()
	}
	return out
}

// DecodeWake decodes a payload of EncodeWake.
func DecodeWake(payload string) (origin string, w ds.Wake, ok bool) {
	var p wakePayload
	if err := json.Unmarshal([]byte(payload), &p); err != nil {
		return "", ds.Wake{}, false
	}
	return p.Origin, ds.Wake{Groups: p.Groups, Clients: p.Clients}, true
}

package sqlstore

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/arbormls/mls/ds"
)

// TestEncodeWake: a wake too large for one notification is split into
// payloads under PostgreSQL's 8000-byte limit that decode back to it.
func TestEncodeWake(t *testing.T) {
	var w ds.Wake
	for i := range 300 {
		w.Groups = append(w.Groups, bytes.Repeat([]byte{byte(i)}, 127))
		w.Clients = append(w.Clients, strings.Repeat("\x01", 40)+string(rune('a'+i%26)))
	}
	var got ds.Wake
	payloads := EncodeWake("me", w)
	if len(payloads) < 2 {
		t.Fatalf("%d payloads", len(payloads))
	}
	for _, p := range payloads {
		if len(p) >= 8000 {
			t.Fatalf("payload of %d bytes", len(p))
		}
		origin, part, ok := DecodeWake(p)
		if !ok || origin != "me" {
			t.Fatalf("payload does not decode: %q", p[:40])
		}
		got.Groups = append(got.Groups, part.Groups...)
		got.Clients = append(got.Clients, part.Clients...)
	}
	if !slices.EqualFunc(got.Groups, w.Groups, bytes.Equal) || !slices.Equal(got.Clients, w.Clients) {
		t.Fatal("the payloads do not decode to the wake")
	}
}

// FuzzDecodeWake: any payload decodes or is refused without panicking,
// and what decodes encodes again to payloads that decode the same.
func FuzzDecodeWake(f *testing.F) {
	f.Add(`{"o":"x","g":["AAE="],"c":["a"]}`)
	f.Add(`{"o":1}`)
	f.Add(``)
	f.Fuzz(func(t *testing.T, payload string) {
		origin, w, ok := DecodeWake(payload)
		if !ok {
			return
		}
		var back ds.Wake
		for _, p := range EncodeWake(origin, w) {
			o, part, ok := DecodeWake(p)
			if !ok || o != origin {
				t.Fatalf("re-encoded payload %q does not decode", p)
			}
			back.Groups = append(back.Groups, part.Groups...)
			back.Clients = append(back.Clients, part.Clients...)
		}
		if len(back.Groups) != len(w.Groups) || len(back.Clients) != len(w.Clients) {
			t.Fatalf("round trip changed the wake: %d/%d groups, %d/%d clients", len(back.Groups), len(w.Groups), len(back.Clients), len(w.Clients))
		}
	})
}

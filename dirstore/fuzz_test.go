package dirstore

import (
	"bytes"
	"testing"
)

// FuzzDecodeRecord: a record file either decodes to a value, which then
// encodes back to exactly the file (one storage form per entry), or is
// refused with an error; never a panic.
func FuzzDecodeRecord(f *testing.F) {
	for _, v := range [][]byte{nil, []byte("state"), bytes.Repeat([]byte{7}, 300)} {
		rec, err := encodeRecord(kindGroup, []byte{0x0a}, v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(kindGroup, []byte{0x0a}, rec)
	}
	f.Fuzz(func(t *testing.T, kind uint8, key, data []byte) {
		value, err := decodeRecord("fuzz", data, kind, key)
		if err != nil {
			return
		}
		again, err := encodeRecord(kind, key, value)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted record does not re-encode to itself: %v", err)
		}
	})
}

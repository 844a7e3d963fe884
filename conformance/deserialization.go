package conformance

import (
	"bytes"
	"fmt"

	"github.com/arbormls/mls/internal/codec"
)

func init() { register("deserialization", runDeserialization) }

type deserializationCase struct {
	Header hexBytes `json:"vlbytes_header"`
	Length uint64   `json:"length"`
}

func runDeserialization(data []byte) ([]CaseResult, error) {
	return runCases(data, func(c *deserializationCase) error {
		r := codec.NewReader(c.Header)
		n := r.ReadVarint()
		if err := r.Finish(); err != nil {
			return fmt.Errorf("decode header: %w", err)
		}
		if n != c.Length {
			return fmt.Errorf("length %d, want %d", n, c.Length)
		}
		b := codec.NewBuilder(4)
		b.AddVarint(n)
		enc, err := b.Bytes()
		if err != nil {
			return err
		}
		if !bytes.Equal(enc, c.Header) {
			return mismatch("re-encoded header", enc, c.Header)
		}
		return nil
	})
}

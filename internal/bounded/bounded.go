// Package bounded reads files and streams whole, up to a limit: every
// reader of untrusted input in Arbor's commands and services goes through
// it, so that a huge or endless input (a 2 GiB file, /dev/zero, a pipe that
// never closes) costs at most the limit in memory and fails with an error
// that says so, instead of exhausting memory.
package bounded

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrTooLarge is wrapped by the errors of ReadFile and ReadAll when the
// input holds more than the limit.
var ErrTooLarge = errors.New("input larger than the limit")

// ReadAll reads r to its end, or fails with ErrTooLarge as soon as it has
// read more than max bytes. what names the input in the error.
func ReadAll(r io.Reader, max int64, what string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		clear(data)
		return nil, tooLarge(what, max)
	}
	return data, nil
}

// ReadFile reads the file at path whole. A regular file larger than max
// is refused before anything is read; anything else (a device, a pipe)
// is read until more than max bytes have come.
func ReadFile(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > max {
		return nil, tooLarge(path, max)
	}
	return ReadAll(f, max, path)
}

func tooLarge(what string, max int64) error {
	return fmt.Errorf("%s: %w of %s", what, ErrTooLarge, Size(max))
}

// Size formats n bytes for messages: "64 MiB", "1000 bytes".
func Size(n int64) string {
	for _, u := range []struct {
		shift uint
		name  string
	}{{30, "GiB"}, {20, "MiB"}, {10, "KiB"}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d %s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

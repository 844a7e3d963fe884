// Package conformance runs the official MLS test vectors (the IETF MLS
// working group's mls-implementations repository) against Arbor.
//
// Each vector format (the base name of its file, such as "tree-math") has a
// runner that checks every case of a file and reports one result per case.
// The same runners back `go test` and the `mls vectors` command.
package conformance

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/arbormls/mls/internal/bounded"
)

// CaseResult is the outcome of one test case: Err is nil when it passed.
type CaseResult struct {
	Index int
	Err   error
}

// Runner checks every case in the JSON array data. It returns an error only
// when data cannot be read as that format at all.
type Runner func(data []byte) ([]CaseResult, error)

var runners = map[string]Runner{}

// shapes are formats named after a shape of vectors rather than after an
// official file (such as "passive-client"): they run with --format or for
// files of that name, and Formats does not list them.
var shapes = map[string]bool{}

func register(format string, r Runner) { runners[format] = r }

// registerShape registers r for a format that has no official file.
func registerShape(format string, r Runner) {
	runners[format] = r
	shapes[format] = true
}

// Formats returns the names of the vector formats of the official files.
// The formats of other shapes (see registerShape) are accepted too.
func Formats() []string {
	fs := make([]string, 0, len(runners))
	for f := range runners {
		if !shapes[f] {
			fs = append(fs, f)
		}
	}
	slices.Sort(fs)
	return fs
}

// ErrUnknownFormat is returned for a format that has no runner.
var ErrUnknownFormat = errors.New("conformance: unknown vector format")

// FormatOf returns the format of a vector file: its base name without ".json".
func FormatOf(path string) string {
	return strings.TrimSuffix(filepath.Base(path), ".json")
}

// Run checks data as vectors of the given format.
func Run(format string, data []byte) ([]CaseResult, error) {
	r, ok := runners[format]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownFormat, format)
	}
	return r(data)
}

// MaxVectorFile bounds a vector file RunFile reads: the official files are
// at most a few megabytes.
const MaxVectorFile = 256 << 20

// RunFile reads path and checks it as format, or as the format its name
// gives when format is empty.
func RunFile(path, format string) ([]CaseResult, error) {
	if format == "" {
		format = FormatOf(path)
	}
	if _, ok := runners[format]; !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownFormat, format)
	}
	data, err := bounded.ReadFile(path, MaxVectorFile)
	if err != nil {
		return nil, err
	}
	return Run(format, data)
}

// VectorsDir returns the folder of the official vectors: $MLS_TEST_VECTORS if
// set, else ../shared/test-vectors relative to the module root found above
// the working directory.
func VectorsDir() (string, error) {
	if d := os.Getenv("MLS_TEST_VECTORS"); d != "" {
		return d, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			data, err := bounded.ReadFile(filepath.Join(dir, "go.mod"), 1<<20)
			if err == nil && strings.Contains(string(data), "module github.com/arbormls/mls\n") {
				return filepath.Join(dir, "..", "shared", "test-vectors"), nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("conformance: module root not found; set MLS_TEST_VECTORS")
		}
		dir = parent
	}
}

// runCases decodes data as a JSON array of T and runs check on each case.
// A panic in check is reported as that case's failure, never a crash.
func runCases[T any](data []byte, check func(c *T) error) ([]CaseResult, error) {
	var cases []T
	if err := json.Unmarshal(data, &cases); err != nil {
		return nil, fmt.Errorf("conformance: decode vectors: %w", err)
	}
	results := make([]CaseResult, len(cases))
	for i := range cases {
		results[i] = CaseResult{Index: i, Err: safeCheck(func() error { return check(&cases[i]) })}
	}
	return results, nil
}

func safeCheck(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}

// hexBytes is a JSON hex string; null decodes to nil.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*h = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// mismatch formats a comparison failure without dumping long values.
func mismatch(what string, got, want []byte) error {
	return fmt.Errorf("%s mismatch: got %s, want %s", what, short(got), short(want))
}

func short(b []byte) string {
	s := hex.EncodeToString(b)
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

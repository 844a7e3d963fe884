package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/arbormls/mls/conformance"
)

// cmdVectors runs vector files and reports per file and in total. It
// returns failed=true when any case failed or any file could not be run.
func cmdVectors(args []string, out io.Writer) (failed bool, err error) {
	fs := flag.NewFlagSet("vectors", flag.ContinueOnError)
	format := fs.String("format", "", "read every file as this vector format")
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	if fs.NArg() == 0 {
		return false, errors.New("vectors: no PATH given")
	}
	if *format != "" {
		if _, err := conformance.Run(*format, []byte("[]")); err != nil {
			return false, err
		}
	}
	var files []string
	for _, p := range fs.Args() {
		st, err := os.Stat(p)
		if err != nil {
			return false, err
		}
		if st.IsDir() {
			m, err := filepath.Glob(filepath.Join(p, "*.json"))
			if err != nil {
				return false, err
			}
			sort.Strings(m)
			files = append(files, m...)
		} else {
			files = append(files, p)
		}
	}
	var passed, failedN int
	for _, f := range files {
		results, err := conformance.RunFile(f, *format)
		if err != nil {
			// A file that cannot be run counts as one failed case.
			fmt.Fprintf(out, "%s  cases 0  passed 0  failed 1\n  error: %v\n", f, err)
			failedN++
			continue
		}
		var p, fl int
		var first *conformance.CaseResult
		for i := range results {
			if results[i].Err == nil {
				p++
			} else {
				fl++
				if first == nil {
					first = &results[i]
				}
			}
		}
		fmt.Fprintf(out, "%s  cases %d  passed %d  failed %d\n", f, len(results), p, fl)
		if first != nil {
			fmt.Fprintf(out, "  first failure: case %d: %v\n", first.Index, first.Err)
		}
		passed += p
		failedN += fl
	}
	fmt.Fprintf(out, "%d passed, %d failed\n", passed, failedN)
	return failedN > 0, nil
}

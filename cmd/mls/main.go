// Command mls is Arbor's command-line tool for MLS (RFC 9420).
//
//	mls vectors [--format NAME] PATH...   run official test vectors
package main

import (
	"fmt"
	"os"
)

const usage = `usage: mls COMMAND [ARGS]

commands:
  vectors [--format NAME] PATH...   check official MLS test vector files or folders
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "vectors":
		var failed bool
		failed, err = cmdVectors(os.Args[2:], os.Stdout)
		if err == nil && failed {
			os.Exit(1)
		}
	case "bench":
		err = cmdBench(os.Args[2:], os.Stdout)
	case "help", "-h", "--help":
		fmt.Print(usage)
		return
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mls:", err)
		os.Exit(1)
	}
}

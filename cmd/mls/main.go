// Command mls is Arbor's command-line tool for MLS (RFC 9420).
//
// It plays one MLS client per state folder (--state DIR): every command
// opens the folder, locks it, does one step and saves the new state before
// it writes its output files. MLS objects travel as files in their wire form
// (an MLSMessage, or for a ratchet tree the TLS-encoded optional<Node>
// vector). Reports are JSON on standard output; errors are one line on
// standard error with a non-zero exit status.
//
//	mls init --state DIR --identity NAME
//	mls keypackage --state DIR [--suite N] [--last-resort] --out FILE
//	mls psk --state DIR --id HEX --secret HEX
//	mls group create|add|commit|propose|leave|join|external-join|process|info|export ...
//	mls send --state DIR --group HEX (--text STR | --in FILE) --out FILE
//	mls recv --state DIR --group HEX --in FILE
//	mls ds register|publish|create|invite|send|sync|chat ...   through an mlsd server
//	mls chat --state DIR --group NAME
//	mls inspect [--suite N] [--group-id HEX] FILE
//	mls suites
//	mls vectors [--format NAME] PATH...   run official test vectors
//	mls bench [--suite N] [--members LIST] [--shape full|sparse|both] [--ops LIST] [--runs K]
//
// Run "mls COMMAND --help" for the flags of each command.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/arbormls/mls/ciphersuite"
)

const usage = `usage: mls COMMAND [ARGS]

client commands (one client per --state folder):
  init        create a client with a basic credential
  keypackage  make a KeyPackage and keep its private keys
  psk         store an external pre-shared key
  group       create, add, commit, propose, leave, join, external-join,
              process, info, export
  send        encrypt an application message
  recv        decrypt an application message to standard output

through an mlsd Delivery Service (one client per --state folder; the server's
URL is given once, to "mls ds register", and kept in the folder):
  ds          register, publish, create, invite, send, sync, chat
  chat        live chat in a group: mls chat --state DIR --group NAME

tools:
  inspect     decode and check any MLS object file
  suites      list the cipher suites (honors MLS_SUITE_PROFILE)
  vectors [--format NAME] PATH...   check official MLS test vector files or folders
  bench       measure group operations on synthesized groups (JSON lines)

Run "mls COMMAND --help" for a command's flags.
`

const groupUsage = `usage: mls group SUBCOMMAND --state DIR ...

subcommands:
  create         create a group with this client as its only member
  add            commit adding the owners of KeyPackages
  commit         commit updates, removals, additions and PSKs
  join           join a group from a Welcome
  external-join  join a group by external commit from a GroupInfo
  propose        send a proposal (add, remove, update, psk)
  leave          propose this client's own removal (SelfRemove)
  process        process a commit or proposal from another member
  info           report the group's state; write a GroupInfo
  export         derive a secret with the MLS exporter

Run "mls group SUBCOMMAND --help" for its flags.
`

// commands are the client commands and tools, by name; each parses its own
// flags from args and writes its report to out.
var commands = map[string]func(args []string, out io.Writer) error{
	"init":       cmdInit,
	"keypackage": cmdKeyPackage,
	"psk":        cmdPSK,
	"send":       cmdSend,
	"recv":       cmdRecv,
	"inspect":    cmdInspect,
	"suites":     cmdSuites,
	"group":      cmdGroup,
	"bench":      cmdBench,
	"ds":         cmdDS,
	"chat":       cmdChat,
}

var groupCommands = map[string]func(args []string, out io.Writer) error{
	"create":        cmdGroupCreate,
	"add":           cmdGroupAdd,
	"commit":        cmdGroupCommit,
	"join":          cmdGroupJoin,
	"external-join": cmdGroupExternalJoin,
	"process":       cmdGroupProcess,
	"propose":       cmdGroupPropose,
	"leave":         cmdGroupLeave,
	"info":          cmdGroupInfo,
	"export":        cmdGroupExport,
}

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
		if err != nil {
			fmt.Fprintln(os.Stderr, "mls:", err)
			os.Exit(1)
		}
		return
	case "help", "-h", "--help", "-help":
		fmt.Print(usage)
		return
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fail(fmt.Errorf("unknown command %q (see mls --help)", os.Args[1]))
	}
	// The profile decides which suite each code point names, so it is
	// applied before any command looks a suite up.
	if _, perr := ciphersuite.ProfileFromEnv(); perr != nil {
		fail(perr)
	}
	err = cmd(os.Args[2:], os.Stdout)
	if errors.Is(err, errHelpShown) {
		return
	}
	if err != nil {
		fail(err)
	}
}

func cmdGroup(args []string, out io.Writer) error {
	return dispatch("group", groupUsage, groupCommands, args, out)
}

// dispatch runs the subcommand args[0] of the command name (group, ds).
func dispatch(name, usage string, subs map[string]func([]string, io.Writer) error, args []string, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%s: no subcommand (see mls %s --help)", name, name)
	}
	switch args[0] {
	case "help", "-h", "--help", "-help":
		fmt.Fprint(out, usage)
		return errHelpShown
	}
	sub, ok := subs[args[0]]
	if !ok {
		return fmt.Errorf("%s: unknown subcommand %q (see mls %s --help)", name, args[0], name)
	}
	return sub(args[1:], out)
}

// fail prints err as one line, prefixed "mls: " once, and exits with
// status 1.
func fail(err error) {
	msg := strings.ReplaceAll(err.Error(), "\n", "; ")
	if !strings.HasPrefix(msg, "mls: ") {
		msg = "mls: " + msg
	}
	fmt.Fprintln(os.Stderr, msg)
	os.Exit(1)
}

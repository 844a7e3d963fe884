package interop

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/arbormls/mls/interop/proto"
)

// This file plays the scenarios of testdata/scenarios.json with Arbor and
// Wire's core-crypto (OpenMLS, through its wasm build in Node) in one group:
// interop/peers/core-crypto/server.mjs serves core-crypto as an MLSClient,
// and the player spreads the actors over it and an Arbor server, once with
// the group's creator on each. core-crypto's API is a messenger's, not a
// protocol toolkit's: what it cannot express answers UNIMPLEMENTED and the
// run is reported unsupported, with the reason.
//
// The test needs the peer installed (npm ci in interop/peers/core-crypto)
// and MLS_PEER_CORECRYPTO naming that folder; .ci/run does both. With
// MLS_INTEROP_RESULTS naming a file, one JSON line per (scenario, suite,
// wire format, role) is appended to it.
//
// core-crypto needs two things of the player that other peers do not:
// Wire client ids as identities (player.identity) and agreement checked by
// MLS-Exporter("exporter", "", 32), as it exposes no epoch authenticator
// (player.exporterAgreement). Arbor's side is configuration only: the
// server's encrypt_handshake=false (Config.PublicHandshake), the identity
// strings the player gives, and the tree inside Welcomes and GroupInfos
// (external_tree unset).

// ccResult is one line of the results file: the fields and values of the
// generic peer mechanism's results (tsmls branch, peer_test.go), so that
// one generator reads both.
type ccResult struct {
	Peer     string `json:"peer"`
	Scenario string `json:"scenario"`
	Suite    uint32 `json:"suite"`
	Wire     string `json:"wire"`   // "private" or "public" handshakes
	Role     string `json:"role"`   // "arbor-first" or "peer-first": whose server takes the creator
	Result   string `json:"result"` // "pass", "fail" or "unsupported"
	RFC      string `json:"rfc,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// coreCryptoSuites are the suites core-crypto 10.3.0 offers (no 4 or 6:
// its Ed448 credentials fail; and no post-quantum suite).
var coreCryptoSuites = []uint32{1, 2, 3, 5, 7}

// coreCryptoName is the peer's name in results.
const coreCryptoName = "core-crypto 10.3.0"

// coreCryptoFaults are the failures core-crypto causes: a regexp over the
// failure's text and the RFC 9420 section core-crypto breaks. A failure
// not matched here fails the test. None is known.
var coreCryptoFaults = []struct {
	match *regexp.Regexp
	rfc   string
}{}

// wireClientID returns a fresh Wire client id, "<uuid>:<device>@<domain>",
// the identity grammar core-crypto requires of basic credentials. The
// device id has no leading zero: core-crypto prints it without them, and
// the identity must read back as it was written.
func wireClientID() []byte {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	var d [8]byte
	rand.Read(d[:])
	d[0] |= 0x10
	return fmt.Appendf(nil, "%x-%x-%x-%x-%x:%s@interop.example", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16], hex.EncodeToString(d[:]))
}

// startNodePeer runs an MLSClient server written for Node and connects to
// it. The server prints "listening on PORT" once it serves.
func startNodePeer(t *testing.T, script string) pb.MLSClientClient {
	t.Helper()
	cmd := exec.Command("node", script, "--port", "0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if os.Getenv("CC_TIMING") != "" {
		cmd.Stderr = os.Stderr
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", script, err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	var port int
	select {
	case line := <-lines:
		if _, err := fmt.Sscanf(line, "listening on %d", &port); err != nil {
			t.Fatalf("%s said %q", script, line)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not start: %s", script, stderr.String())
	}
	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", port), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return pb.NewMLSClientClient(conn)
}

// ccClassify turns the outcome of a run into a result: UNIMPLEMENTED from
// any server is a scenario the peer cannot express.
func ccClassify(err error) (result, reason string) {
	if err == nil {
		return "pass", ""
	}
	// The reason names the step and the server's message; the suite and
	// wire format are columns of the result already.
	reason = rpcNoise.ReplaceAllString(err.Error(), "")
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) && se.GRPCStatus().Code() == codes.Unimplemented {
		return "unsupported", reason
	}
	return "fail", reason
}

var rpcNoise = regexp.MustCompile(`rpc error: code = \w+ desc = `)

// ccWriteResults appends the results to the file MLS_INTEROP_RESULTS
// names, when it names one (as the generic peer mechanism does).
func ccWriteResults(t *testing.T, results []ccResult) {
	path := os.Getenv("MLS_INTEROP_RESULTS")
	if path == "" {
		return
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range results {
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
}

// TestPeerCoreCrypto plays every scenario with Arbor and core-crypto in
// suites 1, 2, 3, 5 and 7, both handshake wire formats and both roles.
// Environment: MLS_PEER_CORECRYPTO (required, else skipped), the installed
// interop/peers/core-crypto; MLS_PEER_SCENARIOS, a comma-separated list to
// play only those scenarios; MLS_INTEROP_RESULTS, the results file.
func TestPeerCoreCrypto(t *testing.T) {
	dir := os.Getenv("MLS_PEER_CORECRYPTO")
	if dir == "" {
		t.Skip("MLS_PEER_CORECRYPTO is not set (the folder interop/peers/core-crypto after npm ci)")
	}
	peer := startNodePeer(t, filepath.Join(dir, "server.mjs"))
	arbor := startServers(t, 1)[0]
	scripts := loadScenarios(t)
	if only := os.Getenv("MLS_PEER_SCENARIOS"); only != "" {
		keep := strings.Split(only, ",")
		maps.DeleteFunc(scripts, func(name string, _ []step) bool { return !slices.Contains(keep, name) })
	}

	// An actor keeps one identity per suite across runs: the wrapper makes
	// one CoreCrypto instance (and in-memory database, slow to open) per
	// identity, and core-crypto keeps at most one credential per signature
	// scheme made in the same second (suites 1 and 3 share Ed25519).
	ids := map[uint32]map[string][]byte{}
	var results []ccResult
	counts := map[string]int{}
	for _, name := range slices.Sorted(maps.Keys(scripts)) {
		for _, suite := range coreCryptoSuites {
			if ids[suite] == nil {
				ids[suite] = map[string][]byte{}
			}
			identity := func(actor string) []byte {
				id, ok := ids[suite][actor]
				if !ok {
					id = wireClientID()
					ids[suite][actor] = id
				}
				return id
			}
			for _, encrypt := range []bool{true, false} {
				for offset, role := range []string{"arbor-first", "peer-first"} {
					wire := "public"
					if encrypt {
						wire = "private"
					}
					p := newPlayer(t, []pb.MLSClientClient{arbor, peer}, suite, encrypt, offset)
					p.identity = identity
					p.exporterAgreement = true
					r := ccResult{Peer: coreCryptoName, Scenario: name, Suite: suite, Wire: wire, Role: role}
					r.Result, r.Reason = ccClassify(p.play(scripts[name]))
					if r.Result == "fail" {
						for _, f := range coreCryptoFaults {
							if f.match.MatchString(r.Reason) {
								r.RFC = f.rfc
							}
						}
						if r.RFC == "" {
							t.Errorf("%s/suite%d/%s/%s: failure not explained by a documented deviation of core-crypto: %s", name, suite, wire, role, r.Reason)
						}
					}
					counts[r.Result]++
					results = append(results, r)
				}
			}
		}
	}
	t.Logf("%s: %d pass, %d fail, %d unsupported", coreCryptoName, counts["pass"], counts["fail"], counts["unsupported"])
	ccWriteResults(t, results)
}

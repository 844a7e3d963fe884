package interop

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
	pb "github.com/arbormls/mls/interop/proto"
)

// Live peers: the scenario player drives Arbor against another
// implementation's MLSClient server, the actors alternating between the
// two, in both roles (Arbor's server takes the first actor, who creates
// the group, or the peer's does), both handshake wire formats and every
// suite both have.
//
// A peer is described by an entry of a JSON file (peers/peers.json) and
// needs nothing else from this package:
//
//	{
//	  "name":    "ts-mls 2.0.0-rc.10",            // in results and the README table
//	  "command": ["node", "server.mjs", "--port", "{port}"],
//	  "dir":     "ts-mls",                         // relative to the file
//	  "profile": "ts-mls-2",                       // Arbor's suite profile against it
//	  "suites":  [1, 2, 3],                        // optional: else every common suite
//	  "deviations": [{"rfc": "5.1.1", "match": "regexp", "note": "what the peer does"}]
//	}
//
// and, for a peer whose API asks more of the player (core-crypto's does),
// the optional fields
//
//	"identity":  "wire-client-id"  // identities in the peer's grammar, see peerIdentity
//	"agreement": "exporter"        // no epoch authenticator: agree on MLS-Exporter("exporter", "", 32)
//	"matrix":    "full"            // play this peer in the full matrix even in ci runs
//	"grease":    true              // also check that the peer adds Arbor KeyPackages with GREASE
//
// The command must serve MLSClient (proto/mls_client.proto) on
// 127.0.0.1:{port} until it is killed; the test picks the port and waits
// for the Name RPC to answer. deviations name what the peer does against
// RFC 9420: a failed case whose error matches one is the peer's failure,
// recorded with that section; any other failure fails the test, since it
// may be Arbor's.
//
// Environment:
//
//	MLS_INTEROP_PEERS    the peers file; TestPeers is skipped without it
//	MLS_INTEROP_ONLY     play only the peers whose name contains this
//	MLS_INTEROP_MATRIX   "ci" (default) or "full", see cases
//	MLS_INTEROP_RESULTS  append one JSON line per case to this file
//
// An RPC the peer answers UNIMPLEMENTED makes the case "unsupported", with
// the peer's reason; it never counts as a pass.

// peerSpec is one entry of the peers file.
type peerSpec struct {
	Name       string      `json:"name"`
	Command    []string    `json:"command"`
	Dir        string      `json:"dir"`
	Profile    string      `json:"profile"`
	Suites     []uint32    `json:"suites"`
	Deviations []deviation `json:"deviations"`
	// Identity is the grammar of the identities the peer accepts in basic
	// credentials: empty (the actors' names) or "wire-client-id".
	Identity string `json:"identity"`
	// Agreement is how members show that they agree after each commit and
	// in verify: empty (epoch_authenticator and StateAuth) or "exporter"
	// (MLS-Exporter("exporter", "", 32), for a peer that exposes neither).
	Agreement string `json:"agreement"`
	// Matrix "full" plays this peer in the full matrix whatever
	// MLS_INTEROP_MATRIX says.
	Matrix string `json:"matrix"`
	// GREASE adds the cases of peerGREASE.
	GREASE bool `json:"grease"`
}

// deviation is a documented departure of the peer from RFC 9420.
type deviation struct {
	RFC   string `json:"rfc"`   // the section the peer breaks, "5.1.1"
	Match string `json:"match"` // regexp over the failure's error text
	Note  string `json:"note"`  // what the peer does
	// Scenarios, when set, limits the deviation to these scenarios, for
	// a match too loose to trust elsewhere.
	Scenarios []string `json:"scenarios"`
	re        *regexp.Regexp
}

// caseResult is one line of the results file.
type caseResult struct {
	Peer     string `json:"peer"`
	Scenario string `json:"scenario"`
	Suite    uint32 `json:"suite"`
	Wire     string `json:"wire"` // "private" or "public" handshakes
	Role     string `json:"role"` // "arbor-first" or "peer-first"
	Result   string `json:"result"`
	RFC      string `json:"rfc,omitempty"` // for a failure caused by the peer
	Reason   string `json:"reason,omitempty"`
}

const (
	resultPass        = "pass"
	resultFail        = "fail"
	resultUnsupported = "unsupported"
)

// peerCase is one (scenario, suite, wire format, role) to play.
type peerCase struct {
	scenario  string
	suite     uint32
	encrypt   bool
	peerFirst bool
}

func wireName(encrypt bool) string {
	if encrypt {
		return "private"
	}
	return "public"
}

func roleName(peerFirst bool) string {
	if peerFirst {
		return "peer-first"
	}
	return "arbor-first"
}

// cases is the matrix to play. "full" is every scenario x suite x wire
// format x role. "ci" keeps the run short yet covers every scenario and
// every suite in each role: every scenario in both wire formats and both
// roles in the first suite, then each other suite in both roles with
// smokeScenario and one more scenario, the scenarios and wire formats
// taken in turn.
func cases(matrix string, scenarios []string, suites []uint32) []peerCase {
	var out []peerCase
	if matrix == "full" {
		for _, sc := range scenarios {
			for _, suite := range suites {
				for _, enc := range []bool{true, false} {
					for _, pf := range []bool{false, true} {
						out = append(out, peerCase{sc, suite, enc, pf})
					}
				}
			}
		}
		return out
	}
	for _, sc := range scenarios {
		for _, enc := range []bool{true, false} {
			for _, pf := range []bool{false, true} {
				out = append(out, peerCase{sc, suites[0], enc, pf})
			}
		}
	}
	for i, suite := range suites[1:] {
		picked := []string{scenarios[i%len(scenarios)]}
		if slices.Contains(scenarios, smokeScenario) && picked[0] != smokeScenario {
			picked = append(picked, smokeScenario)
		}
		for _, sc := range picked {
			for _, pf := range []bool{false, true} {
				out = append(out, peerCase{sc, suite, i%2 == 0, pf})
			}
		}
	}
	return out
}

// smokeScenario is played in every suite of the ci matrix besides the
// scenario that suite gets in turn: joins by Welcome, messages within and
// across epochs and a commit with a path, so that every suite shows
// whether a group forms at all, whatever deviation the other scenario meets.
const smokeScenario = "application"

func loadPeers(t *testing.T, path string) []peerSpec {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var peers []peerSpec
	if err := json.Unmarshal(data, &peers); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	base := filepath.Dir(path)
	for i := range peers {
		p := &peers[i]
		if p.Name == "" || len(p.Command) == 0 {
			t.Fatalf("%s: peer %d needs a name and a command", path, i)
		}
		if !filepath.IsAbs(p.Dir) {
			p.Dir = filepath.Join(base, p.Dir)
		}
		if p.Identity != "" && p.Identity != "wire-client-id" {
			t.Fatalf("%s: %s: unknown identity grammar %q", path, p.Name, p.Identity)
		}
		if p.Agreement != "" && p.Agreement != "exporter" {
			t.Fatalf("%s: %s: unknown agreement %q", path, p.Name, p.Agreement)
		}
		if p.Matrix != "" && p.Matrix != "full" {
			t.Fatalf("%s: %s: unknown matrix %q", path, p.Name, p.Matrix)
		}
		for j := range p.Deviations {
			d := &p.Deviations[j]
			if d.re, err = regexp.Compile(d.Match); err != nil {
				t.Fatalf("%s: %s: %v", path, p.Name, err)
			}
		}
	}
	return peers
}

// startPeer runs the peer's command on a free port and returns a client
// once its Name RPC answers; the process is killed when the test ends.
func startPeer(t *testing.T, p peerSpec) pb.MLSClientClient {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(lis.Addr().(*net.TCPAddr).Port)
	lis.Close()
	args := slices.Clone(p.Command)
	for i := range args {
		args[i] = strings.ReplaceAll(args[i], "{port}", port)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = p.Dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", p.Name, err)
	}
	var mu sync.Mutex
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			mu.Lock()
			if log.Len() < 1<<16 {
				log.WriteString(sc.Text() + "\n")
			}
			mu.Unlock()
		}
	}()
	conn, err := grpc.NewClient("127.0.0.1:"+port, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cmd.Process.Kill()
		cmd.Wait()
		mu.Lock()
		defer mu.Unlock()
		if t.Failed() && log.Len() > 0 {
			t.Logf("%s stderr:\n%s", p.Name, log.String())
		}
	})
	c := pb.NewMLSClientClient(conn)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := c.Name(ctx, &pb.NameRequest{}, grpc.WaitForReady(true))
		cancel()
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer on port %s: %v", p.Name, port, err)
		}
	}
}

// commonSuites are the suites both Arbor (under the peer's profile) and the
// peer support, or the peer's listed suites.
func commonSuites(t *testing.T, p peerSpec, peer pb.MLSClientClient) []uint32 {
	if len(p.Suites) > 0 {
		return p.Suites
	}
	resp, err := peer.SupportedCiphersuites(rpcCtx(), &pb.SupportedCiphersuitesRequest{})
	if err != nil {
		t.Fatalf("%s: SupportedCiphersuites: %v", p.Name, err)
	}
	var out []uint32
	for _, s := range resp.Ciphersuites {
		if _, err := ciphersuite.Lookup(ciphersuite.ID(s)); err == nil {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// classify turns a played case's error into its result.
func classify(p peerSpec, scenario string, err error) (result, rfc, reason string) {
	if err == nil {
		return resultPass, "", ""
	}
	reason = err.Error()
	if status.Code(err) == codes.Unimplemented {
		return resultUnsupported, "", reason
	}
	for _, d := range p.Deviations {
		if d.re.MatchString(reason) && (len(d.Scenarios) == 0 || slices.Contains(d.Scenarios, scenario)) {
			return resultFail, d.RFC, reason
		}
	}
	return resultFail, "", reason
}

// TestPeers plays the scenarios against every peer of MLS_INTEROP_PEERS.
func TestPeers(t *testing.T) {
	path := os.Getenv("MLS_INTEROP_PEERS")
	if path == "" {
		t.Skip("MLS_INTEROP_PEERS names no peers file (.ci/run sets it)")
	}
	matrix := os.Getenv("MLS_INTEROP_MATRIX")
	if matrix == "" {
		matrix = "ci"
	}
	if matrix != "ci" && matrix != "full" {
		t.Fatalf("MLS_INTEROP_MATRIX=%q: want ci or full", matrix)
	}
	var results *os.File
	if out := os.Getenv("MLS_INTEROP_RESULTS"); out != "" {
		f, err := os.OpenFile(out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		results = f
	}
	scripts := loadScenarios(t)
	names := slices.Sorted(maps.Keys(scripts))
	for _, p := range loadPeers(t, path) {
		if only := os.Getenv("MLS_INTEROP_ONLY"); only != "" && !strings.Contains(p.Name, only) {
			continue
		}
		t.Run(p.Name, func(t *testing.T) {
			// The suite profile is process-wide, so peers play one after
			// the other, never in parallel.
			prev := ciphersuite.Profile()
			if p.Profile != "" {
				if err := ciphersuite.UseProfile(p.Profile); err != nil {
					t.Fatal(err)
				}
			}
			defer ciphersuite.UseProfile(prev)
			arbor, _ := startServersWith(t, 1)
			peer := startPeer(t, p)
			servers := []pb.MLSClientClient{arbor[0], peer}
			suites := commonSuites(t, p, peer)
			m := matrix
			if p.Matrix != "" {
				m = p.Matrix
			}
			// An actor keeps its identity for the whole run in a suite, so
			// that a peer keeping one client per identity (core-crypto's
			// wrapper: one CoreCrypto instance and in-memory database each)
			// makes few. Per suite, because core-crypto keeps at most one
			// credential per signature scheme made in the same second.
			ids := map[uint32]map[string][]byte{}
			identity := func(suite uint32) func(string) []byte {
				if p.Identity == "" {
					return nil
				}
				if ids[suite] == nil {
					ids[suite] = map[string][]byte{}
				}
				return func(actor string) []byte {
					id, ok := ids[suite][actor]
					if !ok {
						id = wireClientID()
						ids[suite][actor] = id
					}
					return id
				}
			}
			record := func(t *testing.T, line caseResult, err error) {
				if results != nil {
					b, _ := json.Marshal(line)
					if _, err := results.Write(append(b, '\n')); err != nil {
						t.Error(err)
					}
				}
				switch {
				case line.Result == resultFail && line.RFC == "":
					t.Errorf("failure not explained by a documented deviation of %s: %v", p.Name, err)
				case line.RFC != "":
					t.Logf("%s (the peer breaks RFC 9420 section %s): %s", line.Result, line.RFC, line.Reason)
				case line.Result != resultPass:
					t.Logf("%s: %s", line.Result, line.Reason)
				}
			}
			for _, c := range cases(m, names, suites) {
				name := fmt.Sprintf("%s/suite%d/%s/%s", c.scenario, c.suite, wireName(c.encrypt), roleName(c.peerFirst))
				t.Run(name, func(t *testing.T) {
					offset := 0
					if c.peerFirst {
						offset = 1
					}
					pl := newPlayer(t, servers, c.suite, c.encrypt, offset)
					pl.identity = identity(c.suite)
					pl.exporterAgreement = p.Agreement == "exporter"
					err := pl.play(scripts[c.scenario])
					res, rfc, reason := classify(p, c.scenario, err)
					record(t, caseResult{p.Name, c.scenario, c.suite, wireName(c.encrypt), roleName(c.peerFirst), res, rfc, reason}, err)
				})
			}
			if p.GREASE {
				for _, c := range greaseCases {
					t.Run("grease/"+c.field, func(t *testing.T) {
						err := peerGREASE(peer, suites[0], identity(suites[0]), c.set)
						res, rfc, reason := classify(p, "grease", err)
						record(t, caseResult{p.Name, "grease " + c.field, suites[0], wireName(false), roleName(true), res, rfc, reason}, err)
					})
				}
			}
		})
	}
}

// wireClientID returns a fresh Wire client id, "<uuid>:<device id in
// hex>@<domain>", the identity grammar "wire-client-id". The device id has
// no leading zero: core-crypto prints it without them, and the identity
// must read back as it was written.
func wireClientID() []byte {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	var d [8]byte
	rand.Read(d[:])
	d[0] |= 0x10
	return fmt.Appendf(nil, "%x-%x-%x-%x-%x:%x@interop.example", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16], d[:])
}

// greaseCases put a GREASE value (RFC 9420 section 13.5) in each field of
// a KeyPackage that can carry one: the capabilities' suites, extension,
// proposal and credential types, and KeyPackage and LeafNode extensions
// (of a type the capabilities list, as section 7.2 requires of leaf
// extensions and Arbor of its own KeyPackage extensions).
var greaseCases = []struct {
	field string
	set   func(*mls.Capabilities, *mls.KeyPackageOptions)
}{
	{"capabilities.cipher_suites", func(c *mls.Capabilities, _ *mls.KeyPackageOptions) { c.CipherSuites = append(c.CipherSuites, 0x0A0A) }},
	{"capabilities.extensions", func(c *mls.Capabilities, _ *mls.KeyPackageOptions) { c.Extensions = append(c.Extensions, 0x1A1A) }},
	{"capabilities.proposals", func(c *mls.Capabilities, _ *mls.KeyPackageOptions) { c.Proposals = append(c.Proposals, 0x2A2A) }},
	{"capabilities.credentials", func(c *mls.Capabilities, _ *mls.KeyPackageOptions) { c.Credentials = append(c.Credentials, 0x3A3A) }},
	{"KeyPackage.extensions", func(c *mls.Capabilities, o *mls.KeyPackageOptions) {
		c.Extensions = append(c.Extensions, 0x4A4A)
		o.Extensions = mls.Extensions{{ExtensionType: 0x4A4A, ExtensionData: []byte{}}}
	}},
	{"LeafNode.extensions", func(c *mls.Capabilities, o *mls.KeyPackageOptions) {
		c.Extensions = append(c.Extensions, 0x4A4A)
		o.LeafExtensions = mls.Extensions{{ExtensionType: 0x4A4A, ExtensionData: []byte{}}}
	}},
}

// peerGREASE has the peer create a group (PublicMessage handshakes) and
// commit the Add of an Arbor KeyPackage with GREASE set by set. identity
// gives the identities (nil: fixed names).
func peerGREASE(peer pb.MLSClientClient, suite uint32, identity func(string) []byte, set func(*mls.Capabilities, *mls.KeyPackageOptions)) error {
	if identity == nil {
		identity = func(actor string) []byte { return []byte(actor) }
	}
	group := make([]byte, 16)
	rand.Read(group)
	cg, err := peer.CreateGroup(rpcCtx(), &pb.CreateGroupRequest{GroupId: group, CipherSuite: suite, Identity: identity("grease-creator")})
	if err != nil {
		return fmt.Errorf("CreateGroup: %w", err)
	}
	id, err := mls.NewBasicIdentity(ciphersuite.ID(suite), string(identity("grease-joiner")))
	if err != nil {
		return err
	}
	caps := mls.DefaultCapabilities(ciphersuite.ID(suite))
	opts := &mls.KeyPackageOptions{Capabilities: &caps}
	set(&caps, opts)
	kp, err := mls.NewKeyPackage(id, opts)
	if err != nil {
		return err
	}
	msg, err := (&mls.MLSMessage{KeyPackage: kp.KeyPackage}).MarshalBinary()
	if err != nil {
		return err
	}
	if _, err := peer.Commit(rpcCtx(), &pb.CommitRequest{StateId: cg.StateId, ByValue: []*pb.ProposalDescription{
		{ProposalType: []byte("add"), KeyPackage: msg},
	}}); err != nil {
		return fmt.Errorf("Commit adding the KeyPackage: %w", err)
	}
	return nil
}

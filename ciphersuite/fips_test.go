package ciphersuite_test

import (
	"crypto/fips140"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
)

// approvedByRule restates which algorithms the Go Cryptographic Module
// approves (see the README): not X25519 or X448 key agreement alone, not
// ChaCha20-Poly1305, not the circl algorithms (ML-KEM-512, Ed448, ML-DSA).
// ML-KEM hybrids count as approved, as crypto/tls and crypto/hpke treat
// them in FIPS 140-3 mode.
func approvedByRule(s ciphersuite.Spec) bool {
	switch s.KEM {
	case ciphersuite.KEMDHKEMX25519, ciphersuite.KEMDHKEMX448, ciphersuite.KEMMLKEM512, ciphersuite.KEMMLKEM512TSMLS:
		return false
	}
	switch s.Signature {
	case ciphersuite.SignatureEd448, ciphersuite.SignatureMLDSA44, ciphersuite.SignatureMLDSA65, ciphersuite.SignatureMLDSA87:
		return false
	}
	return s.AEAD != ciphersuite.AEADChaCha20Poly1305
}

// approvedIDs is the README's list of FIPS-approved suites per profile.
var approvedIDs = map[string][]ciphersuite.ID{
	ciphersuite.ProfileDefault: {2, 5, 7, 0xF001, 0xF002, 0xF003, 0xF004, 0xF005, 0xF006, 0xF007, 0xF008},
	ciphersuite.ProfileRFC:     {2, 5, 7},
	ciphersuite.ProfileOpenMLS: {2, 5, 7},
	ciphersuite.ProfileTSMLS:   {2, 5, 7, 79, 81, 83},
	ciphersuite.ProfileTSMLS2:  {2, 5, 7, 0xF009, 0xF00B, 0xF00D},
}

func TestFIPSApproval(t *testing.T) {
	restoreDefault(t)
	for _, p := range ciphersuite.Profiles() {
		useProfile(t, p)
		var approved []ciphersuite.ID
		for _, info := range ciphersuite.Suites() {
			if info.FIPSApproved != approvedByRule(info.Spec) {
				t.Errorf("%s: FIPSApproved %v", info.Name, info.FIPSApproved)
			}
			if info.FIPSApproved {
				approved = append(approved, info.ID)
			}
		}
		if !slices.Equal(approved, approvedIDs[p]) {
			t.Errorf("profile %s: approved %v, the README says %v", p, approved, approvedIDs[p])
		}
	}
}

// fipsChildEnv marks the test binary TestFIPSMode runs under
// GODEBUG=fips140=on.
const fipsChildEnv = "ARBOR_FIPS140_CHILD"

// TestFIPSMode checks FIPS 140-3 mode in a copy of the test binary run with
// GODEBUG=fips140=on (or in this process, when it already runs so).
func TestFIPSMode(t *testing.T) {
	if fips140.Enabled() {
		checkFIPSMode(t)
		return
	}
	if os.Getenv(fipsChildEnv) != "" {
		t.Fatal("GODEBUG=fips140=on did not enable FIPS 140-3 mode")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^(TestFIPSMode|TestX25519GroupChoice|TestEd25519VerifierChoice)$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "GODEBUG=fips140=on", fipsChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("FIPS 140-3 mode: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "FIPS 140-3 mode checked") || !strings.Contains(string(out), "--- PASS: TestX25519GroupChoice") || !strings.Contains(string(out), "--- PASS: TestEd25519VerifierChoice") {
		t.Fatalf("the child did not run the checks:\n%s", out)
	}
}

func checkFIPSMode(t *testing.T) {
	if !ciphersuite.FIPSMode() {
		t.Fatal("FIPSMode() is false under GODEBUG=fips140=on")
	}
	restoreDefault(t)
	var nApproved, nRefused int
	for _, p := range ciphersuite.Profiles() {
		useProfile(t, p)
		var offered []ciphersuite.ID
		for _, info := range ciphersuite.Suites() {
			s, err := ciphersuite.Lookup(info.ID)
			if info.FIPSApproved {
				if err != nil {
					t.Fatalf("%s refused: %v", info.Name, err)
				}
				if s.CanBatchVerify() {
					t.Errorf("%s batch-verifies in FIPS mode", info.Name)
				}
				roundTrip(t, s)
				offered = append(offered, info.ID)
				nApproved++
				continue
			}
			if s != nil || !errors.Is(err, ciphersuite.ErrNotFIPSApproved) || !errors.Is(err, ciphersuite.ErrUnsupportedSuite) {
				t.Fatalf("%s: %v, %v; want a FIPS refusal", info.Name, s, err)
			}
			if !strings.Contains(err.Error(), info.Name) || !strings.Contains(err.Error(), "FIPS 140-3") {
				t.Errorf("refusal %q does not say what and why", err)
			}
			if nRefused == 0 {
				t.Logf("for example: %v", err)
			}
			nRefused++
		}
		if !slices.Equal(offered, approvedIDs[p]) || !slices.Equal(ciphersuite.IDs(), offered) {
			t.Errorf("profile %s: offered %v, IDs %v", p, offered, ciphersuite.IDs())
		}
	}
	// Registering a suite is allowed; using it depends on its algorithms.
	if err := ciphersuite.Register(0xF0CC, mlkem768Spec); err != nil {
		t.Fatal(err)
	}
	if _, err := ciphersuite.Lookup(0xF0CC); err != nil {
		t.Fatal(err)
	}
	t.Logf("FIPS 140-3 mode checked: %d approved suites work, %d refused", nApproved, nRefused)
}

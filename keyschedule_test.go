package mls_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/conformance"
)

// ksVector is the part of key-schedule.json these tests use.
type ksVector struct {
	CipherSuite       uint16 `json:"cipher_suite"`
	InitialInitSecret string `json:"initial_init_secret"`
	Epochs            []struct {
		CommitSecret       string `json:"commit_secret"`
		PSKSecret          string `json:"psk_secret"`
		GroupContext       string `json:"group_context"`
		JoinerSecret       string `json:"joiner_secret"`
		InitSecret         string `json:"init_secret"`
		EpochAuthenticator string `json:"epoch_authenticator"`
		ExporterSecret     string `json:"exporter_secret"`
		Exporter           struct {
			Label   string `json:"label"`
			Context string `json:"context"`
			Length  int    `json:"length"`
			Secret  string `json:"secret"`
		} `json:"exporter"`
	} `json:"epochs"`
}

func loadKSVectors(t *testing.T) []ksVector {
	t.Helper()
	dir, err := conformance.VectorsDir()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "key-schedule.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v []ksVector
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func lookupSuite(t testing.TB, id uint16) *ciphersuite.Suite {
	t.Helper()
	s, err := ciphersuite.Lookup(ciphersuite.ID(id))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestExporterVector chains every epoch of every suite and checks
// MLS-Exporter against the vector, and that the export depends on each input.
func TestExporterVector(t *testing.T) {
	for _, v := range loadKSVectors(t) {
		s := lookupSuite(t, v.CipherSuite)
		initSecret := unhex(t, v.InitialInitSecret)
		for i, ep := range v.Epochs {
			e, err := mls.DeriveEpochSecrets(s, initSecret, unhex(t, ep.CommitSecret), unhex(t, ep.PSKSecret), unhex(t, ep.GroupContext))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(e.ExporterSecret(), unhex(t, ep.ExporterSecret)) {
				t.Fatalf("suite %d epoch %d: exporter_secret mismatch", v.CipherSuite, i)
			}
			x := ep.Exporter
			ctx := unhex(t, x.Context)
			got, err := e.Exporter(x.Label, ctx, x.Length)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, unhex(t, x.Secret)) {
				t.Fatalf("suite %d epoch %d: exported %x, want %s", v.CipherSuite, i, got, x.Secret)
			}
			for _, other := range []struct {
				label string
				ctx   []byte
			}{{x.Label + "x", ctx}, {x.Label, append(ctx, 0)}} {
				o, err := e.Exporter(other.label, other.ctx, x.Length)
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Equal(o, got) {
					t.Errorf("suite %d epoch %d: export ignores a change of label or context", v.CipherSuite, i)
				}
			}
			long, err := e.Exporter(x.Label, ctx, 3*x.Length)
			if err != nil {
				t.Fatal(err)
			}
			// The length is bound into KDFLabel, so a longer export is a
			// different value, not an extension of the shorter one.
			if len(long) != 3*x.Length || bytes.HasPrefix(long, got) {
				t.Errorf("suite %d epoch %d: export of length %d is wrong", v.CipherSuite, i, 3*x.Length)
			}
			initSecret = e.InitSecret()
		}
	}
}

func TestJoinerMatchesMember(t *testing.T) {
	v := loadKSVectors(t)[0]
	s := lookupSuite(t, v.CipherSuite)
	ep := v.Epochs[1]
	j, err := mls.DeriveEpochSecretsFromJoiner(s, unhex(t, ep.JoinerSecret), unhex(t, ep.PSKSecret), unhex(t, ep.GroupContext))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(j.InitSecret(), unhex(t, ep.InitSecret)) || !bytes.Equal(j.EpochAuthenticator(), unhex(t, ep.EpochAuthenticator)) {
		t.Error("joiner derivation differs from the vector")
	}
	w, err := mls.DeriveWelcomeSecret(s, j.JoinerSecret(), unhex(t, ep.PSKSecret))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w, j.WelcomeSecret()) {
		t.Error("DeriveWelcomeSecret differs from the epoch's welcome_secret")
	}
}

// TestAbsentSecretsAreZero checks that nil commit_secret and psk_secret mean
// Nh zero bytes (RFC 9420 section 8), not empty input keying material.
func TestAbsentSecretsAreZero(t *testing.T) {
	s := lookupSuite(t, 1)
	init := bytes.Repeat([]byte{7}, s.HashSize())
	gc := []byte("group context")
	zero := make([]byte, s.HashSize())
	a, err := mls.DeriveEpochSecrets(s, init, nil, nil, gc)
	if err != nil {
		t.Fatal(err)
	}
	b, err := mls.DeriveEpochSecrets(s, init, zero, zero, gc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.EpochAuthenticator(), b.EpochAuthenticator()) || !bytes.Equal(a.WelcomeSecret(), b.WelcomeSecret()) {
		t.Error("nil secrets differ from all-zero secrets")
	}
	for _, bad := range [][]byte{{}, zero[1:], append(zero, 0)} {
		if _, err := mls.DeriveEpochSecrets(s, init, bad, nil, gc); err == nil {
			t.Errorf("commit_secret of %d bytes accepted", len(bad))
		}
		if _, err := mls.DeriveEpochSecrets(s, init, nil, bad, gc); err == nil {
			t.Errorf("psk_secret of %d bytes accepted", len(bad))
		}
		if _, err := mls.DeriveEpochSecrets(s, bad, nil, nil, gc); err == nil {
			t.Errorf("init_secret of %d bytes accepted", len(bad))
		}
		if _, err := mls.DeriveEpochSecretsFromJoiner(s, bad, nil, gc); err == nil {
			t.Errorf("joiner_secret of %d bytes accepted", len(bad))
		}
	}
}

func newTestEpoch(t *testing.T) *mls.EpochSecrets {
	t.Helper()
	s := lookupSuite(t, 1)
	e, err := mls.DeriveEpochSecrets(s, bytes.Repeat([]byte{9}, s.HashSize()), nil, nil, []byte("gc"))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func allSecrets(e *mls.EpochSecrets) map[string][]byte {
	return map[string][]byte{
		"joiner": e.JoinerSecret(), "welcome": e.WelcomeSecret(), "sender data": e.SenderDataSecret(),
		"encryption": e.EncryptionSecret(), "exporter": e.ExporterSecret(), "external": e.ExternalSecret(),
		"confirm": e.ConfirmationKey(), "membership": e.MembershipKey(), "resumption": e.ResumptionPSK(),
		"authentication": e.EpochAuthenticator(), "init": e.InitSecret(),
	}
}

func TestEpochSecretsErase(t *testing.T) {
	e := newTestEpoch(t)
	held := allSecrets(e)
	joiner, init, enc := e.JoinerSecret(), e.InitSecret(), e.EncryptionSecret()
	e.EraseJoinerSecrets()
	e.EraseInitSecret()
	e.EraseEncryptionSecret()
	for _, b := range [][]byte{joiner, init, enc} {
		if !isZero(b) {
			t.Error("targeted erase left a secret in memory")
		}
	}
	if e.JoinerSecret() != nil || e.WelcomeSecret() != nil || e.InitSecret() != nil || e.EncryptionSecret() != nil {
		t.Error("erased secret still returned")
	}
	if e.ExporterSecret() == nil || e.ConfirmationKey() == nil {
		t.Error("targeted erase removed other secrets")
	}
	e.Erase()
	for name, b := range held {
		if !isZero(b) {
			t.Errorf("%s secret not zeroed by Erase", name)
		}
	}
	for name, b := range allSecrets(e) {
		if b != nil {
			t.Errorf("%s secret still returned after Erase", name)
		}
	}
	if _, err := e.Exporter("x", nil, 16); err == nil {
		t.Error("Exporter works after Erase")
	}
	if _, err := e.ExternalPub(); err == nil {
		t.Error("ExternalPub works after Erase")
	}
}

func TestEpochSecretsNeverPrinted(t *testing.T) {
	e := newTestEpoch(t)
	var out strings.Builder
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		fmt.Fprintf(&out, f+"\n", e)
		fmt.Fprintf(&out, f+"\n", *e)
	}
	printed := out.String()
	for name, b := range allSecrets(e) {
		for _, form := range []string{hex.EncodeToString(b), string(b), fmt.Sprint(b), fmt.Sprintf("%#v", b)} {
			if strings.Contains(printed, form) {
				t.Errorf("%s secret printed", name)
			}
		}
	}
	if !strings.Contains(printed, "redacted") {
		t.Errorf("unexpected output %q", printed)
	}
}

func TestExporterLengthBound(t *testing.T) {
	e := newTestEpoch(t)
	for _, n := range []int{-1, 1 << 16} {
		if _, err := e.Exporter("x", nil, n); err == nil {
			t.Errorf("export of length %d accepted", n)
		}
	}
}

// isZero reports whether b was a secret that has been zeroed.
func isZero(b []byte) bool { return len(b) > 0 && bytes.Equal(b, make([]byte, len(b))) }

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
)

// TestBench runs mls bench at small sizes and checks every line.
func TestBench(t *testing.T) {
	var out bytes.Buffer
	if err := cmdBench([]string{"--members", "8,64", "--runs", "2", "--shape", "both"}, &out); err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]int)
	var prims []string
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		var r benchResult
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if name, ok := strings.CutPrefix(r.Op, "prim-"); ok {
			// Once per run, not per group.
			if r.Suite != 1 || r.Members != 0 || r.Shape != "" || r.Runs != 10 || r.MinNs <= 0 || r.MinNs > r.MedianNs || r.MedianNs > r.MaxNs {
				t.Fatalf("bad primitive line %q", sc.Text())
			}
			prims = append(prims, name)
			continue
		}
		if !slices.Contains(benchOps, r.Op) || r.Suite != 1 || (r.Members != 8 && r.Members != 64) || (r.Shape != "full" && r.Shape != "sparse") {
			t.Fatalf("bad line %q", sc.Text())
		}
		seen[fmt.Sprint(r.Op, r.Members, r.Shape)]++
		switch r.Op {
		case "state", "memory":
			if r.Runs != 0 || r.MedianNs != 0 || r.Bytes <= 0 {
				t.Fatalf("bad line %q", sc.Text())
			}
		default:
			runs := 2
			if r.Op == "protect" || r.Op == "unprotect" || r.Op == "persist-message" {
				runs = minMessageRuns
			}
			if r.Runs != runs || r.MinNs <= 0 || r.MinNs > r.MedianNs || r.MedianNs > r.MaxNs {
				t.Fatalf("bad timings %q", sc.Text())
			}
			if (r.Op == "unprotect") != (r.Bytes == 0) {
				t.Fatalf("bad size %q", sc.Text())
			}
		}
	}
	if want := (len(benchOps) - 1) * 4; len(seen) != want {
		t.Fatalf("%d distinct lines, want %d", len(seen), want)
	}
	if fmt.Sprint(prims) != "[x25519 sign verify seal open hash expand aead]" {
		t.Fatalf("primitives %v", prims)
	}
	for k, v := range seen {
		if v != 1 {
			t.Fatalf("%s printed %d times", k, v)
		}
	}
}

func TestBenchArgs(t *testing.T) {
	for _, args := range [][]string{
		{"--members", "1"},
		{"--members", "x"},
		{"--shape", "round"},
		{"--ops", "fly"},
		{"--runs", "0"},
		{"--suite", "999"},
		{"extra"},
	} {
		if err := cmdBench(args, &bytes.Buffer{}); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// TestSynthesizedMembersAgree checks that synthesized members are real
// Groups: commits go both ways through the public API and the members
// agree on the epoch authenticator after each, and messages decrypt.
func TestSynthesizedMembersAgree(t *testing.T) {
	s, err := ciphersuite.Lookup(ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	for _, sparse := range []bool{false, true} {
		for _, n := range []int{2, 7, 33} {
			gs, err := mls.SynthesizeGroup(s, n, mls.SynthOptions{Sparse: sparse, Members: []mls.LeafIndex{0, mls.LeafIndex(n - 1)}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			a, b := gs[0], gs[1]
			if !bytes.Equal(a.EpochAuthenticator(), b.EpochAuthenticator()) {
				t.Fatal("members disagree before any commit")
			}
			for i, opts := range []mls.CommitOptions{{}, {Remove: []mls.LeafIndex{mls.LeafIndex(n / 2)}}, {}} {
				from, to := a, b
				if i%2 == 1 {
					from, to = b, a
				}
				if n == 2 && opts.Remove != nil {
					continue // the only other member is the receiver
				}
				pc, err := from.Commit(opts)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := from.MergePendingCommit(); err != nil {
					t.Fatal(err)
				}
				if _, err := to.Process(pc.Commit); err != nil {
					t.Fatalf("%d members, sparse %v, commit %d: %v", n, sparse, i, err)
				}
				if !bytes.Equal(a.EpochAuthenticator(), b.EpochAuthenticator()) || a.Epoch() != b.Epoch() {
					t.Fatalf("%d members, sparse %v: members disagree after commit %d", n, sparse, i)
				}
				msg, err := to.Send([]byte("hello"))
				if err != nil {
					t.Fatal(err)
				}
				if r, err := from.Process(msg); err != nil || string(r.Data) != "hello" {
					t.Fatalf("application message: %v", err)
				}
			}
		}
	}
}

func TestSynthesizeGroupRejects(t *testing.T) {
	s, err := ciphersuite.Lookup(ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	for _, members := range [][]mls.LeafIndex{nil, {0, 0}, {4}} {
		if _, err := mls.SynthesizeGroup(s, 4, mls.SynthOptions{Members: members}, nil); err == nil {
			t.Errorf("members %v accepted", members)
		}
	}
}

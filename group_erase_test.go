package mls

import (
	"bytes"
	"errors"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
)

func TestGroupErase(t *testing.T) {
	const suite = ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	tg := newTestGroup(t, suite, nil, "alice")
	tg.add("alice", "bob", "carol")
	tg.commit("bob", CommitOptions{Update: true}, nil)
	bob := tg.members["bob"]
	// A pending commit and a late message, so that those secrets exist too.
	if _, err := bob.Commit(CommitOptions{Update: true}); err != nil {
		t.Fatal(err)
	}
	late, err := tg.members["alice"].Send([]byte("late"))
	if err != nil {
		t.Fatal(err)
	}

	exporter := bob.secrets.exporterSecret
	leafKey := bob.tree.priv.leaf
	var nodeKeys [][]byte
	for _, k := range bob.tree.priv.nodes {
		nodeKeys = append(nodeKeys, k)
	}
	if len(nodeKeys) == 0 || len(leafKey) == 0 || len(exporter) == 0 {
		t.Fatal("test setup: bob holds no secrets")
	}

	bob.Erase()

	zero := func(what string, b []byte) {
		if !bytes.Equal(b, make([]byte, len(b))) {
			t.Errorf("%s not zeroed", what)
		}
	}
	zero("exporter secret", exporter)
	zero("leaf private key", leafKey)
	for _, k := range nodeKeys {
		zero("path private key", k)
	}
	if _, err := bob.Process(late); !errors.Is(err, ErrGroupInactive) {
		t.Errorf("Process after Erase: %v", err)
	}
	if _, err := bob.Send([]byte("x")); !errors.Is(err, ErrGroupInactive) {
		t.Errorf("Send after Erase: %v", err)
	}
	if _, err := bob.Commit(CommitOptions{}); !errors.Is(err, ErrGroupInactive) {
		t.Errorf("Commit after Erase: %v", err)
	}
	if _, err := bob.Export("x", nil, 16); !errors.Is(err, ErrGroupInactive) {
		t.Errorf("Export after Erase: %v", err)
	}
	if _, err := bob.ResumptionPSK(bob.Epoch()); !errors.Is(err, ErrGroupInactive) {
		t.Errorf("ResumptionPSK after Erase: %v", err)
	}
	if _, err := bob.MarshalBinary(); !errors.Is(err, ErrGroupInactive) {
		t.Errorf("MarshalBinary after Erase: %v", err)
	}
	if _, err := bob.MergePendingCommit(); !errors.Is(err, ErrNoPendingCommit) {
		t.Errorf("MergePendingCommit after Erase: %v", err)
	}
	// The others carry on.
	delete(tg.members, "bob")
	tg.order = []string{"alice", "carol"}
	if _, err := tg.members["carol"].Process(late); err != nil {
		t.Fatal(err)
	}
}

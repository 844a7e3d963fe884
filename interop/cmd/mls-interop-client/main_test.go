package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/arbormls/mls/ciphersuite"
	pb "github.com/arbormls/mls/interop/proto"
)

// syncBuffer is a log writer safe to read while run writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRun starts the command on an ephemeral port with the default host,
// calls it, and stops it by cancelling its context as a signal would.
func TestRun(t *testing.T) {
	t.Cleanup(func() { _ = ciphersuite.UseProfile(ciphersuite.ProfileDefault) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log syncBuffer
	addrs := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--port", "0", "--suite-profile", ciphersuite.ProfileRFC}, &log, func(a net.Addr) { addrs <- a })
	}()

	var addr net.Addr
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatalf("run returned early: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start")
	}
	if tcp, ok := addr.(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		t.Errorf("listening on %v, want a loopback address by default", addr)
	}

	conn, err := grpc.NewClient(addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := pb.NewMLSClientClient(conn)
	callCtx, callCancel := context.WithTimeout(ctx, 30*time.Second)
	defer callCancel()
	name, err := client.Name(callCtx, &pb.NameRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if name.GetName() != "Arbor" {
		t.Errorf("Name = %q", name.GetName())
	}
	suites, err := client.SupportedCiphersuites(callCtx, &pb.SupportedCiphersuitesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := suites.GetCiphersuites(); len(got) != 7 {
		t.Errorf("--suite-profile rfc offers %v, want suites 1 to 7", got)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(shutdownGrace + 10*time.Second):
		t.Fatal("server did not stop")
	}
	if !strings.Contains(log.String(), "stopped") {
		t.Errorf("log lacks the stop line:\n%s", log.String())
	}
}

func TestRunRejectsBadArguments(t *testing.T) {
	t.Cleanup(func() { _ = ciphersuite.UseProfile(ciphersuite.ProfileDefault) })
	for _, args := range [][]string{
		{"--port", "70000"},
		{"--port", "-1"},
		{"--suite-profile", "no-such-profile"},
		{"--port", "0", "extra"},
		{"--no-such-flag"},
	} {
		var log syncBuffer
		if err := run(context.Background(), args, &log, nil); err == nil {
			t.Errorf("run %q: no error", args)
		}
	}
}

// Command mls-interop-client serves Arbor to the MLS working group's interop
// harness: it runs the gRPC service mls_client.MLSClient on a TCP port for
// the harness's test runner to drive.
//
// Usage:
//
//	mls-interop-client [--host 127.0.0.1] [--port 50051] [--suite-profile NAME]
//
// It listens on the loopback interface only unless --host says otherwise:
// the service hands out private keys and has no authentication. The cipher
// suites offered are those of the suite profile (default: the environment
// variable MLS_SUITE_PROFILE, else the default profile). SIGINT or SIGTERM
// stops it, letting RPCs in progress finish for a few seconds.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/interop"
	pb "github.com/arbormls/mls/interop/proto"
)

// shutdownGrace is how long a stop signal waits for RPCs in progress.
const shutdownGrace = 5 * time.Second

// maxRequest bounds one gRPC request, in bytes.
const maxRequest = 4 << 20

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr, nil)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "mls-interop-client:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done. It calls listening, when not nil, with the
// address bound, which tests use to learn the port picked for --port 0.
func run(ctx context.Context, args []string, log io.Writer, listening func(net.Addr)) error {
	fs := flag.NewFlagSet("mls-interop-client", flag.ContinueOnError)
	fs.SetOutput(log)
	host := fs.String("host", "127.0.0.1", "address to listen on; anything but loopback exposes private keys to the network")
	port := fs.Int("port", 50051, "TCP port to listen on (0 picks a free one)")
	profile := fs.String("suite-profile", "", "cipher suite profile: "+strings.Join(ciphersuite.Profiles(), ", ")+"; empty means $"+ciphersuite.ProfileEnv+", else default")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *port < 0 || *port > 65535 {
		return fmt.Errorf("--port %d out of range", *port)
	}
	applied, err := applyProfile(*profile)
	if err != nil {
		return err
	}

	lis, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		return err
	}
	if a, ok := lis.Addr().(*net.TCPAddr); ok && !a.IP.IsLoopback() {
		fmt.Fprintf(log, "warning: listening on %v, reachable beyond this machine; the harness service has no authentication\n", a)
	}

	srv := interop.NewServer()
	defer srv.Close()
	// gRPC bounds each received message (4 MiB, its default, made
	// explicit here): the harness's largest objects, Welcomes with the
	// tree of a few hundred members, are far below it.
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(maxRequest))
	pb.RegisterMLSClientServer(gs, srv)

	var suites []string
	for _, id := range ciphersuite.IDs() {
		suites = append(suites, fmt.Sprintf("0x%04x", uint16(id)))
	}
	fmt.Fprintf(log, "%s interop client on %v, suite profile %q: %s\n", interop.Name, lis.Addr(), applied, strings.Join(suites, " "))
	if listening != nil {
		listening(lis.Addr())
	}

	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}

	// GracefulStop waits for every RPC in progress; bound the wait.
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(shutdownGrace):
		gs.Stop()
		<-stopped
	}
	fmt.Fprintln(log, "stopped")
	return nil
}

// applyProfile puts the named suite profile in force, or the one
// MLS_SUITE_PROFILE names when name is empty, and returns its name.
func applyProfile(name string) (string, error) {
	if name == "" {
		return ciphersuite.ProfileFromEnv()
	}
	if err := ciphersuite.UseProfile(name); err != nil {
		return "", err
	}
	return name, nil
}

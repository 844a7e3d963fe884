package ds_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/arbormls/mls/ds/internal/simclient"
)

// binDir holds the mlsd binary the process tests build, once per test
// binary; TestMain removes it.
var (
	binDir   string
	mlsdOnce sync.Once
	mlsdPath string
	mlsdErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mlsd-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// mlsdBinary builds ./cmd/mlsd the first time it is asked for.
func mlsdBinary(t *testing.T) string {
	t.Helper()
	mlsdOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			mlsdErr = fmt.Errorf("no go command to build mlsd: %w", err)
			return
		}
		mlsdPath = filepath.Join(binDir, "mlsd")
		out, err := exec.Command(goTool, "build", "-o", mlsdPath, "./cmd/mlsd").CombinedOutput()
		if err != nil {
			mlsdErr = fmt.Errorf("go build ./cmd/mlsd: %v\n%s", err, out)
		}
	})
	if mlsdErr != nil {
		t.Fatal(mlsdErr)
	}
	return mlsdPath
}

// mlsdFlags are flags every test process gets: the request and claim
// rate limits off where mlsd has them, since a test's clients all come from one
// address in bursts that real clients would not make. (Limits have their
// own tests.) The flags are read from mlsd's usage, so the tests run
// against an mlsd with or without them.
func mlsdFlags(t *testing.T) []string {
	out, _ := exec.Command(mlsdBinary(t), "-h").CombinedOutput()
	var flags []string
	for _, f := range []string{"rate-ip", "rate-client", "rate-claim"} {
		if strings.Contains(string(out), "-"+f+" ") {
			flags = append(flags, "--"+f+"=0")
		}
	}
	// The processes' clients send PrivateMessage handshakes.
	if strings.Contains(string(out), "-allow-unverified-groups") {
		flags = append(flags, "--allow-unverified-groups")
	}
	return flags
}

// mlsdProc is an mlsd server running as a separate process.
type mlsdProc struct {
	t     *testing.T
	store string
	addr  string
	log   string   // file of the running process's stderr
	logs  []string // files of every run
	cmd   *exec.Cmd
	exit  chan struct{} // closed when the process has exited
}

// startMlsd starts mlsd on a free port of 127.0.0.1 with --store store and
// waits until it answers /readyz. The process is killed when the test
// ends.
func startMlsd(t *testing.T, store string) *mlsdProc {
	t.Helper()
	p := &mlsdProc{t: t, store: store}
	t.Cleanup(p.Kill)
	p.start(false)
	return p
}

// URL is the server's base URL.
func (p *mlsdProc) URL() string { return "http://" + p.addr }

// freeAddr returns an address of 127.0.0.1 no one listened on a moment
// ago. Another process may take it before mlsd does: start retries.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs the process and waits for readiness; with sameAddr it tries
// the address of the previous run first.
func (p *mlsdProc) start(sameAddr bool) {
	t := p.t
	t.Helper()
	bin := mlsdBinary(t)
	for try := 0; ; try++ {
		if !sameAddr || try > 0 {
			p.addr = freeAddr(t)
		}
		p.log = filepath.Join(t.TempDir(), "mlsd.log")
		p.logs = append(p.logs, p.log)
		logf, err := os.Create(p.log)
		if err != nil {
			t.Fatal(err)
		}
		p.cmd = exec.Command(bin, append([]string{"--listen", p.addr, "--store", p.store}, mlsdFlags(t)...)...)
		p.cmd.Stdout, p.cmd.Stderr = logf, logf
		if err := p.cmd.Start(); err != nil {
			logf.Close()
			t.Fatal(err)
		}
		exit := make(chan struct{})
		p.exit = exit
		go func(cmd *exec.Cmd) {
			cmd.Wait()
			logf.Close()
			close(exit)
		}(p.cmd)
		err = p.waitReady()
		if err == nil {
			return
		}
		p.Kill()
		// A port taken in between is worth another try; anything else
		// is a failure.
		if try < 5 && strings.Contains(p.logText(), "address already in use") {
			continue
		}
		t.Fatalf("mlsd on %s did not become ready: %v\n%s", p.addr, err, p.logText())
	}
}

// waitReady polls /readyz until it answers 200, the process exits, or
// 30 s pass. Polling is the only way to see the listener is up: mlsd
// logs before it binds.
func (p *mlsdProc) waitReady() error {
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.exit:
			return fmt.Errorf("mlsd exited: %v", p.cmd.ProcessState)
		default:
		}
		resp, err := hc.Get(p.URL() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exit:
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("not ready after 30s")
}

// Kill sends SIGKILL and waits for the process to be gone. It does
// nothing when the process is not running.
func (p *mlsdProc) Kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.exit:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exit
}

// Restart starts the process again on the same store, on the same address
// when it is still free.
func (p *mlsdProc) Restart() {
	p.t.Helper()
	p.Kill()
	p.start(true)
}

func (p *mlsdProc) logText() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// errorLines returns the lines at level ERROR of the logs of every run: a
// request that failed inside the server (500) is logged there.
func (p *mlsdProc) errorLines() []string {
	var out []string
	for _, f := range p.logs {
		b, _ := os.ReadFile(f)
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "level=ERROR") {
				out = append(out, l)
			}
		}
	}
	return out
}

// httpClient is for clients of process tests: a bounded timeout, so a
// request to a dead server fails instead of hanging, and connections kept
// for the many clients of a test. Its idle connections are closed when the
// test ends.
func httpClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Timeout: 20 * time.Second, Transport: tr}
}

// newSimClient makes a client with a fresh identity and registers it.
func newSimClient(t *testing.T, hc *http.Client, url, id, user string) *simclient.Client {
	t.Helper()
	c, err := simclient.NewClient(url, hc, id, user, suite)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Register(context.Background()); err != nil {
		t.Fatalf("register %s: %v", id, err)
	}
	return c
}

// TestProcessHarness checks the harness: mlsd runs as a process, answers,
// and comes back on the same SQLite file after SIGKILL with what it held.
func TestProcessHarness(t *testing.T) {
	p := startMlsd(t, filepath.Join(t.TempDir(), "ds.db"))
	ctx := context.Background()
	c := newSimClient(t, httpClient(t), p.URL(), "alice-1", "alice")
	if n, err := c.Publish(ctx, 2, false); err != nil || n != 2 {
		t.Fatalf("publish: %d, %v", n, err)
	}
	pid := p.cmd.Process.Pid
	p.Restart()
	if p.cmd.Process.Pid == pid {
		t.Fatal("restart kept the same process")
	}
	c.URL = p.URL()
	if n, err := c.CountKeyPackages(ctx); err != nil || n != 2 {
		t.Fatalf("count after restart: %d, %v; want 2", n, err)
	}
	p.Kill()
	c.HTTP = &http.Client{Timeout: time.Second}
	if _, err := c.CountKeyPackages(ctx); err == nil {
		t.Fatal("a killed server answered")
	}
	if errs := p.errorLines(); len(errs) > 0 {
		t.Fatalf("server logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

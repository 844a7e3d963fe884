// Command mlsd is the MLS Delivery Service server (see ds/README.md).
//
//	mlsd [--listen ADDR] [--store DSN] [--tls-cert FILE --tls-key FILE] [flags]
//
// ADDR defaults to 127.0.0.1:7420; DSN to the SQLite file mlsd.db in the
// working folder (a path, or sqlite:PATH); postgres://... selects PostgreSQL.
// `mlsd -h` lists the flags: limits, garbage collection, metrics listener,
// log format, shutdown grace period.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/arbormls/mls/ds"
	"github.com/arbormls/mls/ds/internal/sqlstore"
	"github.com/arbormls/mls/ds/postgres"
	"github.com/arbormls/mls/ds/sqlite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr, nil)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "mlsd:", err)
		os.Exit(1)
	}
}

type config struct {
	listen, dsn, tlsCert, tlsKey, metricsListen, logFormat string

	limits          ds.Limits
	quota           ds.Quota
	pollInterval    time.Duration
	maxBody         int64
	maxWait         time.Duration
	gc              ds.Maintenance
	shutdownTimeout time.Duration
	allowUnverified bool
}

func parseFlags(args []string, out io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("mlsd", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:7420", "address to listen on")
	fs.StringVar(&c.dsn, "store", "mlsd.db", "store: a SQLite file path (or sqlite:PATH), or a postgres:// URL")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "serve HTTPS with this PEM certificate (chain) file; needs --tls-key")
	fs.StringVar(&c.tlsKey, "tls-key", "", "PEM private key file of --tls-cert")
	fs.StringVar(&c.metricsListen, "metrics-listen", "", "serve /metrics on this address only (default: on --listen)")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.Float64Var(&c.limits.ClientRate, "rate-client", 20, "requests per second per authenticated client (0: no limit)")
	fs.IntVar(&c.limits.ClientBurst, "burst-client", 40, "burst of requests per authenticated client")
	fs.Float64Var(&c.limits.IPRate, "rate-ip", 100, "requests per second per remote IP, before authentication (0: no limit)")
	fs.IntVar(&c.limits.IPBurst, "burst-ip", 200, "burst of requests per remote IP")
	fs.IntVar(&c.limits.MaxStreams, "max-streams", 8, "open long polls and WebSockets per client (0: no limit)")
	fs.Float64Var(&c.limits.ClaimRate, "rate-claim", 1, "KeyPackage claims per second of one claimed user, and of one claiming client (0: no limit; RFC 9420 section 16.8)")
	fs.IntVar(&c.limits.ClaimBurst, "burst-claim", 50, "burst of KeyPackage claims of one user, and by one client")
	fs.IntVar(&c.quota.MaxMembers, "max-group-size", 100000, "most members of a group this server knows (0: no limit)")
	fs.Int64Var(&c.quota.MaxGroupBytes, "quota-group", 256<<20, "most bytes of one group's message log (0: no limit)")
	fs.Int64Var(&c.quota.MaxClientBytes, "quota-client", 64<<20, "most bytes of stored group messages one client sent (0: no limit)")
	fs.Int64Var(&c.quota.MaxInboxBytes, "quota-inbox", 64<<20, "most bytes of Welcomes waiting in one client's inbox (0: no limit)")
	fs.Int64Var(&c.gc.GC.GroupLogBytes, "group-log-retention", 0, "delete a group's oldest messages beyond this many bytes, read or not (0: keep until read)")
	fs.DurationVar(&c.pollInterval, "poll-interval", -1, "with SQLite, how often a waiting client's inbox is read again for messages of other mlsd processes on the same file (e.g. 1s; negative, the default: never, for one process alone on its file); PostgreSQL needs no polling (LISTEN/NOTIFY)")
	fs.Int64Var(&c.maxBody, "max-body", ds.DefaultMaxBody, "largest request body, in bytes")
	fs.DurationVar(&c.maxWait, "max-wait", ds.DefaultMaxWait, "longest inbox long poll")
	fs.DurationVar(&c.gc.Every, "gc-every", time.Minute, "time between garbage collections of the store")
	fs.DurationVar(&c.gc.GC.InboxRetention, "inbox-retention", 0, "delete inbox and group log messages unacknowledged this long (0: keep until acknowledged)")
	fs.DurationVar(&c.gc.GC.KeyPackageRetention, "keypackage-retention", 7*24*time.Hour, "delete claimed (and replaced last-resort) KeyPackages this long after their claim (0: keep)")
	fs.BoolVar(&c.allowUnverified, "allow-unverified-groups", false, "also serve groups whose handshakes are PrivateMessages, which the server cannot verify (see README)")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 15*time.Second, "how long requests in flight may take to finish on SIGTERM")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		return nil, fmt.Errorf("--log-format must be text or json, not %q", c.logFormat)
	}
	if c.quota.MaxMembers < 0 || c.quota.MaxGroupBytes < 0 || c.quota.MaxClientBytes < 0 || c.quota.MaxInboxBytes < 0 || c.gc.GC.GroupLogBytes < 0 {
		return nil, errors.New("--max-group-size, the quotas and --group-log-retention must not be negative")
	}
	if c.maxBody <= 0 || c.maxWait < 0 || c.gc.Every <= 0 || c.shutdownTimeout <= 0 {
		return nil, errors.New("--max-body, --gc-every and --shutdown-timeout must be positive, --max-wait not negative")
	}
	return c, nil
}

// run serves until ctx ends (SIGINT or SIGTERM in main), then shuts down
// gracefully. ready, when not nil, is told the address listened on.
func run(ctx context.Context, args []string, logOut io.Writer, ready func(net.Addr)) error {
	c, err := parseFlags(args, logOut)
	if err != nil {
		return err
	}
	var log *slog.Logger
	if c.logFormat == "json" {
		log = slog.New(slog.NewJSONHandler(logOut, nil))
	} else {
		log = slog.New(slog.NewTextHandler(logOut, nil))
	}
	var tlsConfig *tls.Config
	if c.tlsCert != "" {
		// Loaded now, so a bad file is an error at start, not at the
		// first handshake.
		cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
		if err != nil {
			return fmt.Errorf("loading TLS certificate: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}

	var store *sqlstore.Store
	if strings.HasPrefix(c.dsn, "postgres://") || strings.HasPrefix(c.dsn, "postgresql://") {
		store, err = postgres.Open(ctx, c.dsn)
	} else {
		store, err = sqlite.Open(ctx, strings.TrimPrefix(c.dsn, "sqlite:"))
	}
	if err != nil {
		return err
	}
	defer store.Close()

	srv := ds.NewServer(store, log)
	srv.Ready = store.Ping
	srv.Limits = c.limits
	srv.Quota = c.quota
	srv.PollInterval = c.pollInterval
	srv.MaxBody = c.maxBody
	srv.MaxWait = c.maxWait
	srv.HideMetrics = c.metricsListen != ""
	srv.AllowUnverified = c.allowUnverified

	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return err
	}
	// ReadTimeout bounds a slow request body; the long poll's and the
	// WebSocket's own reads are not under it once the handler runs.
	hs := &http.Server{Handler: srv, TLSConfig: tlsConfig, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 2)
	go func() {
		if tlsConfig != nil {
			errc <- hs.ServeTLS(ln, "", "")
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	var ms *http.Server
	if c.metricsListen != "" {
		mln, err := net.Listen("tcp", c.metricsListen)
		if err != nil {
			hs.Close()
			return err
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", srv.MetricsHandler())
		ms = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- ms.Serve(mln) }()
	}
	mctx, stopMaintenance := context.WithCancel(context.Background())
	var maint sync.WaitGroup
	maint.Go(func() { srv.RunMaintenance(mctx, c.gc) })
	defer func() { stopMaintenance(); maint.Wait() }()

	log.Info("mlsd listening", "addr", ln.Addr().String(), "tls", tlsConfig != nil)
	if ready != nil {
		ready(ln.Addr())
	}
	select {
	case err := <-errc:
		hs.Close()
		if ms != nil {
			ms.Close()
		}
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx, hs)
	if err != nil {
		// Requests still running are cut off; their transactions roll
		// back, and they were never answered 2xx.
		log.Warn("shutdown grace period over", "err", err)
		hs.Close()
	}
	if ms != nil {
		ms.Close()
	}
	log.Info("stopped")
	return err
}

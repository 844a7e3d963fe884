// Command mlsd is the MLS Delivery Service server (see ds/README.md).
//
//	mlsd [--listen ADDR] [--store DSN]
//
// ADDR defaults to 127.0.0.1:7420; DSN to the SQLite file mlsd.db in the
// working folder (a path, or sqlite:PATH); postgres://... selects PostgreSQL.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/arbormls/mls/ds"
	"github.com/arbormls/mls/ds/internal/sqlstore"
	"github.com/arbormls/mls/ds/postgres"
	"github.com/arbormls/mls/ds/sqlite"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mlsd:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:7420", "address to listen on")
	dsn := flag.String("store", "mlsd.db", "store: a SQLite file path (or sqlite:PATH), or a postgres:// URL")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var store *sqlstore.Store
	var err error
	if strings.HasPrefix(*dsn, "postgres://") || strings.HasPrefix(*dsn, "postgresql://") {
		store, err = postgres.Open(ctx, *dsn)
	} else {
		store, err = sqlite.Open(ctx, strings.TrimPrefix(*dsn, "sqlite:"))
	}
	if err != nil {
		return err
	}
	defer store.Close()

	srv := ds.NewServer(store, log)
	srv.Ready = store.Ping
	hs := &http.Server{Addr: *listen, Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.ListenAndServe() }()
	log.Info("mlsd listening", "addr", *listen)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	// Long polls end within MaxWait; give them a bounded grace period.
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return hs.Shutdown(sctx)
}

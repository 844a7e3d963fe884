// Command mlsload puts load on an MLS Delivery Service (mlsd): simulated
// clients with real MLS state register, publish KeyPackages, create
// groups and invite each other, then send application messages (most),
// commits (some) and read their inboxes by long poll, acking what they
// handled. It reports throughput and latency percentiles per operation,
// and checks that every member received every message of the others of
// its group exactly once and that the members agree on their groups'
// state (exit status 1 otherwise).
//
//	mlsload (--server URL | --store DSN) [--clients N] [--groups G]
//	        (--duration D | --messages M) [--json] [...]
//
// --store starts a server in this process on a SQLite file (a path, or
// sqlite:PATH) or a PostgreSQL database (postgres://...), as mlsd does.
// Client ids are unique to each run, so a store can be reused.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"text/tabwriter"
)

// logOut receives the progress log and the in-process server's warnings.
var logOut io.Writer = os.Stderr

func main() {
	var cfg config
	flag.StringVar(&cfg.Server, "server", "", "base URL of a running mlsd, e.g. http://127.0.0.1:7420")
	flag.StringVar(&cfg.Store, "store", "", "store of a server started in this process: a SQLite file path, or a postgres:// URL")
	flag.IntVar(&cfg.Clients, "clients", 300, "simulated clients")
	flag.IntVar(&cfg.Groups, "groups", 30, "groups; client i is in group i mod groups")
	flag.DurationVar(&cfg.Duration, "duration", 0, "how long the mixed traffic runs")
	flag.IntVar(&cfg.Messages, "messages", 0, "application messages to send in all (instead of --duration)")
	flag.Float64Var(&cfg.CommitRatio, "commit-ratio", 0.05, "share of a sender's operations that are commits")
	flag.IntVar(&cfg.Size, "size", 100, "application message size in bytes")
	flag.DurationVar(&cfg.Wait, "wait", 0, "long-poll wait of inbox reads (default 10s)")
	flag.DurationVar(&cfg.Think, "think", 0, "mean pause of each client between operations (uniform in [0, 2*think))")
	flag.DurationVar(&cfg.Timeout, "timeout", 0, "bound on the setup and on the final drain (default 2m)")
	asJSON := flag.Bool("json", false, "print the result as one JSON object")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the run (clients and an in-process server) to this file")
	flag.Parse()
	if cfg.Wait == 0 {
		cfg.Wait = defaultWait
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = defaultTimeout
	}
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "mlsload: unexpected arguments:", flag.Args())
		os.Exit(2)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mlsload:", err)
			os.Exit(1)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "mlsload:", err)
			os.Exit(1)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := Run(ctx, cfg, slog.New(slog.NewTextHandler(logOut, nil)))
	stop()
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mlsload:", err)
		os.Exit(1)
	}
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(res)
	} else {
		printResult(os.Stdout, res)
	}
	if res.Errors > 0 {
		os.Exit(1)
	}
}

func printResult(w io.Writer, r *Result) {
	fmt.Fprintf(w, "%d clients in %d groups, %s\n", r.Clients, r.Groups, r.Target)
	fmt.Fprintf(w, "setup %.1fs; traffic and drain %.1fs\n", r.SetupSeconds, r.Seconds)
	fmt.Fprintf(w, "requests %d (%.0f/s); application messages %d sent, %d delivered (%.0f/s)\n",
		r.Requests, r.RequestsPerSec, r.Sent, r.Delivered, r.DeliveredPerSec)
	fmt.Fprintf(w, "commits %d accepted, %d lost the race; %d messages refused as stale and sent again\n",
		r.Commits, r.Conflicts, r.Stale)
	fmt.Fprintf(w, "%d messages arrived more epochs late than the server's window\n", r.Late)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tcount\tp50 ms\tp95 ms\tp99 ms\tmax ms\t")
	for _, op := range opNames {
		if s, ok := r.Ops[op]; ok {
			fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t\n", op, s.Count, s.P50, s.P95, s.P99, s.Max)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "errors %d\n", r.Errors)
	for _, e := range r.FirstErrors {
		fmt.Fprintln(w, "  ", e)
	}
}

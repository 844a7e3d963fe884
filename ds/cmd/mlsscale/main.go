// Command mlsscale measures mlsd with one large group: how many rows and
// bytes the store writes per application message and per commit, how
// long a message takes to reach every member connected by WebSocket (p50,
// p99), the process CPU per delivered message, and how many store queries
// the servers make per second while the connected members wait and
// nothing happens.
//
//	go run ./cmd/mlsscale --store 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable' --servers 2
//	go run ./cmd/mlsscale --store /tmp/scale.db
//
// The group's members are written into the store directly (registering
// 50,000 clients through HTTP measures registration, not delivery); the
// servers are ds.Servers in this process, each with its own store (its
// own connection pool and, on PostgreSQL, its own LISTEN connection), as
// separate mlsd processes have. Members are lightweight: messages are
// PrivateMessages of the group's epoch with opaque content, which is all
// the server reads of them; a connected member records when each arrives
// and acknowledges at the end. On PostgreSQL the run uses a fresh schema,
// dropped at the end.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/ds"
	"github.com/arbormls/mls/ds/internal/sqlstore"
	"github.com/arbormls/mls/ds/postgres"
	"github.com/arbormls/mls/ds/sqlite"
	"github.com/coder/websocket"
	_ "github.com/jackc/pgx/v5/stdlib"
)

type config struct {
	store                   string
	servers                 int
	members, connected      int
	messages, commits, size int
	warmup                  int
	cpuProfile              string
	idle                    time.Duration
}

// Result is the JSON line mlsscale prints.
type Result struct {
	Store             string  `json:"store"`
	Servers           int     `json:"servers"`
	Members           int     `json:"members"`
	Connected         int     `json:"connected"`
	RowsPerMessage    float64 `json:"rows_per_message"`
	BytesPerMessage   float64 `json:"bytes_per_message"`
	RowsPerCommit     float64 `json:"rows_per_commit"`
	BytesPerCommit    float64 `json:"bytes_per_commit"`
	FanoutP50ms       float64 `json:"fanout_p50_ms"`
	FanoutP99ms       float64 `json:"fanout_p99_ms"`
	CPUPerDeliveryUs  float64 `json:"cpu_per_delivery_us"`
	IdleQueriesPerSec float64 `json:"idle_queries_per_sec"`
	MessageSize       int     `json:"message_size"`
	Messages, Commits int     `json:"-"`
	Lost              int     `json:"lost"`
	SetupSeconds      float64 `json:"setup_seconds"`
	CollectMs         float64 `json:"collect_ms"`
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "mlsscale:", err)
		os.Exit(1)
	}
}

func parse(args []string, out io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("mlsscale", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.store, "store", "", "a SQLite file path (created; must not exist) or a postgres:// URL (a fresh schema is used)")
	fs.IntVar(&c.servers, "servers", 1, "servers sharing the store (PostgreSQL only beyond 1)")
	fs.IntVar(&c.members, "members", 50000, "members of the group")
	fs.IntVar(&c.connected, "connected", 1000, "members connected by WebSocket, spread over the servers")
	fs.IntVar(&c.messages, "messages", 20, "application messages sent")
	fs.IntVar(&c.warmup, "warmup", 3, "application messages sent first and not measured (the servers' connection pools fill)")
	fs.IntVar(&c.commits, "commits", 3, "commits sent")
	fs.IntVar(&c.size, "size", 1024, "bytes of an application message's content")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured sends to this file")
	fs.DurationVar(&c.idle, "idle", 5*time.Second, "how long the connected members wait idle while queries are counted")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	pg := strings.HasPrefix(c.store, "postgres://") || strings.HasPrefix(c.store, "postgresql://")
	switch {
	case c.store == "":
		return nil, errors.New("--store is required")
	case c.servers < 1 || (!pg && c.servers > 1):
		return nil, errors.New("--servers is 1 on SQLite and at least 1 on PostgreSQL")
	case c.members < 2 || c.connected < 1 || c.connected >= c.members || c.messages < 1 || c.commits < 0 || c.size < 16:
		return nil, errors.New("need 2 <= --members, 1 <= --connected < --members, --messages >= 1, --commits >= 0, --size >= 16")
	}
	return c, nil
}

func run(args []string, out io.Writer) error {
	c, err := parse(args, os.Stderr)
	if err != nil {
		return err
	}
	ctx := context.Background()
	dsn, cleanup, err := prepare(c.store)
	if err != nil {
		return err
	}
	defer cleanup()
	res := &Result{Store: storeName(c.store), Servers: c.servers, Members: c.members, Connected: c.connected, MessageSize: c.size}

	start := time.Now()
	stores := make([]*sqlstore.Store, c.servers)
	for i := range stores {
		if stores[i], err = open(ctx, dsn); err != nil {
			return err
		}
		defer stores[i].Close()
	}
	db, err := rawDB(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	gid := []byte("mlsscale group")
	idents, err := populate(ctx, db, dsn, gid, c.members, c.connected)
	if err != nil {
		return fmt.Errorf("populating the store: %w", err)
	}

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	urls := make([]string, c.servers)
	for i, st := range stores {
		srv := ds.NewServer(st, log)
		srv.AllowUnverified = true // the simulated members send PrivateMessage handshakes
		if c.servers == 1 {
			srv.PollInterval = -1 // one process alone on its store
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		hs := &http.Server{Handler: srv}
		go hs.Serve(ln)
		defer hs.Close()
		urls[i] = "http://" + ln.Addr().String()
	}

	// Connect the members; member 0 sends, the others read.
	rec := newRecorder(c.warmup+c.messages+c.commits, c.connected-1)
	var wg sync.WaitGroup
	cctx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); wg.Wait() }()
	var conns []*websocket.Conn
	for i := 1; i < c.connected; i++ {
		conn, err := dial(cctx, urls[i%c.servers], idents[i], 0)
		if err != nil {
			return fmt.Errorf("connecting member %d: %w", i, err)
		}
		conns = append(conns, conn)
		wg.Go(func() { rec.read(cctx, conn) })
	}
	res.SetupSeconds = time.Since(start).Seconds()

	// Idle: nothing is sent; the servers' store queries are counted,
	// once the connections' first reads are done (no query for 3 s, or
	// 120 s).
	for q, i, quiet := queries(stores), 0, 0; i < 120 && quiet < 3; i++ {
		time.Sleep(time.Second)
		n := queries(stores)
		if os.Getenv("MLSSCALE_DEBUG") != "" {
			fmt.Fprintln(os.Stderr, "settling: queries in the last second:", n-q)
		}
		if n == q {
			quiet++
		} else {
			quiet = 0
		}
		q = n
	}
	q0 := queries(stores)
	time.Sleep(c.idle)
	res.IdleQueriesPerSec = float64(queries(stores)-q0) / c.idle.Seconds()

	sender := idents[0]
	hc := &http.Client{Timeout: 60 * time.Second}
	epoch := uint64(1)
	cpu0 := cpuTime()
	var msgRows, msgBytes, comRows, comBytes int64
	for k := range c.warmup + c.messages + c.commits {
		if k == c.warmup {
			cpu0 = cpuTime()
			if c.cpuProfile != "" {
				f, err := os.Create(c.cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				pprof.StartCPUProfile(f)
				defer pprof.StopCPUProfile()
			}
		}
		commit := k >= c.warmup+c.messages
		r0, b0, err := written(db)
		if err != nil {
			return err
		}
		body := make([]byte, c.size)
		binary.BigEndian.PutUint64(body, uint64(k))
		ct := mls.ContentTypeApplication
		if commit {
			ct = mls.ContentTypeCommit
		}
		m := &mls.MLSMessage{PrivateMessage: &mls.PrivateMessage{GroupID: gid, Epoch: epoch, ContentType: ct,
			EncryptedSenderData: make([]byte, 16), Ciphertext: body}}
		data, err := m.MarshalBinary()
		if err != nil {
			return err
		}
		rec.sent(k)
		if commit {
			b, _ := json.Marshal(ds.CommitBundle{Commit: data})
			err = post(hc, urls[0], "/v1/groups/"+b64(gid)+"/commit", sender, b)
			epoch++
		} else {
			err = post(hc, urls[0], "/v1/groups/"+b64(gid)+"/messages", sender, data)
		}
		if err != nil {
			return fmt.Errorf("message %d: %w", k, err)
		}
		r1, b1, err := written(db)
		if err != nil {
			return err
		}
		if commit {
			comRows, comBytes = comRows+r1-r0, comBytes+b1-b0
		} else if k >= c.warmup {
			msgRows, msgBytes = msgRows+r1-r0, msgBytes+b1-b0
		}
		rec.wait(k, 30*time.Second)
		if os.Getenv("MLSSCALE_DEBUG") != "" {
			fmt.Fprintln(os.Stderr, "message", k, "slowest", rec.slowest(k))
		}
	}
	cpu := cpuTime() - cpu0
	res.RowsPerMessage, res.BytesPerMessage = float64(msgRows)/float64(c.messages), float64(msgBytes)/float64(c.messages)
	if c.commits > 0 {
		res.RowsPerCommit, res.BytesPerCommit = float64(comRows)/float64(c.commits), float64(comBytes)/float64(c.commits)
	}
	lat, lost := rec.latencies(c.warmup)
	res.Lost = lost
	if len(lat) > 0 {
		res.FanoutP50ms = ms(lat[len(lat)/2])
		res.FanoutP99ms = ms(lat[min(len(lat)-1, len(lat)*99/100)])
		res.CPUPerDeliveryUs = float64(cpu.Microseconds()) / float64(len(lat))
	}
	for _, conn := range conns {
		conn.Close(websocket.StatusNormalClosure, "")
	}
	// One garbage collection over the group's log, nothing of it read by
	// the members who are not connected.
	t0 := time.Now()
	if _, err := stores[0].Collect(ctx, ds.GCOptions{Now: time.Now()}); err != nil {
		return fmt.Errorf("collect: %w", err)
	}
	res.CollectMs = ms(time.Since(t0))
	b, _ := json.Marshal(res)
	fmt.Fprintln(out, string(b))
	return nil
}

func storeName(s string) string {
	if strings.HasPrefix(s, "postgres") {
		return "postgres"
	}
	return "sqlite"
}

// prepare returns the DSN to use: a fresh schema on PostgreSQL (dropped
// by cleanup), the path on SQLite (which must not exist).
func prepare(store string) (string, func(), error) {
	if storeName(store) == "sqlite" {
		path := strings.TrimPrefix(store, "sqlite:")
		if _, err := os.Stat(path); err == nil {
			return "", nil, fmt.Errorf("%s exists: mlsscale wants a new file", path)
		}
		return path, func() {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				os.Remove(path + suffix)
			}
		}, nil
	}
	admin, err := sql.Open("pgx", store)
	if err != nil {
		return "", nil, err
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "mlsscale_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		admin.Close()
		return "", nil, err
	}
	u, err := url.Parse(store)
	if err != nil {
		admin.Close()
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), func() {
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	}, nil
}

func open(ctx context.Context, dsn string) (*sqlstore.Store, error) {
	if storeName(dsn) == "postgres" {
		return postgres.Open(ctx, dsn)
	}
	return sqlite.Open(ctx, dsn)
}

func rawDB(dsn string) (*sql.DB, error) {
	if storeName(dsn) == "postgres" {
		return sql.Open("pgx", dsn)
	}
	return sql.Open("sqlite", "file:"+filepath.Clean(dsn)+"?_pragma=busy_timeout(10000)")
}

// ph is the placeholder of argument i for the database of dsn.
func ph(dsn string, i int) string {
	if storeName(dsn) == "postgres" {
		return fmt.Sprintf("$%d", i)
	}
	return "?"
}

// populate writes n clients, all members of group gid, in batches. The
// first connected ones get real identities (they sign requests); the
// others get distinct placeholder keys.
func populate(ctx context.Context, db *sql.DB, dsn string, gid []byte, n, connected int) ([]*member, error) {
	idents := make([]*member, connected)
	for i := range idents {
		id, err := mls.NewBasicIdentity(ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, fmt.Sprint("m", i))
		if err != nil {
			return nil, err
		}
		idents[i] = &member{name: fmt.Sprint("m", i), ident: id}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var joined int64
	if err := tx.QueryRow(`SELECT value FROM log_seq WHERE id = 1`).Scan(&joined); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(`INSERT INTO groups (id, epoch, log_bytes) VALUES (`+ph(dsn, 1)+`, 1, 0)`, gid); err != nil {
		return nil, err
	}
	const batch = 200
	for lo := 0; lo < n; lo += batch {
		hi := min(n, lo+batch)
		var users, clients, members []string
		var ua, ca, ma []any
		for i := lo; i < hi; i++ {
			id := fmt.Sprint("m", i)
			key := []byte("placeholder key " + id)
			if i < connected {
				key = idents[i].ident.SigningKey.PublicKey()
			}
			users = append(users, "("+ph(dsn, len(ua)+1)+", 1)")
			ua = append(ua, id)
			clients = append(clients, fmt.Sprintf("(%s, %s, 1, %s)", ph(dsn, len(ca)+1), ph(dsn, len(ca)+2), ph(dsn, len(ca)+3)))
			ca = append(ca, id, id, key)
			members = append(members, fmt.Sprintf("(%s, %s, %s, %d)", ph(dsn, len(ma)+1), ph(dsn, len(ma)+2), ph(dsn, len(ma)+3), joined))
			ma = append(ma, gid, id, int64(i))
		}
		for _, st := range []struct {
			q    string
			args []any
		}{
			{`INSERT INTO users (name, clients) VALUES ` + strings.Join(users, ", "), ua},
			{`INSERT INTO clients (id, user_name, suite, signature_key) VALUES ` + strings.Join(clients, ", "), ca},
			{`INSERT INTO members (group_id, client_id, leaf, joined) VALUES ` + strings.Join(members, ", "), ma},
		} {
			if _, err := tx.Exec(st.q, st.args...); err != nil {
				return nil, err
			}
		}
	}
	return idents, tx.Commit()
}

// written returns the rows and payload bytes of the message tables.
func written(db *sql.DB) (rows, bytes int64, err error) {
	for _, t := range []string{"group_log", "inbox"} {
		var r, b int64
		if err := db.QueryRow(`SELECT COUNT(*), COALESCE(SUM(size), 0) FROM `+t).Scan(&r, &b); err != nil {
			return 0, 0, err
		}
		rows, bytes = rows+r, bytes+b
	}
	return rows, bytes, nil
}

func queries(stores []*sqlstore.Store) uint64 {
	var n uint64
	for _, s := range stores {
		n += s.Queries()
	}
	return n
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func post(hc *http.Client, base, path string, id *member, body []byte) error {
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	if err := ds.SignRequest(req, id.name, id.ident.SigningKey, body); err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %d %s", path, resp.StatusCode, out)
	}
	return nil
}

func dial(ctx context.Context, base string, id *member, after uint64) (*websocket.Conn, error) {
	path := fmt.Sprintf("/v1/inbox/ws?after=%d", after)
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		return nil, err
	}
	if err := ds.SignRequest(req, id.name, id.ident.SigningKey, nil); err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, strings.Replace(base, "http", "ws", 1)+path, &websocket.DialOptions{HTTPHeader: req.Header})
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(4 << 20)
	return conn, nil
}

// member is a connected member: its client id and identity.
type member struct {
	name  string
	ident *mls.Identity
}

// recorder keeps, per message, when it was sent and when each reader got
// it.
type recorder struct {
	mu      sync.Mutex
	sentAt  []time.Time
	got     [][]time.Duration
	readers int
	counts  []atomic.Int64
}

func newRecorder(n, readers int) *recorder {
	return &recorder{sentAt: make([]time.Time, n), got: make([][]time.Duration, n), readers: readers, counts: make([]atomic.Int64, n)}
}

func (r *recorder) sent(k int) {
	r.mu.Lock()
	r.sentAt[k] = time.Now()
	r.mu.Unlock()
}

func (r *recorder) read(ctx context.Context, conn *websocket.Conn) {
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return
		}
		now := time.Now()
		var in ds.InboxMessage
		var m mls.MLSMessage
		if json.Unmarshal(data, &in) != nil || m.UnmarshalBinary(in.Message) != nil || m.PrivateMessage == nil || len(m.PrivateMessage.Ciphertext) < 8 {
			continue
		}
		k := binary.BigEndian.Uint64(m.PrivateMessage.Ciphertext)
		if k >= uint64(len(r.sentAt)) {
			continue
		}
		r.mu.Lock()
		r.got[k] = append(r.got[k], now.Sub(r.sentAt[k]))
		r.mu.Unlock()
		r.counts[k].Add(1)
	}
}

// wait waits until every reader has message k, or timeout.
func (r *recorder) wait(k int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for r.counts[k].Load() < int64(r.readers) && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
}

// slowest returns the longest delay of message k.
func (r *recorder) slowest(k int) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Max(append([]time.Duration{0}, r.got[k]...))
}

// latencies returns every arrival's delay but those of the first skip
// messages, sorted, and how many arrivals are missing.
func (r *recorder) latencies(skip int) ([]time.Duration, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var all []time.Duration
	lost := 0
	for _, g := range r.got[skip:] {
		all = append(all, g...)
		lost += r.readers - len(g)
	}
	slices.Sort(all)
	return all, lost
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// cpuTime is the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

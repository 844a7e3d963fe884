package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/ds"
	"github.com/arbormls/mls/ds/internal/simclient"
	"github.com/arbormls/mls/ds/postgres"
	"github.com/arbormls/mls/ds/sqlite"
)

const suite = ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519

const (
	defaultWait    = 10 * time.Second
	defaultTimeout = 2 * time.Minute
	// pastEpochs is how many past epochs the simulated members keep
	// (mls.Config.MaxPastEpochs), more than the server's window
	// (ds.DefaultEpochWindow, 3). The server delivers a message before
	// any commit that would leave it beyond its window, but a member's
	// sender commits while its reader has not yet read what came before:
	// its own commits take it further ahead of an unread message than the
	// window. Result.Late counts such messages.
	pastEpochs = 16
)

// config is what a load run does.
type config struct {
	Server      string        // URL of a running mlsd; or
	Store       string        // DSN of a store for a server in this process
	Clients     int           // simulated clients
	Groups      int           // groups; client i is in group i % Groups
	Duration    time.Duration // how long the mixed traffic runs; or
	Messages    int           // how many application messages are sent in all
	CommitRatio float64       // share of a sender's operations that are commits
	Size        int           // application message size, bytes
	Wait        time.Duration // long-poll wait of inbox reads
	Think       time.Duration // mean pause of each sender between operations
	Timeout     time.Duration // bound on setup, and on the drain at the end
}

func (c *config) check() error {
	switch {
	case (c.Server == "") == (c.Store == ""):
		return errors.New("give one of --server and --store")
	case c.Groups < 1 || c.Clients < 2*c.Groups:
		return errors.New("every group needs two clients: --clients must be at least twice --groups")
	case (c.Duration > 0) == (c.Messages > 0):
		return errors.New("give one of --duration and --messages")
	case c.CommitRatio < 0 || c.CommitRatio >= 1:
		return errors.New("--commit-ratio must be in [0, 1)")
	case c.Size < payloadHeader || c.Size > 64<<10:
		return fmt.Errorf("--size must be in [%d, 65536]", payloadHeader)
	case c.Wait <= 0 || c.Timeout <= 0:
		return errors.New("--wait and --timeout must be positive")
	}
	return nil
}

// Result is what a run measured. Times are in milliseconds.
type Result struct {
	Target  string `json:"target"`
	Clients int    `json:"clients"`
	Groups  int    `json:"groups"`
	// SetupSeconds: registration, KeyPackages, group creation, joins.
	SetupSeconds float64 `json:"setup_seconds"`
	// Seconds: the mixed traffic and the drain, until every member had
	// every message; the throughputs are over it.
	Seconds         float64 `json:"seconds"`
	Requests        int64   `json:"requests"`
	RequestsPerSec  float64 `json:"requests_per_sec"`
	Sent            int     `json:"messages_sent"`
	Delivered       int64   `json:"messages_delivered"`
	DeliveredPerSec float64 `json:"messages_delivered_per_sec"`
	// Commits counts the accepted commits after the groups' creation;
	// Conflicts those that lost the race for their epoch.
	Commits   int64 `json:"commits"`
	Conflicts int64 `json:"commit_conflicts"`
	// Stale counts application messages refused (409) because their
	// sender was too many epochs behind; they are sent again.
	Stale int64 `json:"stale_messages"`
	// Late counts application messages that a member read more epochs
	// after their own than the server's window, having committed itself
	// before reading them: with only the default 3 past epochs it could
	// not have decrypted them.
	Late int64 `json:"late_messages"`
	// Errors counts every unexpected answer or failure; FirstErrors
	// holds the first few.
	Errors      int64              `json:"errors"`
	FirstErrors []string           `json:"first_errors,omitempty"`
	Ops         map[string]*OpStat `json:"ops"`
}

// OpStat is the latency of one kind of operation.
type OpStat struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// Operations measured, in the order reports list them. deliver is from
// the sender's post to the receiver's handling of the message.
var opNames = []string{"register", "publish", "claim", "create", "join", "send", "commit", "inbox", "ack", "deliver"}

// stats records latencies and errors from many goroutines.
type stats struct {
	mu     sync.Mutex
	lat    map[string][]time.Duration
	errors atomic.Int64
	first  []string
}

func (s *stats) add(op string, d time.Duration) {
	s.mu.Lock()
	s.lat[op] = append(s.lat[op], d)
	s.mu.Unlock()
}

func (s *stats) fail(err error) {
	if s.errors.Add(1) <= 10 {
		s.mu.Lock()
		s.first = append(s.first, err.Error())
		s.mu.Unlock()
	}
}

func (s *stats) ops() map[string]*OpStat {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]*OpStat{}
	for op, lat := range s.lat {
		slices.Sort(lat)
		// The nearest-rank percentile.
		q := func(p float64) float64 {
			i := max(int(math.Ceil(p*float64(len(lat))))-1, 0)
			return float64(lat[i].Microseconds()) / 1000
		}
		out[op] = &OpStat{Count: len(lat), P50: q(0.50), P95: q(0.95), P99: q(0.99), Max: q(1)}
	}
	return out
}

// countingTransport counts the HTTP requests made.
type countingTransport struct {
	http.RoundTripper
	n atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.RoundTripper.RoundTrip(r)
}

// An application message's content: the sender's index, its number, the
// Unix time of sending in nanoseconds, then padding.
const payloadHeader = 24

// member is one simulated client. The reader goroutine and the sender
// share its MLS state under mu.
type member struct {
	idx, group int
	mu         sync.Mutex
	m          *simclient.Member
	gid        []byte
	joined     chan struct{}
	progress   chan struct{} // closed, and replaced, after each inbox batch
	failed     error         // the reader stopped on this
	recv       map[int]map[uint64]int
	sent       []uint64 // numbers of its accepted messages (sender only)
	quota      int
	rng        *mrand.Rand
}

type run struct {
	cfg     config
	st      *stats
	ct      *countingTransport
	hc      *http.Client
	members []*member
	groups  [][]*member
	// commits counts accepted commits per group.
	commits   []atomic.Int64
	conflicts atomic.Int64
	stale     atomic.Int64
	late      atomic.Int64
}

// Run runs the load of cfg and returns what it measured. It fails only
// when it cannot run at all; what goes wrong during the run is counted in
// Result.Errors.
func Run(ctx context.Context, cfg config, log *slog.Logger) (*Result, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	url, target := cfg.Server, cfg.Server
	if cfg.Store != "" {
		var stop func()
		var err error
		if url, stop, err = startServer(ctx, cfg.Store); err != nil {
			return nil, err
		}
		defer stop()
		target = "in-process server on " + storeName(cfg.Store)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Each client holds a long poll and a post at once; keep them all.
	tr.MaxIdleConnsPerHost = 2*cfg.Clients + 16
	defer tr.CloseIdleConnections()
	ct := &countingTransport{RoundTripper: tr}
	r := &run{cfg: cfg, st: &stats{lat: map[string][]time.Duration{}}, ct: ct,
		hc: &http.Client{Transport: ct, Timeout: cfg.Wait + cfg.Timeout}, commits: make([]atomic.Int64, cfg.Groups)}

	res := &Result{Target: target, Clients: cfg.Clients, Groups: cfg.Groups}
	readCtx, stopReaders := context.WithCancel(ctx)
	var readers sync.WaitGroup
	defer func() { stopReaders(); readers.Wait() }()

	start := time.Now()
	if err := r.setup(ctx, url, readCtx, &readers); err != nil {
		return nil, err
	}
	res.SetupSeconds = time.Since(start).Seconds()
	log.Info("setup done", "seconds", res.SetupSeconds)

	reqs0, start := ct.n.Load(), time.Now()
	r.traffic(ctx)
	for _, m := range r.members {
		res.Sent += len(m.sent)
	}
	log.Info("traffic done", "sent", res.Sent, "seconds", time.Since(start).Seconds())
	r.drain(ctx)
	res.Seconds = time.Since(start).Seconds()
	res.Requests = ct.n.Load() - reqs0
	stopReaders()
	readers.Wait()

	res.Delivered = r.verify()
	res.RequestsPerSec = float64(res.Requests) / res.Seconds
	res.DeliveredPerSec = float64(res.Delivered) / res.Seconds
	for i := range r.commits {
		// Not counting the commit that created the group.
		res.Commits += r.commits[i].Load() - 1
	}
	res.Conflicts, res.Stale, res.Late = r.conflicts.Load(), r.stale.Load(), r.late.Load()
	res.Errors, res.FirstErrors, res.Ops = r.st.errors.Load(), r.st.first, r.st.ops()
	return res, nil
}

func storeName(dsn string) string {
	if isPostgres(dsn) {
		return "postgres"
	}
	return "sqlite"
}

func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// startServer serves a Delivery Service on the store of dsn (as mlsd
// reads --store) on a free port of 127.0.0.1.
func startServer(ctx context.Context, dsn string) (string, func(), error) {
	var store interface {
		ds.Store
		Ping(context.Context) error
	}
	var err error
	if isPostgres(dsn) {
		store, err = postgres.Open(ctx, dsn)
	} else {
		store, err = sqlite.Open(ctx, strings.TrimPrefix(dsn, "sqlite:"))
	}
	if err != nil {
		return "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		store.Close()
		return "", nil, err
	}
	srv := ds.NewServer(store, slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelWarn})))
	srv.AllowUnverified = true // the simulated members send PrivateMessage handshakes
	srv.Ready = store.Ping
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(l)
	stop := func() {
		// Shutdown waits for the handlers still running (an ack whose
		// client gave up) before the store closes under them.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
		hs.Close()
		store.Close()
	}
	return "http://" + l.Addr().String(), stop, nil
}

// setup registers the clients, publishes a KeyPackage of each, starts
// their readers, and has the first member of each group create it and add
// the others; it returns once everyone joined.
func (r *run) setup(ctx context.Context, url string, readCtx context.Context, readers *sync.WaitGroup) error {
	cfg := r.cfg
	var tag [4]byte
	rand.Read(tag[:])
	run := hex.EncodeToString(tag[:]) // client ids unique to this run
	r.groups = make([][]*member, cfg.Groups)
	for i := range cfg.Clients {
		id := fmt.Sprintf("load-%s-%d", run, i)
		c, err := simclient.NewClient(url, r.hc, id, id, suite)
		if err != nil {
			return err
		}
		m := &member{idx: i, group: i % cfg.Groups, m: simclient.NewMember(c, &mls.Config{MaxPastEpochs: pastEpochs}), joined: make(chan struct{}),
			progress: make(chan struct{}), recv: map[int]map[uint64]int{}, rng: mrand.New(mrand.NewPCG(uint64(i), 1))}
		if cfg.Messages > 0 {
			m.quota = cfg.Messages / cfg.Clients
			if i < cfg.Messages%cfg.Clients {
				m.quota++
			}
		}
		r.members = append(r.members, m)
		r.groups[m.group] = append(r.groups[m.group], m)
	}
	setupCtx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if err := r.parallel(setupCtx, r.members, func(m *member) error {
		t := time.Now()
		if err := m.m.Register(setupCtx); err != nil {
			return err
		}
		r.st.add("register", time.Since(t))
		t = time.Now()
		if _, err := m.m.Publish(setupCtx, 1, false); err != nil {
			return err
		}
		r.st.add("publish", time.Since(t))
		return nil
	}); err != nil {
		return fmt.Errorf("registering: %w", err)
	}
	for _, m := range r.members {
		readers.Go(func() { r.read(readCtx, m) })
	}
	creators := make([]*member, cfg.Groups)
	for g := range creators {
		creators[g] = r.groups[g][0]
	}
	if err := r.parallel(setupCtx, creators, func(m *member) error { return r.create(setupCtx, m) }); err != nil {
		return fmt.Errorf("creating the groups: %w", err)
	}
	for _, m := range r.members {
		select {
		case <-m.joined:
		case <-setupCtx.Done():
			return fmt.Errorf("%s did not join its group: %v", m.m.ID, m.err())
		}
	}
	return nil
}

// parallel runs f for each member, at most 16 at once, and returns the
// first error.
func (r *run) parallel(ctx context.Context, ms []*member, f func(*member) error) error {
	sem := make(chan struct{}, 16)
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for _, m := range ms {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := f(m); err != nil {
				once.Do(func() { first = err })
			}
		})
	}
	wg.Wait()
	return first
}

// create has m create its group and add the other members.
func (r *run) create(ctx context.Context, m *member) error {
	var adds []*mls.KeyPackage
	for _, o := range r.groups[m.group][1:] {
		t := time.Now()
		kps, err := m.m.Claim(ctx, o.m.User)
		if err != nil {
			return err
		}
		r.st.add("claim", time.Since(t))
		if len(kps) != 1 {
			return fmt.Errorf("claim of %s returned %d KeyPackages", o.m.User, len(kps))
		}
		var msg mls.MLSMessage
		if err := msg.UnmarshalBinary(kps[0].KeyPackage); err != nil || msg.KeyPackage == nil {
			return fmt.Errorf("claimed data is not a KeyPackage: %v", err)
		}
		adds = append(adds, msg.KeyPackage)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	g, err := m.m.Create()
	if err != nil {
		return err
	}
	m.gid = g.GroupID()
	t := time.Now()
	bundle, err := m.m.PrepareCommit(m.gid, mls.CommitOptions{Add: adds, GroupInfo: true})
	if err != nil {
		return err
	}
	if _, err := m.m.PostCommit(ctx, m.gid, bundle); err != nil {
		return err
	}
	r.st.add("create", time.Since(t))
	r.commits[m.group].Add(1)
	close(m.joined)
	return nil
}

func (m *member) err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.failed
}

// read is a member's inbox loop: long-poll, handle what came, ack it.
// It stops when ctx ends or a message cannot be handled (the member's
// state is then behind for good).
func (r *run) read(ctx context.Context, m *member) {
	for ctx.Err() == nil {
		t := time.Now()
		msgs, err := m.m.Inbox(ctx, m.m.Last, r.cfg.Wait)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			r.st.fail(err)
			// Do not spin against a server that fails.
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		r.st.add("inbox", time.Since(t))
		if len(msgs) == 0 {
			continue
		}
		m.mu.Lock()
		for _, in := range msgs {
			t := time.Now()
			ev, err := m.m.Handle(in)
			if err != nil {
				m.failed = err
				close(m.progress)
				m.mu.Unlock()
				r.st.fail(err)
				return
			}
			switch {
			case ev.Joined:
				m.gid = ev.Group
				r.st.add("join", time.Since(t))
				close(m.joined)
			case ev.Received.Kind == mls.KindApplication:
				if m.m.Group(m.gid).Epoch()-ev.Received.Epoch > ds.DefaultEpochWindow {
					r.late.Add(1)
				}
				if err := m.received(ev.Received.Data); err != nil {
					r.st.fail(err)
				} else {
					sentAt := int64(binary.BigEndian.Uint64(ev.Received.Data[16:]))
					r.st.add("deliver", time.Duration(time.Now().UnixNano()-sentAt))
				}
			}
		}
		close(m.progress)
		m.progress = make(chan struct{})
		m.mu.Unlock()
		// The ack of what was handled goes out even when the run is
		// stopping, as a client would finish it.
		t = time.Now()
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.Timeout)
		err = m.m.Ack(actx, m.m.Last)
		cancel()
		if err != nil {
			r.st.fail(err)
		} else {
			r.st.add("ack", time.Since(t))
		}
	}
}

// received counts an application message; mu is held.
func (m *member) received(data []byte) error {
	if len(data) < payloadHeader {
		return fmt.Errorf("%s: application message of %d bytes", m.m.ID, len(data))
	}
	from := int(binary.BigEndian.Uint64(data))
	n := binary.BigEndian.Uint64(data[8:])
	if m.recv[from] == nil {
		m.recv[from] = map[uint64]int{}
	}
	m.recv[from][n]++
	return nil
}

// traffic runs every member's sender until the duration is over or the
// members sent their share of the messages.
func (r *run) traffic(ctx context.Context) {
	end := time.Now().Add(r.cfg.Duration)
	var wg sync.WaitGroup
	for _, m := range r.members {
		wg.Go(func() {
			over := func() bool {
				return ctx.Err() != nil || m.err() != nil ||
					r.cfg.Messages > 0 && len(m.sent) >= m.quota || r.cfg.Messages == 0 && time.Now().After(end)
			}
			for !over() {
				if r.cfg.Think > 0 {
					// Uniform in [0, 2*Think): clients that started
					// together do not stay in step.
					d := time.Duration(m.rng.Int64N(2 * int64(r.cfg.Think)))
					if r.cfg.Messages == 0 {
						d = min(d, time.Until(end))
					}
					select {
					case <-time.After(d):
					case <-ctx.Done():
					}
					if over() {
						return
					}
				}
				if m.rng.Float64() < r.cfg.CommitRatio {
					r.commit(ctx, m)
				} else {
					r.send(ctx, m)
				}
			}
		})
	}
	wg.Wait()
}

// commit has m commit an update of its path. The member stays locked
// until the answer: its reader must not process the group meanwhile.
func (r *run) commit(ctx context.Context, m *member) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := time.Now()
	bundle, err := m.m.PrepareCommit(m.gid, mls.CommitOptions{Update: true, GroupInfo: true})
	if err != nil {
		r.st.fail(err)
		return
	}
	_, err = m.m.PostCommit(ctx, m.gid, bundle)
	if _, lost := simclient.Conflict(err); lost {
		r.conflicts.Add(1)
		return
	} else if err != nil {
		r.st.fail(err)
		return
	}
	r.st.add("commit", time.Since(t))
	r.commits[m.group].Add(1)
}

// send has m send one application message.
func (r *run) send(ctx context.Context, m *member) {
	n := uint64(len(m.sent))
	data := make([]byte, r.cfg.Size)
	binary.BigEndian.PutUint64(data, uint64(m.idx))
	binary.BigEndian.PutUint64(data[8:], n)
	m.mu.Lock()
	binary.BigEndian.PutUint64(data[16:], uint64(time.Now().UnixNano()))
	msg, err := m.m.Protect(m.gid, data)
	m.mu.Unlock()
	if err != nil {
		r.st.fail(err)
		return
	}
	t := time.Now()
	_, err = m.m.PostMessage(ctx, m.gid, msg)
	if _, stale := simclient.Conflict(err); stale {
		// Too many epochs behind: its reader catches up meanwhile, and
		// the message goes again under the same number.
		r.stale.Add(1)
		return
	} else if err != nil {
		r.st.fail(err)
		return
	}
	r.st.add("send", time.Since(t))
	m.sent = append(m.sent, n)
}

// done reports whether m handled every message the others of its group
// sent and every commit of the group; mu is held.
func (r *run) done(m *member) bool {
	for _, o := range r.groups[m.group] {
		if o != m && len(m.recv[o.idx]) < len(o.sent) {
			return false
		}
	}
	g := m.m.Group(m.gid)
	return g != nil && g.Epoch() == uint64(r.commits[m.group].Load())
}

// drain waits, up to the timeout, until every member handled everything
// sent to it.
func (r *run) drain(ctx context.Context) {
	deadline := time.NewTimer(r.cfg.Timeout)
	defer deadline.Stop()
	for _, m := range r.members {
		for {
			m.mu.Lock()
			ok, failed, progress := r.done(m), m.failed, m.progress
			m.mu.Unlock()
			if ok || failed != nil {
				break
			}
			select {
			case <-progress:
				continue
			case <-deadline.C:
			case <-ctx.Done():
			}
			r.st.fail(fmt.Errorf("%s: not everything arrived within %v", m.m.ID, r.cfg.Timeout))
			return
		}
	}
}

// verify checks every member received each message of the others of its
// group exactly once, and nothing else, and that the members of each
// group agree on its epoch and epoch authenticator. It returns the
// number of messages received.
func (r *run) verify() int64 {
	var delivered int64
	for _, grp := range r.groups {
		var auth []byte
		for _, m := range grp {
			m.mu.Lock()
			for _, o := range grp {
				if o == m {
					continue
				}
				got := m.recv[o.idx]
				for _, n := range o.sent {
					if c := got[n]; c != 1 {
						r.st.fail(fmt.Errorf("%s received message %d of %s %d times", m.m.ID, n, o.m.ID, c))
					}
				}
				for n, c := range got {
					delivered += int64(c)
					if n >= uint64(len(o.sent)) {
						r.st.fail(fmt.Errorf("%s received message %d of %s, which was not accepted", m.m.ID, n, o.m.ID))
					}
				}
			}
			if len(m.recv[m.idx]) > 0 {
				r.st.fail(fmt.Errorf("%s received its own messages", m.m.ID))
			}
			if g := m.m.Group(m.gid); g == nil {
				r.st.fail(fmt.Errorf("%s is in no group", m.m.ID))
			} else if auth == nil {
				auth = g.EpochAuthenticator()
			} else if !bytes.Equal(auth, g.EpochAuthenticator()) {
				r.st.fail(fmt.Errorf("%s disagrees with %s on the group's epoch authenticator (epoch %d)", m.m.ID, grp[0].m.ID, g.Epoch()))
			}
			m.mu.Unlock()
		}
	}
	return delivered
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/cmd/mls/internal/benchline"
)

// benchOps are the operations of mls bench, in the order they run.
var benchOps = benchline.Ops

// benchResult is one output line of mls bench.
type benchResult = benchline.Result

const benchUsage = `usage: mls bench [--suite N] [--members LIST] [--shape full|sparse|both] [--ops LIST] [--runs K] [--cpuprofile FILE]

Measures group operations on synthesized groups (member 0 commits and
sends, the last member processes) and prints one JSON object per line and
operation: op, suite, members, shape, runs, median_ns, min_ns, max_ns and
bytes, the wire size of what the operation produces (0 where nothing).

  primitives the suite's primitive costs on one core, measured once per run
             (lines prim-x25519, prim-sign, prim-verify, prim-seal, prim-open,
             prim-hash, prim-expand, prim-aead; members 0): the lower bounds
             of benchreport are computed from them
  join       a new member joins from a Welcome, tree out of band, fully validated
  join-batch the same with Config.BatchVerifyTree: leaf signatures checked in
             Ed25519 batches (an explicit option: see its documentation)
  commit     an empty commit with a path
  process    the last member processes that commit (on a copy loaded from its state)
  add        a commit adding one member (bytes: commit plus Welcome)
  add1000    a commit adding 1,000 members (bytes: commit plus Welcome)
  remove     a commit removing one member
  protect    a 1 KiB application message sent (at least 50 runs)
  unprotect  that message processed (at least 50 runs)
  state      no timing; bytes: the committer's serialized group state
  memory     no timing; bytes: live heap of a group loaded from that state
  persist-message
             a message sent and received, then sender and receiver saved to a
             record store (mls.GroupRecordStore, in memory): the time of the
             sender's save; bytes: the most either save wrote (keys and values)
  persist-commit
             the same for a commit (an empty one with a path) merged and processed

Setup is not timed; commits are discarded after each run, so every run
starts from the same state. Full shape: every parent set; sparse: blank
parents. --cpuprofile covers setup too. Defaults: --suite 1 --members
1000,10000,50000 --shape full --runs 5 and every operation, about half a
minute on two cores (sparse 50,000 adds a minute and a half).
`

// cmdBench runs mls bench with args, writing results to out.
func cmdBench(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	suiteID := fs.Uint("suite", 1, "cipher suite")
	membersList := fs.String("members", "1000,10000,50000", "group sizes")
	shape := fs.String("shape", "full", "full, sparse or both")
	opsList := fs.String("ops", strings.Join(benchOps, ","), "operations")
	runs := fs.Int("runs", 5, "timed runs per operation")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the timed operations to FILE")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		_, err = io.WriteString(out, benchUsage)
		return err
	} else if err != nil {
		return fmt.Errorf("%v\n%s", err, benchUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q\n%s", fs.Arg(0), benchUsage)
	}
	if *suiteID > 0xffff {
		return fmt.Errorf("no cipher suite %d", *suiteID)
	}
	suite, err := ciphersuite.Lookup(ciphersuite.ID(*suiteID))
	if err != nil {
		return err
	}
	var sizes []int
	for f := range strings.SplitSeq(*membersList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 {
			return fmt.Errorf("bad group size %q: need a number of at least 2", f)
		}
		sizes = append(sizes, n)
	}
	var shapes []string
	switch *shape {
	case "full", "sparse":
		shapes = []string{*shape}
	case "both":
		shapes = []string{"full", "sparse"}
	default:
		return fmt.Errorf("bad shape %q: full, sparse or both", *shape)
	}
	ops := make(map[string]bool)
	for f := range strings.SplitSeq(*opsList, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(benchOps, f) {
			return fmt.Errorf("unknown operation %q (known: %s)", f, strings.Join(benchOps, " "))
		}
		ops[f] = true
	}
	if *runs < 1 {
		return errors.New("--runs must be at least 1")
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	enc := json.NewEncoder(out)
	if ops["primitives"] {
		if err := benchPrimitives(suite, *runs, enc.Encode); err != nil {
			return fmt.Errorf("primitives: %w", err)
		}
	}
	for _, n := range sizes {
		for _, sh := range shapes {
			b := &bencher{suite: suite, n: n, shape: sh, runs: *runs, emit: enc.Encode}
			if err := b.run(ops); err != nil {
				return fmt.Errorf("%d members, %s: %w", n, sh, err)
			}
		}
	}
	return nil
}

// bencher measures the operations on one synthesized group: member 0
// commits and sends, the last member processes.
type bencher struct {
	suite *ciphersuite.Suite
	n     int
	shape string
	runs  int
	emit  func(any) error

	committer, processor *mls.Group
	processorState       []byte
}

func (b *bencher) run(ops map[string]bool) error {
	groups, err := mls.SynthesizeGroup(b.suite, b.n, mls.SynthOptions{
		Sparse:  b.shape == "sparse",
		Members: []mls.LeafIndex{0, mls.LeafIndex(b.n - 1)},
	}, nil)
	if err != nil {
		return err
	}
	b.committer, b.processor = groups[0], groups[1]
	if b.processorState, err = b.processor.MarshalBinary(); err != nil {
		return err
	}
	for _, op := range benchOps {
		if !ops[op] || op == "primitives" {
			continue
		}
		// Collect the setup's garbage now, not during the timed runs.
		runtime.GC()
		var r *benchResult
		switch op {
		case "join":
			r, err = b.join(nil)
		case "join-batch":
			r, err = b.join(&mls.Config{BatchVerifyTree: true})
		case "commit":
			r, err = b.commitOp(mls.CommitOptions{}, nil)
		case "process":
			r, err = b.process()
		case "add":
			r, err = b.commitOp(mls.CommitOptions{RatchetTreeOutOfBand: true}, b.keyPackages(1))
		case "add1000":
			r, err = b.commitOp(mls.CommitOptions{RatchetTreeOutOfBand: true}, b.keyPackages(1000))
		case "remove":
			r, err = b.commitOp(mls.CommitOptions{Remove: []mls.LeafIndex{mls.LeafIndex(b.n / 2)}}, nil)
		case "protect", "unprotect":
			r, err = b.protect(op == "unprotect")
		case "state":
			r, err = b.state()
		case "memory":
			r, err = b.memory()
		case "persist-message":
			r, err = b.persist(false)
		case "persist-commit":
			r, err = b.persist(true)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		r.Op, r.Suite, r.Members, r.Shape = op, int(b.suite.ID()), b.n, b.shape
		if err := b.emit(r); err != nil {
			return err
		}
	}
	return nil
}

// minMessageRuns is the fewest runs of protect and unprotect.
const minMessageRuns = 50

// timings summarizes the durations of the runs.
func timings(ds []time.Duration, bytes int) *benchResult {
	slices.Sort(ds)
	return &benchResult{
		Runs:     len(ds),
		MedianNs: int64(ds[len(ds)/2]),
		MinNs:    int64(ds[0]),
		MaxNs:    int64(ds[len(ds)-1]),
		Bytes:    bytes,
	}
}

// keyPackages returns a function making k fresh KeyPackages of new
// identities per run.
func (b *bencher) keyPackages(k int) func() ([]*mls.KeyPackage, error) {
	return func() ([]*mls.KeyPackage, error) {
		kps := make([]*mls.KeyPackage, k)
		for i := range kps {
			id, err := mls.NewBasicIdentity(b.suite.ID(), fmt.Sprintf("joiner %d", i))
			if err != nil {
				return nil, err
			}
			kb, err := mls.NewKeyPackage(id, nil)
			if err != nil {
				return nil, err
			}
			kps[i] = kb.KeyPackage
		}
		return kps, nil
	}
}

// commitOp times the committer's Commit with opts, plus the KeyPackages
// that adds makes fresh for each run (not timed). The commit is discarded
// after each run, which leaves the group as it was.
func (b *bencher) commitOp(opts mls.CommitOptions, adds func() ([]*mls.KeyPackage, error)) (*benchResult, error) {
	ds := make([]time.Duration, b.runs)
	size := 0
	for i := range ds {
		if adds != nil {
			kps, err := adds()
			if err != nil {
				return nil, err
			}
			opts.Add = kps
		}
		start := time.Now()
		pc, err := b.committer.Commit(opts)
		ds[i] = time.Since(start)
		if err != nil {
			return nil, err
		}
		if size, err = messageSize(pc.Commit, pc.Welcome); err != nil {
			return nil, err
		}
		if err := b.committer.DiscardPendingCommit(); err != nil {
			return nil, err
		}
	}
	return timings(ds, size), nil
}

// messageSize is the total wire size of the messages (nil ones count 0).
func messageSize(msgs ...*mls.MLSMessage) (int, error) {
	total := 0
	for _, m := range msgs {
		if m == nil {
			continue
		}
		data, err := m.MarshalBinary()
		if err != nil {
			return 0, err
		}
		total += len(data)
	}
	return total, nil
}

// join times a new member's Join from a Welcome whose ratchet tree comes
// out of band, with the full validation of the tree. Each run has a fresh
// KeyPackage and Welcome. cfg is the joiner's configuration.
func (b *bencher) join(cfg *mls.Config) (*benchResult, error) {
	ds := make([]time.Duration, b.runs)
	size := 0
	for i := range ds {
		id, err := mls.NewBasicIdentity(b.suite.ID(), "joiner")
		if err != nil {
			return nil, err
		}
		kb, err := mls.NewKeyPackage(id, nil)
		if err != nil {
			return nil, err
		}
		pc, err := b.committer.Commit(mls.CommitOptions{Add: []*mls.KeyPackage{kb.KeyPackage}, RatchetTreeOutOfBand: true})
		if err != nil {
			return nil, err
		}
		welcome, tree := pc.Welcome, pc.RatchetTree.Nodes()
		if size, err = messageSize(welcome); err != nil {
			return nil, err
		}
		if err := b.committer.DiscardPendingCommit(); err != nil {
			return nil, err
		}
		start := time.Now()
		g, err := mls.Join(id, welcome, kb, cfg, &mls.JoinOptions{RatchetTree: tree})
		ds[i] = time.Since(start)
		if err != nil {
			return nil, err
		}
		if g.Epoch() != b.committer.Epoch()+1 {
			return nil, fmt.Errorf("joined epoch %d", g.Epoch())
		}
	}
	return timings(ds, size), nil
}

// process times the processor's Process of an empty commit with a path.
// Processing changes the group, so each run has its own copy of the
// processor, all loaded from its state before the first run: a run
// processes in a group that is loaded and settled, as a client's is, not
// in one whose loading just filled the heap and the caches.
func (b *bencher) process() (*benchResult, error) {
	copies := make([]*mls.Group, b.runs)
	for i := range copies {
		p, err := mls.LoadGroup(b.processorState, nil)
		if err != nil {
			return nil, err
		}
		copies[i] = p
	}
	runtime.GC()
	ds := make([]time.Duration, b.runs)
	size := 0
	for i, p := range copies {
		pc, err := b.committer.Commit(mls.CommitOptions{})
		if err != nil {
			return nil, err
		}
		if size, err = messageSize(pc.Commit); err != nil {
			return nil, err
		}
		start := time.Now()
		_, err = p.Process(pc.Commit)
		ds[i] = time.Since(start)
		if err != nil {
			return nil, err
		}
		if err := b.committer.DiscardPendingCommit(); err != nil {
			return nil, err
		}
		copies[i] = nil
	}
	return timings(ds, size), nil
}

// protect times the committer's Send of a 1 KiB application message, or
// (unprotect) the processor's Process of it.
func (b *bencher) protect(unprotect bool) (*benchResult, error) {
	// A message costs microseconds: at least 50 runs, so that one
	// scheduling hiccup does not make the median.
	ds := make([]time.Duration, max(b.runs, minMessageRuns))
	size := 0
	data := make([]byte, 1024)
	for i := range ds {
		start := time.Now()
		msg, err := b.committer.Send(data)
		d := time.Since(start)
		if err != nil {
			return nil, err
		}
		if size, err = messageSize(msg); err != nil {
			return nil, err
		}
		start = time.Now()
		rcv, err := b.processor.Process(msg)
		if unprotect {
			d, size = time.Since(start), 0
		}
		if err != nil {
			return nil, err
		}
		if len(rcv.Data) != len(data) {
			return nil, errors.New("application data changed")
		}
		ds[i] = d
	}
	return timings(ds, size), nil
}

// state reports the size of the committer's serialized group state.
func (b *bencher) state() (*benchResult, error) {
	data, err := b.committer.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return &benchResult{Bytes: len(data)}, nil
}

// memory reports the heap a group loaded from its state holds: the live
// heap after collections, with and without the loaded group. Two
// collections empty the sync.Pool caches, which survive one.
func (b *bencher) memory() (*benchResult, error) {
	data, err := b.committer.MarshalBinary()
	if err != nil {
		return nil, err
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	g, err := mls.LoadGroup(data, nil)
	if err != nil {
		return nil, err
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(g)
	runtime.KeepAlive(data)
	used := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	return &benchResult{Bytes: int(max(used, 0))}, nil
}

// countingStore is a record store in memory that counts what the last
// batch wrote.
type countingStore struct {
	*mls.MemoryStorage
	last int
}

func (c *countingStore) UpdateGroupRecords(ctx context.Context, groupID []byte, batch *mls.GroupRecordBatch) error {
	c.last = batch.Size()
	return c.MemoryStorage.UpdateGroupRecords(ctx, groupID, batch)
}

// persist times saving the committer, and reports the most bytes a save of
// the committer or the processor wrote, after a message or (commit) a
// commit. Both work on copies loaded from their states, saved once in full
// before the runs, so that the other operations start from the same state.
func (b *bencher) persist(commit bool) (*benchResult, error) {
	ctx := context.Background()
	committerState, err := b.committer.MarshalBinary()
	if err != nil {
		return nil, err
	}
	sender, err := mls.LoadGroup(committerState, nil)
	if err != nil {
		return nil, err
	}
	// The processor as it is now, which read every message the committer
	// sent (protect): loaded from its setup state, it would keep skipped
	// keys for them.
	processorState, err := b.processor.MarshalBinary()
	if err != nil {
		return nil, err
	}
	receiver, err := mls.LoadGroup(processorState, nil)
	if err != nil {
		return nil, err
	}
	ss, rs := &countingStore{MemoryStorage: mls.NewMemoryStorage()}, &countingStore{MemoryStorage: mls.NewMemoryStorage()}
	if err := sender.Save(ctx, ss); err != nil {
		return nil, err
	}
	if err := receiver.Save(ctx, rs); err != nil {
		return nil, err
	}
	runs := b.runs
	if !commit {
		runs = max(runs, minMessageRuns)
	}
	ds := make([]time.Duration, runs)
	size := 0
	data := make([]byte, 1024)
	for i := range ds {
		var msg *mls.MLSMessage
		if commit {
			pc, err := sender.Commit(mls.CommitOptions{})
			if err != nil {
				return nil, err
			}
			if _, err := sender.MergePendingCommit(); err != nil {
				return nil, err
			}
			msg = pc.Commit
		} else if msg, err = sender.Send(data); err != nil {
			return nil, err
		}
		if _, err := receiver.Process(msg); err != nil {
			return nil, err
		}
		start := time.Now()
		err := sender.Save(ctx, ss)
		ds[i] = time.Since(start)
		if err != nil {
			return nil, err
		}
		if err := receiver.Save(ctx, rs); err != nil {
			return nil, err
		}
		size = max(size, ss.last, rs.last)
	}
	return timings(ds, size), nil
}

// benchPrimitives times the suite's primitives on one core, per call over
// at least 10 batches of about 10 ms, and emits one line per primitive. They are what the
// lower bounds of cmd/mls/bench/benchreport are made of, measured in the
// same run as the operations, so that the ratios do not depend on how
// fast the machine is that day.
func benchPrimitives(suite *ciphersuite.Suite, runs int, emit func(any) error) error {
	sk, err := suite.GenerateSigningKey()
	if err != nil {
		return err
	}
	priv, pub, err := suite.GenerateHPKEKeyPair()
	if err != nil {
		return err
	}
	small := make([]byte, 100)
	sig, err := suite.SignWithLabel(sk, "LeafNodeTBS", small)
	if err != nil {
		return err
	}
	kemOut, ct, err := suite.EncryptWithLabel(pub, "Welcome", small, small[:32])
	if err != nil {
		return err
	}
	key := make([]byte, suite.AEADKeySize())
	nonce := make([]byte, suite.AEADNonceSize())
	kib := make([]byte, 1024)
	secret := make([]byte, suite.HashSize())
	prims := []struct {
		name string
		f    func() error
	}{
		{"x25519", func() error { _, _, err := suite.GenerateHPKEKeyPair(); return err }},
		{"sign", func() error { _, err := suite.SignWithLabel(sk, "LeafNodeTBS", small); return err }},
		{"verify", func() error { return suite.VerifyWithLabel(sk.PublicKey(), "LeafNodeTBS", small, sig) }},
		{"seal", func() error { _, _, err := suite.EncryptWithLabel(pub, "Welcome", small, small[:32]); return err }},
		{"open", func() error { _, err := suite.DecryptWithLabel(priv, "Welcome", small, kemOut, ct); return err }},
		{"hash", func() error { suite.Hash(small); return nil }},
		{"expand", func() error { _, err := suite.ExpandWithLabel(secret, "key", nil, 16); return err }},
		{"aead", func() error { _, err := suite.Seal(key, nonce, nil, kib); return err }},
	}
	for _, p := range prims {
		// Calibrate: enough calls for about 10 ms a batch.
		calls := 1
		for {
			start := time.Now()
			for range calls {
				if err := p.f(); err != nil {
					return fmt.Errorf("%s: %w", p.name, err)
				}
			}
			if time.Since(start) > 10*time.Millisecond || calls >= 1<<20 {
				break
			}
			calls *= 4
		}
		// At least 10 batches: the lower bounds take the fastest one.
		ds := make([]time.Duration, max(runs, 10))
		for i := range ds {
			start := time.Now()
			for range calls {
				p.f()
			}
			ds[i] = time.Since(start) / time.Duration(calls)
		}
		r := timings(ds, 0)
		r.Op, r.Suite = benchline.PrimPrefix+p.name, int(suite.ID())
		if err := emit(r); err != nil {
			return err
		}
	}
	return nil
}

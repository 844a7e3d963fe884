package ds_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ds"
	"github.com/arbormls/mls/ds/internal/simclient"
	"github.com/arbormls/mls/ds/storetest"
)

func TestCrashSQLite(t *testing.T) { crashTest(t, filepath.Join(t.TempDir(), "ds.db")) }

func TestCrashPostgres(t *testing.T) { crashTest(t, storetest.PostgresDSN(t)) }

// Outcomes of a request as its sender saw it.
const (
	accepted = iota + 1 // a 2xx answer
	refused             // another answer (a 409 for a lost commit)
	noAnswer            // the server died first
)

// sentMsg is one commit or application message a member posted.
type sentMsg struct {
	from, group int
	commit      bool
	data        []byte // the MLSMessage posted
	plain       []byte // an application message's content
	outcome     int
	won         bool // for a commit without answer: Resolve found it accepted
}

// crashRun is the state of one crash test.
type crashRun struct {
	t       *testing.T
	members []*simclient.Member
	groups  [][]int  // member indices of each group
	gids    [][]byte // group ids
	mu      sync.Mutex
	sent    []*sentMsg
	events  [][]*simclient.Event // every inbox message each member handled
	pending []map[int][]byte     // per member: group -> bundle of a commit without answer
}

// crashTest runs a burst of commits and application messages from six
// members of three overlapping groups through an mlsd process, kills the
// server with SIGKILL in the middle of it, restarts it on the same store
// and goes on. Then: every accepted request reached each of its recipients
// exactly once, in one order for all; a request without answer reached
// all of them or none; the members that sent a commit without answer find
// out from their inbox whether it won; everyone processes everything and
// the members of each group agree.
func crashTest(t *testing.T, store string) {
	p := startMlsd(t, store)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Timeout: 20 * time.Second, Transport: tr}
	ctx := context.Background()

	const nMembers = 6
	r := &crashRun{t: t, groups: [][]int{{0, 1, 2, 3}, {2, 3, 4, 5}, {4, 5, 0, 1}}}
	for i := range nMembers {
		c := newSimClient(t, hc, p.URL(), fmt.Sprint("m", i), fmt.Sprint("user", i))
		if _, err := c.Publish(ctx, 2, false); err != nil {
			t.Fatal(err)
		}
		// More past epochs than the server's window of 3: a member that
		// commits before reading what its inbox holds moves further ahead
		// of those messages than the window (ds/README.md, known limits).
		// That is not what this test is about.
		r.members = append(r.members, simclient.NewMember(c, &mls.Config{MaxPastEpochs: 16}))
		r.pending = append(r.pending, map[int][]byte{})
	}
	r.events = make([][]*simclient.Event, nMembers)
	for _, g := range r.groups {
		ms := make([]*simclient.Member, len(g))
		for i, m := range g {
			ms[i] = r.members[m]
		}
		r.gids = append(r.gids, makeGroup(t, ms))
	}

	// Phase 1: the burst, killed once 40 requests got an answer. Each
	// member stops at its first request without answer.
	var answered atomic.Int32
	var killed atomic.Bool
	r.burst(20, func() {
		if answered.Add(1) == 40 {
			p.Kill()
			killed.Store(true)
		}
	})
	if !killed.Load() {
		t.Fatal("the burst ended before the server was killed")
	}

	// Phase 2: restart, settle commits without answer from the inbox,
	// go on with a shorter burst that is not interrupted.
	p.Restart()
	tr.CloseIdleConnections()
	for _, m := range r.members {
		m.URL = p.URL()
	}
	unknown := 0
	var wg sync.WaitGroup
	for i, m := range r.members {
		unknown += len(r.pending[i])
		wg.Go(func() {
			for gi, bundle := range r.pending[i] {
				won, evs, err := m.Resolve(ctx, r.gids[gi], bundle)
				r.record(i, evs)
				if err != nil {
					t.Errorf("%s: resolving its commit: %v", m.ID, err)
					return
				}
				var b ds.CommitBundle
				json.Unmarshal(bundle, &b)
				r.mu.Lock()
				for _, s := range r.sent {
					if s.commit && bytes.Equal(s.data, b.Commit) {
						s.won = won
					}
				}
				r.mu.Unlock()
			}
			clear(r.pending[i])
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	r.burst(8, func() {})
	if t.Failed() {
		t.FailNow()
	}

	// Everything is sent: each member handles the rest of its inbox.
	for i, m := range r.members {
		evs, err := m.Drain(ctx)
		r.record(i, evs)
		if err != nil {
			t.Fatal(err)
		}
	}
	r.check(ctx)
	if errs := p.errorLines(); len(errs) > 0 {
		t.Errorf("server logged errors:\n%s", strings.Join(errs, "\n"))
	}
	counts := map[int]int{}
	won := 0
	for _, s := range r.sent {
		counts[s.outcome]++
		if s.won {
			won++
		}
	}
	t.Logf("%d requests: %d accepted, %d refused, %d without answer, of which %d commits, %d found accepted",
		len(r.sent), counts[accepted], counts[refused], counts[noAnswer], unknown, won)
}

// record appends member i's handled inbox messages.
func (r *crashRun) record(i int, evs []*simclient.Event) {
	r.mu.Lock()
	r.events[i] = append(r.events[i], evs...)
	r.mu.Unlock()
}

// burst has every member do up to ops operations at once: handle its
// inbox and ack it, then post a commit (one time in four) or an
// application message to one of its groups. A member stops at its first
// request without answer; answered is called after each answered post.
func (r *crashRun) burst(ops int, answered func()) {
	var wg sync.WaitGroup
	for i := range r.members {
		wg.Go(func() { r.work(i, ops, answered) })
	}
	wg.Wait()
}

func (r *crashRun) work(i, ops int, answered func()) {
	t, m, ctx := r.t, r.members[i], context.Background()
	rng := rand.New(rand.NewPCG(uint64(i), uint64(ops)))
	var mine []int
	for gi, g := range r.groups {
		if slices.Contains(g, i) {
			mine = append(mine, gi)
		}
	}
	for k := range ops {
		evs, err := m.Drain(ctx)
		r.record(i, evs)
		if !simclient.Answered(err) {
			return
		} else if err != nil {
			t.Error(err)
			return
		}
		if len(evs) > 0 {
			if err := m.Ack(ctx, m.Last); !simclient.Answered(err) {
				return
			} else if err != nil {
				t.Error(err)
				return
			}
		}
		gi := mine[rng.IntN(len(mine))]
		gid := r.gids[gi]
		s := &sentMsg{from: i, group: gi, commit: rng.IntN(4) == 0}
		if s.commit {
			bundle, err := m.PrepareCommit(gid, mls.CommitOptions{Update: true, GroupInfo: true})
			if err != nil {
				t.Error(err)
				return
			}
			var b ds.CommitBundle
			json.Unmarshal(bundle, &b)
			s.data = b.Commit
			_, err = m.PostCommit(ctx, gid, bundle)
			if !simclient.Answered(err) {
				r.pending[i][gi] = bundle
			}
			s.outcome = outcome(err)
			if _, lost := simclient.Conflict(err); err != nil && !lost && simclient.Answered(err) {
				t.Errorf("%s: commit: %v", m.ID, err)
			}
		} else {
			s.plain = fmt.Appendf(nil, "%s message %d of burst %d", m.ID, k, ops)
			if s.data, err = m.Protect(gid, s.plain); err != nil {
				t.Error(err)
				return
			}
			_, err = m.PostMessage(ctx, gid, s.data)
			s.outcome = outcome(err)
			// A 409 says the member is too many epochs behind: it
			// catches up before its next post.
			if _, behind := simclient.Conflict(err); err != nil && !behind && simclient.Answered(err) {
				t.Errorf("%s: message: %v", m.ID, err)
			}
		}
		r.mu.Lock()
		r.sent = append(r.sent, s)
		r.mu.Unlock()
		if s.outcome == noAnswer {
			return
		}
		answered()
	}
}

func outcome(err error) int {
	switch {
	case err == nil:
		return accepted
	case simclient.Answered(err):
		return refused
	}
	return noAnswer
}

// check asserts what the crash test promises; see crashTest.
func (r *crashRun) check(ctx context.Context) {
	t := r.t
	bySum := map[[32]byte]int{} // sent index by message hash
	for k, s := range r.sent {
		bySum[sha256.Sum256(s.data)] = k
	}
	// got[k][member] counts member's receipts of sent[k]; order[member][group]
	// lists the sent indices in the order the member received them.
	got := make([]map[int]int, len(r.sent))
	for k := range got {
		got[k] = map[int]int{}
	}
	order := make([]map[int][]int, len(r.members))
	for i, evs := range r.events {
		order[i] = map[int][]int{}
		for _, ev := range evs {
			if ev.Joined {
				continue
			}
			k, ok := bySum[sha256.Sum256(ev.Data)]
			if !ok {
				t.Errorf("%s received a message no one sent", r.members[i].ID)
				continue
			}
			s := r.sent[k]
			got[k][i]++
			order[i][s.group] = append(order[i][s.group], k)
			if !s.commit && !bytes.Equal(ev.Received.Data, s.plain) {
				t.Errorf("%s decrypted %q, %s sent %q", r.members[i].ID, ev.Received.Data, r.members[s.from].ID, s.plain)
			}
		}
	}
	for k, s := range r.sent {
		recipients := len(r.groups[s.group]) - 1
		for i, n := range got[k] {
			if i == s.from || !slices.Contains(r.groups[s.group], i) || n != 1 {
				t.Errorf("sent %d (outcome %d) reached %s %d times", k, s.outcome, r.members[i].ID, n)
			}
		}
		switch {
		case s.outcome == accepted && len(got[k]) != recipients:
			t.Errorf("accepted message %d of %s reached %d of its %d recipients", k, r.members[s.from].ID, len(got[k]), recipients)
		case s.outcome == refused && len(got[k]) != 0:
			t.Errorf("refused message %d of %s reached %d recipients", k, r.members[s.from].ID, len(got[k]))
		case s.outcome == noAnswer && len(got[k]) != 0 && len(got[k]) != recipients:
			t.Errorf("message %d of %s without answer reached %d of its %d recipients: half done", k, r.members[s.from].ID, len(got[k]), recipients)
		case s.outcome == noAnswer && s.commit && s.won != (len(got[k]) == recipients):
			t.Errorf("%s's commit without answer: resolved as won=%v, delivered to %d of %d", r.members[s.from].ID, s.won, len(got[k]), recipients)
		}
	}
	// One order per group: any two members received the messages they
	// share in the same order, and each sender's messages in the order
	// it sent them (sent indices grow with the sender's posts).
	for gi, g := range r.groups {
		for _, a := range g {
			for _, b := range g {
				common := func(x, y []int) []int {
					return slices.DeleteFunc(slices.Clone(x), func(k int) bool { return !slices.Contains(y, k) })
				}
				if oa, ob := order[a][gi], order[b][gi]; !slices.Equal(common(oa, ob), common(ob, oa)) {
					t.Errorf("group %d: %s and %s received messages in different orders", gi, r.members[a].ID, r.members[b].ID)
				}
			}
			last := map[int]int{}
			for _, k := range order[a][gi] {
				if prev, ok := last[r.sent[k].from]; ok && prev > k {
					t.Errorf("group %d: %s received %s's messages out of their order", gi, r.members[a].ID, r.members[r.sent[k].from].ID)
				}
				last[r.sent[k].from] = k
			}
		}
		// The members agree with each other and with the server's
		// latest GroupInfo.
		first := r.members[g[0]].Group(r.gids[gi])
		for _, i := range g {
			gr := r.members[i].Group(r.gids[gi])
			if gr.HasPendingCommit() || gr.Epoch() != first.Epoch() || !bytes.Equal(gr.EpochAuthenticator(), first.EpochAuthenticator()) {
				t.Errorf("group %d: %s in epoch %d (pending %v), %s in epoch %d, or their authenticators differ",
					gi, r.members[i].ID, gr.Epoch(), gr.HasPendingCommit(), r.members[g[0]].ID, first.Epoch())
			}
		}
		gi2, err := r.members[g[0]].GroupInfo(ctx, r.gids[gi])
		if err != nil {
			t.Fatal(err)
		}
		if e := gi2.GroupInfo.GroupContext.Epoch; e != first.Epoch() {
			t.Errorf("group %d: the server's GroupInfo is of epoch %d, the members are in %d", gi, e, first.Epoch())
		}
	}
}

package simclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ds"
)

// Member is a client with its MLS groups and its place in its inbox.
type Member struct {
	*Client
	// Config is the policy of the groups it creates or joins (nil: the
	// defaults).
	Config *mls.Config
	// Groups holds its groups by group id.
	Groups map[string]*mls.Group
	// Last is the sequence number of the last inbox message handled.
	Last uint64
}

// NewMember wraps c.
func NewMember(c *Client, cfg *mls.Config) *Member {
	return &Member{Client: c, Config: cfg, Groups: map[string]*mls.Group{}}
}

// Group returns the member's group with id, or nil.
func (m *Member) Group(id []byte) *mls.Group { return m.Groups[string(id)] }

// Event is what Handle made of one inbox message.
type Event struct {
	Seq   uint64
	Data  []byte // the message as delivered
	Group []byte
	// Joined is set for a Welcome the member joined by.
	Joined bool
	// Received is what the group made of a handshake or application
	// message.
	Received *mls.Received
	// Merged is set when the message showed that the member's own
	// pending commit had been accepted, and Handle merged it first.
	Merged bool
}

// Framing returns the group and epoch of a handshake or application
// message.
func Framing(m *mls.MLSMessage) (group []byte, epoch uint64, ok bool) {
	switch {
	case m.PublicMessage != nil:
		return m.PublicMessage.Content.GroupID, m.PublicMessage.Content.Epoch, true
	case m.PrivateMessage != nil:
		return m.PrivateMessage.GroupID, m.PrivateMessage.Epoch, true
	}
	return nil, 0, false
}

// Handle handles the next message of the inbox: a Welcome is joined,
// anything else is processed by its group. The server numbers what a
// client reads in strictly increasing order (ds/README.md; numbers are
// shared by every group and inbox, so they have gaps), so a repeat or a
// step back is an error; the load and crash tests count that every
// message arrives exactly once.
//
// A message of the epoch after the group's, while the member has a
// pending commit, proves that commit was accepted: the server delivers a
// group's commits to every other member in epoch order, so a winning
// commit of another member would have come first. Handle then merges the
// pending commit before processing the message.
func (m *Member) Handle(in ds.InboxMessage) (*Event, error) {
	if in.Seq <= m.Last {
		return nil, fmt.Errorf("%s: inbox message %d after %d: sequence numbers must grow", m.ID, in.Seq, m.Last)
	}
	ev := &Event{Seq: in.Seq, Data: in.Message}
	var msg mls.MLSMessage
	if err := msg.UnmarshalBinary(in.Message); err != nil {
		return nil, fmt.Errorf("%s: inbox message %d: %w", m.ID, in.Seq, err)
	}
	if msg.Welcome != nil {
		var kb *mls.KeyPackageBundle
		for _, s := range msg.Welcome.Secrets {
			if kb = m.KeyPackageBundle(s.NewMember); kb != nil {
				break
			}
		}
		if kb == nil {
			return nil, fmt.Errorf("%s: inbox message %d: a Welcome for none of its KeyPackages", m.ID, in.Seq)
		}
		g, err := mls.Join(m.Ident, &msg, kb, m.Config, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: joining from message %d: %w", m.ID, in.Seq, err)
		}
		m.Groups[string(g.GroupID())] = g
		ev.Group, ev.Joined = g.GroupID(), true
		m.Last = in.Seq
		return ev, nil
	}
	gid, epoch, ok := Framing(&msg)
	if !ok {
		return nil, fmt.Errorf("%s: inbox message %d is neither a Welcome nor a group message", m.ID, in.Seq)
	}
	g := m.Group(gid)
	if g == nil {
		return nil, fmt.Errorf("%s: inbox message %d is for a group it is not in", m.ID, in.Seq)
	}
	ev.Group = gid
	if g.HasPendingCommit() && epoch == g.Epoch()+1 {
		if _, err := g.MergePendingCommit(); err != nil {
			return nil, fmt.Errorf("%s: merging its accepted commit: %w", m.ID, err)
		}
		ev.Merged = true
	}
	r, err := g.Process(&msg)
	if err != nil {
		return nil, fmt.Errorf("%s: processing inbox message %d (epoch %d, group at %d): %w", m.ID, in.Seq, epoch, g.Epoch(), err)
	}
	ev.Received = r
	m.Last = in.Seq
	return ev, nil
}

// Sync reads the inbox once, waiting up to wait for a message, and
// handles what came. It returns the events of the messages handled, up to
// the first error.
func (m *Member) Sync(ctx context.Context, wait time.Duration) ([]*Event, error) {
	msgs, err := m.Inbox(ctx, m.Last, wait)
	if err != nil {
		return nil, err
	}
	evs := make([]*Event, 0, len(msgs))
	for _, in := range msgs {
		ev, err := m.Handle(in)
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// Drain handles the inbox until a read finds it empty.
func (m *Member) Drain(ctx context.Context) ([]*Event, error) {
	var all []*Event
	for {
		evs, err := m.Sync(ctx, 0)
		all = append(all, evs...)
		if err != nil || len(evs) == 0 {
			return all, err
		}
	}
}

// Create creates a group with the member as its only member.
func (m *Member) Create() (*mls.Group, error) {
	g, err := mls.CreateGroup(m.Ident, m.Config, nil)
	if err != nil {
		return nil, err
	}
	m.Groups[string(g.GroupID())] = g
	return g, nil
}

// PrepareCommit creates a commit in group gid and returns the JSON bundle
// to post (ds.CommitBundle); the group keeps it pending.
func (m *Member) PrepareCommit(gid []byte, opts mls.CommitOptions) ([]byte, error) {
	g := m.Group(gid)
	if g == nil {
		return nil, errors.New(m.ID + ": not in the group")
	}
	pc, err := g.Commit(opts)
	if err != nil {
		return nil, err
	}
	var b ds.CommitBundle
	if b.Commit, err = pc.Commit.MarshalBinary(); err != nil {
		return nil, err
	}
	if pc.Welcome != nil {
		if b.Welcome, err = pc.Welcome.MarshalBinary(); err != nil {
			return nil, err
		}
	}
	if pc.GroupInfo != nil {
		if b.GroupInfo, err = pc.GroupInfo.MarshalBinary(); err != nil {
			return nil, err
		}
	}
	return json.Marshal(b)
}

// PostCommit posts the bundle of the group's pending commit: accepted, the
// commit is merged; refused (a 409 when another commit won, or any other
// status), it is discarded and the error returned. Without an answer the
// commit stays pending and the error is returned: Resolve finds out
// whether it was accepted.
func (m *Member) PostCommit(ctx context.Context, gid, bundle []byte) (uint64, error) {
	g := m.Group(gid)
	epoch, err := m.Client.PostCommit(ctx, gid, bundle)
	switch {
	case err == nil:
		if _, err := g.MergePendingCommit(); err != nil {
			return 0, err
		}
		if g.Epoch() != epoch {
			return 0, fmt.Errorf("%s: server accepted the commit into epoch %d, the group is at %d", m.ID, epoch, g.Epoch())
		}
		return epoch, nil
	case Answered(err):
		if derr := g.DiscardPendingCommit(); derr != nil {
			return 0, derr
		}
	}
	return 0, err
}

// Resolve settles a pending commit in group gid whose post got no answer,
// with its bundle: it handles the inbox (another member's winning commit
// discards it; a message of the next epoch merges it), then, if it is
// still pending, posts it again. Accepted now, or refused with a 409
// reporting the epoch after it while the inbox still holds no other
// commit of its epoch, it was ours: it is merged. It reports whether the
// commit is (or was) accepted; the events are those of the messages
// handled.
func (m *Member) Resolve(ctx context.Context, gid, bundle []byte) (bool, []*Event, error) {
	g := m.Group(gid)
	start := g.Epoch()
	evs, err := m.Drain(ctx)
	if err != nil || !g.HasPendingCommit() {
		return won(evs, gid, start), evs, err
	}
	epoch, err := m.Client.PostCommit(ctx, gid, bundle)
	if err == nil {
		_, err = g.MergePendingCommit()
		if err == nil && g.Epoch() != epoch {
			err = fmt.Errorf("%s: server accepted the resent commit into epoch %d, the group is at %d", m.ID, epoch, g.Epoch())
		}
		return true, evs, err
	}
	cur, ok := Conflict(err)
	if !ok {
		return false, evs, err
	}
	// The 409 was answered after the winning commit's transaction, which
	// filled this inbox: read it again.
	more, err := m.Drain(ctx)
	evs = append(evs, more...)
	if err != nil || !g.HasPendingCommit() {
		return won(evs, gid, start), evs, err
	}
	if cur != start+1 {
		return false, evs, fmt.Errorf("%s: resent commit of epoch %d refused at epoch %d, with no other commit of its epoch in the inbox", m.ID, start, cur)
	}
	_, err = g.MergePendingCommit()
	return true, evs, err
}

// won reports whether events show the member's own pending commit, made
// in epoch start of gid, merged rather than another member's commit of
// that epoch processed.
func won(evs []*Event, gid []byte, start uint64) bool {
	for _, ev := range evs {
		if string(ev.Group) != string(gid) || ev.Received == nil {
			continue
		}
		if ev.Merged && ev.Received.Epoch == start+1 {
			return true
		}
		if ev.Received.Kind == mls.KindCommit && ev.Received.Epoch == start {
			return false
		}
	}
	return false
}

// Protect encrypts data for group gid and returns the message to post.
func (m *Member) Protect(gid, data []byte) ([]byte, error) {
	g := m.Group(gid)
	if g == nil {
		return nil, errors.New(m.ID + ": not in the group")
	}
	msg, err := g.Send(data)
	if err != nil {
		return nil, err
	}
	return msg.MarshalBinary()
}

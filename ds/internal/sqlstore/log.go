package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/arbormls/mls/ds"
)

// The delivery model: one copy per message.
//
//   - group_log holds each commit, proposal and application message of a
//     group once, numbered from the store's one counter (log_seq);
//   - a member row says which part of the log a client reads: the entries
//     after joined (the commit that added it) up to left_at (the commit
//     that removed it, which it still reads), but its own;
//   - inbox holds what goes to one client: Welcomes and direct deliveries;
//   - clients.acked is the client's cursor: Ack moves it, reading starts
//     above it, and Collect deletes the log entries every member's cursor
//     passed (and a removed member's row once it read to its end).
//
// A message to a group of 50,000 members is one row, and reading costs
// one indexed range per group of the reader.

// nextSeq takes the next number of the store's counter. Call it as late
// as possible in a transaction: the row stays locked until the commit,
// which is what keeps numbers in commit order.
func (s *Store) nextSeq(ctx context.Context, tx *sql.Tx) (int64, error) {
	var seq int64
	err := s.row(ctx, tx, `UPDATE log_seq SET value = value + 1 WHERE id = 1 RETURNING value`).Scan(&seq)
	return seq, err
}

// AcceptCommit implements ds.Store.
func (s *Store) AcceptCommit(ctx context.Context, c *ds.Commit) (uint64, []string, error) {
	if c.Epoch >= 1<<63-1 {
		return 0, nil, &ds.EpochConflictError{}
	}
	var recipients []string
	err := s.wakeTx(ctx, func(tx *sql.Tx, w *ds.Wake) error {
		recipients = nil // a retried transaction starts again
		// The epoch = expected condition is the whole of the ordering
		// rule: of concurrent commits for one epoch, one updates the row.
		update, args := `UPDATE groups SET epoch = epoch + 1 WHERE id = ? AND epoch = ?`, []any{c.GroupID, int64(c.Epoch)}
		if c.Reset {
			update, args = `UPDATE groups SET epoch = ? WHERE id = ? AND epoch > ?`, []any{int64(c.Epoch) + 1, c.GroupID, int64(c.Epoch)}
		}
		n, err := s.exec(ctx, tx, update, args...)
		if err != nil {
			return err
		}
		created := false
		if n == 0 {
			if c.Epoch == 0 && !c.External {
				// A new group: its creator's first commit. ON CONFLICT
				// waits for a concurrent creator and then does nothing.
				n, err := s.exec(ctx, tx, `INSERT INTO groups (id, epoch, log_bytes) VALUES (?, 1, 0) ON CONFLICT DO NOTHING`, c.GroupID)
				if err != nil {
					return err
				}
				created = n == 1
			}
			if !created {
				var cur int64
				err := s.row(ctx, tx, `SELECT epoch FROM groups WHERE id = ?`, c.GroupID).Scan(&cur)
				if errors.Is(err, sql.ErrNoRows) {
					return ds.ErrNotFound
				} else if err != nil {
					return err
				}
				return &ds.EpochConflictError{Current: uint64(cur)}
			}
		} else if !c.External {
			var m int
			if err := s.row(ctx, tx, `SELECT COUNT(*) FROM members WHERE group_id = ? AND client_id = ? AND left_at IS NULL`, c.GroupID, c.Sender).Scan(&m); err != nil {
				return err
			} else if m == 0 {
				return ds.ErrNotMember
			}
		}
		if c.Welcome != nil && c.Quota.MaxInboxBytes > 0 {
			for _, m := range c.NewMembers {
				var used int64
				if err := s.row(ctx, tx, `SELECT COALESCE(SUM(size), 0) FROM inbox WHERE client_id = ?`, m).Scan(&used); err != nil {
					return err
				}
				if used+int64(len(c.Welcome)) > c.Quota.MaxInboxBytes {
					return fmt.Errorf("%w: the inbox of %s is full", ds.ErrQuota, m)
				}
			}
		}
		seq, err := s.nextSeq(ctx, tx)
		if err != nil {
			return err
		}
		now := time.Now().Unix()
		if !created {
			// The commit, once, for the members of the old epoch (a new
			// group has none but its creator).
			if err := s.appendLog(ctx, tx, c.GroupID, seq, c.Sender, c.Commit, now); err != nil {
				return err
			}
			w.Groups = append(w.Groups, c.GroupID)
		}
		if err := s.updateMembers(ctx, tx, c, seq, created); err != nil {
			return err
		}
		if c.Quota.MaxMembers > 0 {
			var m int
			if err := s.row(ctx, tx, `SELECT COUNT(*) FROM members WHERE group_id = ? AND left_at IS NULL`, c.GroupID).Scan(&m); err != nil {
				return err
			} else if m > c.Quota.MaxMembers {
				return fmt.Errorf("%w (%d members, at most %d)", ds.ErrGroupFull, m, c.Quota.MaxMembers)
			}
		}
		if c.Welcome != nil {
			recipients = append(recipients, c.NewMembers...)
			sort.Strings(recipients)
			recipients = dedup(recipients)
			if err := s.deliverTo(ctx, tx, recipients, seq, c.Welcome, now); err != nil {
				return err
			}
			w.Clients = append(w.Clients, recipients...)
		}
		if c.GroupInfo != nil {
			if _, err := s.exec(ctx, tx, `UPDATE groups SET group_info = ? WHERE id = ?`, c.GroupInfo, c.GroupID); err != nil {
				return err
			}
		}
		return s.putObserver(ctx, tx, c)
	})
	if err != nil {
		return 0, nil, err
	}
	return c.Epoch + 1, recipients, nil
}

// updateMembers applies c to the member set in the commit numbered seq: a
// member that leaves keeps its row, with left_at = seq, until it has read
// the commit; a member that joins reads what comes after seq.
func (s *Store) updateMembers(ctx context.Context, tx *sql.Tx, c *ds.Commit, seq int64, created bool) error {
	join := func(m string, leaf any) error {
		// A client removed and added again before it read its removal
		// rejoins: it reads on from the new commit.
		_, err := s.exec(ctx, tx, `INSERT INTO members (group_id, client_id, leaf, joined) VALUES (?, ?, ?, ?)
			ON CONFLICT (group_id, client_id) DO UPDATE SET leaf = excluded.leaf, joined = excluded.joined, left_at = NULL
			WHERE members.left_at IS NOT NULL`, c.GroupID, m, leaf, seq)
		return err
	}
	leave := func(m string) error {
		_, err := s.exec(ctx, tx, `UPDATE members SET left_at = ? WHERE group_id = ? AND client_id = ? AND left_at IS NULL`, seq, c.GroupID, m)
		return err
	}
	if created {
		if err := join(c.Sender, nil); err != nil {
			return err
		}
	}
	for _, r := range c.Removed {
		if err := leave(r); err != nil {
			return err
		}
	}
	newMembers := c.NewMembers
	if c.External {
		newMembers = append([]string{c.Sender}, newMembers...)
	}
	for _, m := range newMembers {
		if err := join(m, nil); err != nil {
			return err
		}
	}
	if c.Leaves == nil {
		return nil
	}
	// The tree's leaves are the whole member set.
	current, err := s.strings(ctx, tx, `SELECT client_id FROM members WHERE group_id = ? AND left_at IS NULL`, c.GroupID)
	if err != nil {
		return err
	}
	for _, m := range current {
		if _, ok := c.Leaves[m]; !ok {
			if err := leave(m); err != nil {
				return err
			}
		}
	}
	ids := make([]string, 0, len(c.Leaves))
	for m := range c.Leaves {
		ids = append(ids, m)
	}
	sort.Strings(ids)
	for _, m := range ids {
		leaf := int64(c.Leaves[m])
		n, err := s.exec(ctx, tx, `UPDATE members SET leaf = ? WHERE group_id = ? AND client_id = ? AND left_at IS NULL`, leaf, c.GroupID, m)
		if err != nil {
			return err
		}
		if n == 0 {
			if err := join(m, leaf); err != nil {
				return err
			}
		}
	}
	return nil
}

// appendLog appends one entry to a group's log and counts its bytes
// against the group.
func (s *Store) appendLog(ctx context.Context, tx *sql.Tx, group []byte, seq int64, sender string, data []byte, now int64) error {
	if _, err := s.exec(ctx, tx, `INSERT INTO group_log (group_id, seq, sender, data, size, created) VALUES (?, ?, ?, ?, ?, ?)`,
		group, seq, sender, data, len(data), now); err != nil {
		return err
	}
	_, err := s.exec(ctx, tx, `UPDATE groups SET log_bytes = log_bytes + ? WHERE id = ?`, len(data), group)
	return err
}

func dedup(sorted []string) []string {
	out := sorted[:0]
	for i, v := range sorted {
		if i == 0 || v != sorted[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// LatestGroupInfo implements ds.Store.
func (s *Store) LatestGroupInfo(ctx context.Context, groupID []byte) ([]byte, error) {
	var gi []byte
	err := s.row(ctx, s.db, `SELECT group_info FROM groups WHERE id = ?`, groupID).Scan(&gi)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && gi == nil) {
		return nil, ds.ErrNotFound
	}
	return gi, err
}

// deliverTo appends data, numbered seq, to the inbox of each client of to.
func (s *Store) deliverTo(ctx context.Context, tx *sql.Tx, to []string, seq int64, data []byte, now int64) error {
	for _, c := range to {
		var n int
		if err := s.row(ctx, tx, `SELECT COUNT(*) FROM clients WHERE id = ?`, c).Scan(&n); err != nil {
			return err
		} else if n == 0 {
			return ds.ErrNotFound
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO inbox (client_id, seq, data, size, created) VALUES (?, ?, ?, ?, ?)`, c, seq, data, len(data), now); err != nil {
			return err
		}
	}
	return nil
}

// Deliver implements ds.Store.
func (s *Store) Deliver(ctx context.Context, to []string, data []byte) error {
	to = slices.Compact(slices.Sorted(slices.Values(to)))
	return s.wakeTx(ctx, func(tx *sql.Tx, w *ds.Wake) error {
		seq, err := s.nextSeq(ctx, tx)
		if err != nil {
			return err
		}
		w.Clients = to
		return s.deliverTo(ctx, tx, to, seq, data, time.Now().Unix())
	})
}

// SendToGroup implements ds.Store.
func (s *Store) SendToGroup(ctx context.Context, m *ds.GroupMessage) (int, error) {
	var others int
	err := s.wakeTx(ctx, func(tx *sql.Tx, w *ds.Wake) error {
		// The row lock makes a concurrent commit's UPDATE of this row
		// wait for the append below, and this read wait for a commit
		// already under way, so the epoch checked is the epoch appended
		// in. It also orders the sends to one group.
		var cur, logBytes int64
		err := s.row(ctx, tx, `SELECT epoch, log_bytes FROM groups WHERE id = ?`+s.d.ForUpdate, m.GroupID).Scan(&cur, &logBytes)
		if errors.Is(err, sql.ErrNoRows) {
			return ds.ErrNotFound
		} else if err != nil {
			return err
		}
		if c := uint64(cur); m.Epoch > c || c-m.Epoch > m.Window {
			return &ds.EpochConflictError{Current: c}
		}
		var n int
		if err := s.row(ctx, tx, `SELECT COUNT(*) FROM members WHERE group_id = ? AND left_at IS NULL`, m.GroupID).Scan(&n); err != nil {
			return err
		}
		var sentBytes sql.NullInt64
		err = s.row(ctx, tx, `SELECT c.sent_bytes FROM members m JOIN clients c ON c.id = m.client_id
			WHERE m.group_id = ? AND m.client_id = ? AND m.left_at IS NULL`, m.GroupID, m.Sender).Scan(&sentBytes)
		if errors.Is(err, sql.ErrNoRows) {
			return ds.ErrNotMember
		} else if err != nil {
			return err
		}
		size := int64(len(m.Data))
		if q := m.Quota.MaxGroupBytes; q > 0 && logBytes+size > q {
			return fmt.Errorf("%w: the group's log holds %d bytes, at most %d", ds.ErrQuota, logBytes, q)
		}
		if q := m.Quota.MaxClientBytes; q > 0 && sentBytes.Int64+size > q {
			return fmt.Errorf("%w: the sender's stored messages hold %d bytes, at most %d", ds.ErrQuota, sentBytes.Int64, q)
		}
		if _, err := s.exec(ctx, tx, `UPDATE clients SET sent_bytes = sent_bytes + ? WHERE id = ?`, size, m.Sender); err != nil {
			return err
		}
		seq, err := s.nextSeq(ctx, tx)
		if err != nil {
			return err
		}
		others = n - 1
		w.Groups = append(w.Groups, m.GroupID)
		return s.appendLog(ctx, tx, m.GroupID, seq, m.Sender, m.Data, time.Now().Unix())
	})
	if err != nil {
		return 0, err
	}
	return others, nil
}

// Inbox implements ds.Store.
func (s *Store) Inbox(ctx context.Context, clientID string, after uint64, limit int) ([]ds.Message, error) {
	if after >= 1<<63 {
		return nil, nil
	}
	s.inboxOnce.Do(func() {
		// The inbox below the cursor is deleted by Ack; the logs are not,
		// so their branch starts above the cursor too.
		s.inboxStmt, s.inboxErr = s.rdb.PrepareContext(context.Background(), s.q(`SELECT seq, data FROM (
			SELECT seq, data FROM inbox WHERE client_id = ? AND seq > ?
			UNION ALL
			SELECT l.seq, l.data FROM members m JOIN group_log l ON l.group_id = m.group_id
			WHERE m.client_id = ? AND l.seq > ? AND l.seq > m.joined AND (m.left_at IS NULL OR l.seq <= m.left_at)
				AND l.sender <> ? AND l.seq > (SELECT acked FROM clients WHERE id = ?)
		) u ORDER BY seq LIMIT ?`))
	})
	if s.inboxErr != nil {
		return nil, s.inboxErr
	}
	s.queries.Add(1)
	rows, err := s.inboxStmt.QueryContext(ctx, clientID, int64(after), clientID, int64(after), clientID, clientID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ds.Message
	size := 0
	// Bytes bound a page too: 500 messages of the 1 MiB a body may hold
	// would be half a gigabyte per poll. The first message always comes.
	for size < ds.MaxInboxPageBytes && rows.Next() {
		var m ds.Message
		var seq int64
		if err := rows.Scan(&seq, &m.Data); err != nil {
			return nil, err
		}
		m.Seq = uint64(seq)
		out = append(out, m)
		size += len(m.Data)
	}
	return out, rows.Err()
}

// Ack implements ds.Store.
func (s *Store) Ack(ctx context.Context, clientID string, upTo uint64) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		// Never past the counter: a cursor ahead of what was stored would
		// hide what comes next. The counter read here is the last
		// committed one, below any number a delivery in flight holds.
		var last int64
		if err := s.row(ctx, tx, `SELECT value FROM log_seq WHERE id = 1`).Scan(&last); err != nil {
			return err
		}
		upTo := int64(min(upTo, uint64(last)))
		if _, err := s.exec(ctx, tx, `UPDATE clients SET acked = ? WHERE id = ? AND acked < ?`, upTo, clientID, upTo); err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, `DELETE FROM inbox WHERE client_id = ? AND seq <= ?`, clientID, upTo); err != nil {
			return err
		}
		_, err := s.exec(ctx, tx, `DELETE FROM members WHERE client_id = ? AND left_at IS NOT NULL AND left_at <= ?`, clientID, upTo)
		return err
	})
}

// ClientGroups implements ds.Waker.
func (s *Store) ClientGroups(ctx context.Context, clientID string) ([][]byte, error) {
	s.queries.Add(1)
	rows, err := s.rdb.QueryContext(ctx, s.q(`SELECT group_id FROM members WHERE client_id = ?`), clientID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var g []byte
		if err := rows.Scan(&g); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// Collect implements ds.Collector.
func (s *Store) Collect(ctx context.Context, o ds.GCOptions) (ds.GCResult, error) {
	var r ds.GCResult
	var err error
	wrap := func(what string, err error) error {
		return fmt.Errorf("mls: ds: %s: collecting %s: %w", s.d.Name, what, err)
	}
	if r.Nonces, err = s.exec(ctx, s.db, `DELETE FROM nonces WHERE expires < ?`, o.Now.Unix()); err != nil {
		return r, wrap("nonces", err)
	}
	if o.InboxRetention > 0 {
		cutoff := o.Now.Add(-o.InboxRetention).Unix()
		if r.Inbox, err = s.exec(ctx, s.db, `DELETE FROM inbox WHERE created < ?`, cutoff); err != nil {
			return r, wrap("inbox messages", err)
		}
		if r.Log, err = s.exec(ctx, s.db, `DELETE FROM group_log WHERE created < ?`, cutoff); err != nil {
			return r, wrap("group logs", err)
		}
	}
	// What every member has read: an entry goes when no member is left
	// that still reads it (its sender does not; a member reads from where
	// it joined, or its cursor if later, up to where it left). First, in
	// one pass over the members, what lies below every member's position;
	// then the rest, entry by entry, where the sender is the one behind
	// (each check stops at the first member that still reads the entry,
	// which for a recent one is among the first).
	n, err := s.exec(ctx, s.db, `WITH pos AS (
			SELECT m.group_id, MIN(`+s.d.Greatest+`(c.acked, m.joined)) AS p
			FROM members m JOIN clients c ON c.id = m.client_id GROUP BY m.group_id)
		DELETE FROM group_log WHERE EXISTS (
			SELECT 1 FROM pos WHERE pos.group_id = group_log.group_id AND group_log.seq <= pos.p)`)
	r.Log += n
	if err != nil {
		return r, wrap("read group log entries", err)
	}
	n, err = s.exec(ctx, s.db, `DELETE FROM group_log WHERE NOT EXISTS (
		SELECT 1 FROM members m JOIN clients c ON c.id = m.client_id
		WHERE m.group_id = group_log.group_id AND m.client_id <> group_log.sender
			AND group_log.seq > `+s.d.Greatest+`(c.acked, m.joined)
			AND (m.left_at IS NULL OR group_log.seq <= m.left_at))`)
	r.Log += n
	if err != nil {
		return r, wrap("read group log entries", err)
	}
	if o.GroupLogBytes > 0 {
		n, err := s.exec(ctx, s.db, `DELETE FROM group_log WHERE (group_id, seq) IN (
			SELECT group_id, seq FROM (
				SELECT group_id, seq, SUM(size) OVER (PARTITION BY group_id ORDER BY seq DESC) AS kept FROM group_log
			) t WHERE kept > ?)`, o.GroupLogBytes)
		r.Log += n
		if err != nil {
			return r, wrap("group logs beyond their size", err)
		}
	}
	// A removed member's row goes once its cursor passed its removal.
	if _, err := s.exec(ctx, s.db, `DELETE FROM members WHERE left_at IS NOT NULL AND left_at <= (SELECT acked FROM clients WHERE id = members.client_id)`); err != nil {
		return r, wrap("departed members", err)
	}
	// The quota counters, recounted from what is left.
	if _, err := s.exec(ctx, s.db, `UPDATE groups SET log_bytes = COALESCE((SELECT SUM(size) FROM group_log WHERE group_id = groups.id), 0)`); err != nil {
		return r, wrap("group log sizes", err)
	}
	if _, err := s.exec(ctx, s.db, `UPDATE clients SET sent_bytes = COALESCE((SELECT SUM(size) FROM group_log WHERE sender = clients.id), 0) WHERE sent_bytes > 0`); err != nil {
		return r, wrap("stored bytes of senders", err)
	}
	if o.KeyPackageRetention > 0 {
		cutoff := o.Now.Add(-o.KeyPackageRetention).Unix()
		// A claimed KeyPackage is never handed out again; a last-resort
		// one is handed out only while it is the client's newest.
		n, err := s.exec(ctx, s.db, `DELETE FROM key_packages WHERE
			(last_resort = 0 AND claimed = 1 AND claimed_at < ?)
			OR (last_resort = 1 AND (claimed_at IS NULL OR claimed_at < ?)
				AND EXISTS (SELECT 1 FROM key_packages n WHERE n.client_id = key_packages.client_id AND n.last_resort = 1 AND n.added > key_packages.added))`,
			cutoff, cutoff)
		r.KeyPackages = n
		if err != nil {
			return r, wrap("KeyPackages", err)
		}
	}
	return r, nil
}

// messageTables are the tables TableRows counts.
var messageTables = map[string]bool{"group_log": true, "inbox": true, "members": true}

// TableRows returns the rows of one of the message tables (group_log,
// inbox, members), for tests and benchmarks that check what a delivery
// writes.
func (s *Store) TableRows(ctx context.Context, table string) (int64, error) {
	if !messageTables[table] {
		return 0, fmt.Errorf("mls: ds: %s: no table %q to count", s.d.Name, table)
	}
	var n int64
	err := s.row(ctx, s.db, `SELECT COUNT(*) FROM `+table).Scan(&n)
	return n, err
}

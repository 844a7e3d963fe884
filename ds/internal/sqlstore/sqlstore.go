// Package sqlstore is the SQL implementation of ds.Store shared by the
// SQLite and PostgreSQL stores. Queries are written with ? placeholders and
// rewritten to $n for PostgreSQL; the rules that must hold across server
// processes are conditional statements, never process memory:
//   - one commit per epoch: UPDATE groups ... WHERE epoch = expected;
//   - one claim per KeyPackage: UPDATE ... WHERE claimed = 0, on a row the
//     transaction locked (SQLite: BEGIN IMMEDIATE; PostgreSQL: FOR UPDATE
//     SKIP LOCKED);
//   - one use per nonce: the primary key of nonces;
//   - inbox order: each client's sequence counter is a row updated in the
//     delivering transaction, so numbers are handed out in commit order and
//     a reader never skips a message committed later with a lower number.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/arbormls/mls/ds"
)

// Dialect is what differs between SQL databases.
type Dialect struct {
	// Name names the database in errors.
	Name string
	// Dollar rewrites ? placeholders to $1, $2, ...
	Dollar bool
	// ForShare is the clause that share-locks the rows a SELECT reads
	// until the transaction ends (" FOR SHARE" in PostgreSQL); empty
	// where write transactions are serialized anyway (SQLite's BEGIN
	// IMMEDIATE).
	ForShare string
	// Migrations are the schema versions in order; Migrations[i] brings
	// the schema from version i to i+1. Append, never edit.
	Migrations []string
	// LockFree is appended to the query choosing a KeyPackage to claim
	// ("FOR UPDATE SKIP LOCKED" where the database has it).
	LockFree string
	// MigrateLock, when set, is run first in the migration transaction,
	// so two servers starting at once do not both migrate.
	MigrateLock string
	// Closer, when set, is called by Close after the database is closed.
	Closer func() error
}

// Store is a ds.Store in a SQL database.
type Store struct {
	db *sql.DB
	d  Dialect
}

var _ ds.Store = (*Store)(nil)

// New returns a Store on db, after migrating its schema to the latest
// version of d.
func New(ctx context.Context, db *sql.DB, d Dialect) (*Store, error) {
	s := &Store{db: db, d: d}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// q rewrites the placeholders of query for the dialect.
func (s *Store) q(query string) string {
	if !s.d.Dollar {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func (s *Store) migrate(ctx context.Context) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if s.d.MigrateLock != "" {
			if _, err := tx.ExecContext(ctx, s.d.MigrateLock); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
			return err
		}
		var v int
		err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		if v > len(s.d.Migrations) {
			return fmt.Errorf("mls: ds: %s: schema version %d is newer than this server's (%d)", s.d.Name, v, len(s.d.Migrations))
		}
		for ; v < len(s.d.Migrations); v++ {
			if _, err := tx.ExecContext(ctx, s.d.Migrations[v]); err != nil {
				return fmt.Errorf("mls: ds: %s: migration %d: %w", s.d.Name, v+1, err)
			}
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE schema_version SET version = ?`), v)
		return err
	})
}

// SchemaVersion returns the schema version of the database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	return v, err
}

// tx runs f in one transaction, committed when f returns nil.
func (s *Store) tx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("mls: ds: %s: %w", s.d.Name, err)
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("mls: ds: %s: %w", s.d.Name, err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	err := s.db.Close()
	if s.d.Closer != nil {
		err = errors.Join(err, s.d.Closer())
	}
	return err
}

// Ping checks the database answers, for readiness probes.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

type db interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// exec runs a statement and returns how many rows it changed.
func (s *Store) exec(ctx context.Context, d db, query string, args ...any) (int64, error) {
	res, err := d.ExecContext(ctx, s.q(query), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (s *Store) row(ctx context.Context, d db, query string, args ...any) *sql.Row {
	return d.QueryRowContext(ctx, s.q(query), args...)
}

// strings returns the one text column of a query's rows.
func (s *Store) strings(ctx context.Context, d db, query string, args ...any) ([]string, error) {
	rows, err := d.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// CreateClient implements ds.Store. The users table holds a row per user
// with its number of clients: a user's first client is the one whose
// transaction inserts that row (its primary key decides between two at
// once, in any number of processes), and a later one is counted by a
// conditional update of the row, which also holds it locked until the
// transaction ends.
func (s *Store) CreateClient(ctx context.Context, c *ds.Client) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		// The client first, so that a repeated registration is ErrExists
		// whatever its voucher.
		var vouchedBy any
		if c.VouchedBy != "" {
			vouchedBy = c.VouchedBy
		}
		n, err := s.exec(ctx, tx, `INSERT INTO clients (id, user_name, suite, signature_key, vouched_by) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			c.ID, c.User, int(c.Suite), c.SignatureKey, vouchedBy)
		if err != nil {
			return err
		} else if n == 0 {
			return ds.ErrExists
		}
		if c.VouchedBy == "" {
			n, err := s.exec(ctx, tx, `INSERT INTO users (name, clients) VALUES (?, 1) ON CONFLICT DO NOTHING`, c.User)
			if err == nil && n == 0 {
				return ds.ErrVoucherRequired
			}
			return err
		}
		var voucherUser string
		err = s.row(ctx, tx, `SELECT user_name FROM clients WHERE id = ?`, c.VouchedBy).Scan(&voucherUser)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && voucherUser != c.User) {
			return ds.ErrBadVoucher
		} else if err != nil {
			return err
		}
		n, err = s.exec(ctx, tx, `UPDATE users SET clients = clients + 1 WHERE name = ? AND clients < ?`, c.User, ds.MaxClientsPerUser)
		if err == nil && n == 0 {
			return ds.ErrTooManyClients
		}
		return err
	})
}

// Client implements ds.Store.
func (s *Store) Client(ctx context.Context, id string) (*ds.Client, error) {
	c := &ds.Client{ID: id}
	var suite int
	err := s.row(ctx, s.db, `SELECT user_name, suite, signature_key, COALESCE(vouched_by, '') FROM clients WHERE id = ?`, id).
		Scan(&c.User, &suite, &c.SignatureKey, &c.VouchedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ds.ErrNotFound
	}
	c.Suite = uint16(suite)
	return c, err
}

// UseNonce implements ds.Store.
func (s *Store) UseNonce(ctx context.Context, clientID, nonce string, expires time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `DELETE FROM nonces WHERE client_id = ? AND expires < ?`, clientID, time.Now().Unix()); err != nil {
			return err
		}
		n, err := s.exec(ctx, tx, `INSERT INTO nonces (client_id, nonce, expires) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, clientID, nonce, expires.Unix())
		if err == nil && n == 0 {
			return ds.ErrReplay
		}
		return err
	})
}

// AddKeyPackages implements ds.Store.
func (s *Store) AddKeyPackages(ctx context.Context, kps []ds.KeyPackage) error {
	now := time.Now().UnixNano()
	return s.tx(ctx, func(tx *sql.Tx) error {
		for i, kp := range kps {
			if _, err := s.exec(ctx, tx, `INSERT INTO key_packages (ref, client_id, data, last_resort, added) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
				kp.Ref, kp.ClientID, kp.Data, b2i(kp.LastResort), now+int64(i)); err != nil {
				return err
			}
		}
		return nil
	})
}

// CountKeyPackages implements ds.Store.
func (s *Store) CountKeyPackages(ctx context.Context, clientID string) (int, error) {
	var n int
	err := s.row(ctx, s.db, `SELECT COUNT(*) FROM key_packages WHERE client_id = ? AND last_resort = 0 AND claimed = 0`, clientID).Scan(&n)
	return n, err
}

// ClaimKeyPackages implements ds.Store.
func (s *Store) ClaimKeyPackages(ctx context.Context, user string) ([]ds.KeyPackage, error) {
	var out []ds.KeyPackage
	now := time.Now().Unix()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		out = nil
		ids, err := s.strings(ctx, tx, `SELECT id FROM clients WHERE user_name = ? ORDER BY id`, user)
		if err != nil {
			return err
		}
		for _, id := range ids {
			kp := ds.KeyPackage{ClientID: id}
			// The claimed = 0 condition makes the claim conditional: a
			// package is marked claimed by exactly one transaction.
			err := s.row(ctx, tx, `UPDATE key_packages SET claimed = 1, claimed_at = ?
				WHERE ref = (SELECT ref FROM key_packages WHERE client_id = ? AND last_resort = 0 AND claimed = 0 ORDER BY added LIMIT 1 `+s.d.LockFree+`)
				AND claimed = 0 RETURNING ref, data`, now, id).Scan(&kp.Ref, &kp.Data)
			if errors.Is(err, sql.ErrNoRows) {
				kp.LastResort = true
				// claimed_at of a last-resort KeyPackage is when it was
				// last handed out: garbage collection keeps a replaced
				// one until its Welcomes have had time to arrive.
				err = s.row(ctx, tx, `UPDATE key_packages SET claimed_at = ?
					WHERE ref = (SELECT ref FROM key_packages WHERE client_id = ? AND last_resort = 1 ORDER BY added DESC LIMIT 1)
					RETURNING ref, data`, now, id).Scan(&kp.Ref, &kp.Data)
				if errors.Is(err, sql.ErrNoRows) {
					continue
				}
			}
			if err != nil {
				return err
			}
			out = append(out, kp)
		}
		return nil
	})
	return out, err
}

// KeyPackageOwner implements ds.Store.
func (s *Store) KeyPackageOwner(ctx context.Context, ref []byte) (string, error) {
	var id string
	err := s.row(ctx, s.db, `SELECT client_id FROM key_packages WHERE ref = ?`, ref).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ds.ErrNotFound
	}
	return id, err
}

// Epoch implements ds.Store.
func (s *Store) Epoch(ctx context.Context, groupID []byte) (uint64, error) {
	var e int64
	err := s.row(ctx, s.db, `SELECT epoch FROM groups WHERE id = ?`, groupID).Scan(&e)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ds.ErrNotFound
	}
	return uint64(e), err
}

// IsMember implements ds.Store.
func (s *Store) IsMember(ctx context.Context, groupID []byte, clientID string) (bool, error) {
	var n int
	err := s.row(ctx, s.db, `SELECT COUNT(*) FROM members WHERE group_id = ? AND client_id = ?`, groupID, clientID).Scan(&n)
	return n > 0, err
}

// Leaf implements ds.Store.
func (s *Store) Leaf(ctx context.Context, groupID []byte, clientID string) (uint32, bool, error) {
	var leaf sql.NullInt64
	err := s.row(ctx, s.db, `SELECT leaf FROM members WHERE group_id = ? AND client_id = ?`, groupID, clientID).Scan(&leaf)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, ds.ErrNotMember
	}
	return uint32(leaf.Int64), leaf.Valid, err
}

// ClientByKey implements ds.Store.
func (s *Store) ClientByKey(ctx context.Context, signatureKey []byte) (string, error) {
	var id string
	err := s.row(ctx, s.db, `SELECT id FROM clients WHERE signature_key = ?`, signatureKey).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ds.ErrNotFound
	}
	return id, err
}

// Members implements ds.Store.
func (s *Store) Members(ctx context.Context, groupID []byte) ([]string, error) {
	return s.strings(ctx, s.db, `SELECT client_id FROM members WHERE group_id = ? ORDER BY client_id`, groupID)
}

// AcceptCommit implements ds.Store.
func (s *Store) AcceptCommit(ctx context.Context, c *ds.Commit) (uint64, []string, error) {
	if c.Epoch >= 1<<63-1 {
		return 0, nil, &ds.EpochConflictError{}
	}
	var recipients []string
	err := s.tx(ctx, func(tx *sql.Tx) error {
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
		out := map[string][]byte{}
		if n == 0 {
			created := int64(0)
			if c.Epoch == 0 && !c.External {
				// A new group: its creator's first commit. ON CONFLICT
				// waits for a concurrent creator and then does nothing.
				if created, err = s.exec(ctx, tx, `INSERT INTO groups (id, epoch) VALUES (?, 1) ON CONFLICT DO NOTHING`, c.GroupID); err != nil {
					return err
				}
			}
			if created == 0 {
				var cur int64
				err := s.row(ctx, tx, `SELECT epoch FROM groups WHERE id = ?`, c.GroupID).Scan(&cur)
				if errors.Is(err, sql.ErrNoRows) {
					return ds.ErrNotFound
				} else if err != nil {
					return err
				}
				return &ds.EpochConflictError{Current: uint64(cur)}
			}
			if _, err := s.exec(ctx, tx, `INSERT INTO members (group_id, client_id) VALUES (?, ?)`, c.GroupID, c.Sender); err != nil {
				return err
			}
		} else {
			ms, err := s.strings(ctx, tx, `SELECT client_id FROM members WHERE group_id = ? ORDER BY client_id`, c.GroupID)
			if err != nil {
				return err
			}
			if !c.External && !contains(ms, c.Sender) {
				return ds.ErrNotMember
			}
			for _, m := range ms {
				if m != c.Sender {
					out[m] = c.Commit
				}
			}
		}
		for _, r := range c.Removed {
			if _, err := s.exec(ctx, tx, `DELETE FROM members WHERE group_id = ? AND client_id = ?`, c.GroupID, r); err != nil {
				return err
			}
		}
		newMembers := c.NewMembers
		if c.External {
			newMembers = append([]string{c.Sender}, newMembers...)
		}
		for _, m := range newMembers {
			if _, err := s.exec(ctx, tx, `INSERT INTO members (group_id, client_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, c.GroupID, m); err != nil {
				return err
			}
		}
		if c.Leaves != nil {
			if _, err := s.exec(ctx, tx, `DELETE FROM members WHERE group_id = ?`, c.GroupID); err != nil {
				return err
			}
			for m, leaf := range c.Leaves {
				if _, err := s.exec(ctx, tx, `INSERT INTO members (group_id, client_id, leaf) VALUES (?, ?, ?)`, c.GroupID, m, int64(leaf)); err != nil {
					return err
				}
			}
		}
		if c.Welcome != nil {
			for _, m := range c.NewMembers {
				out[m] = c.Welcome
			}
		}
		if c.GroupInfo != nil {
			if _, err := s.exec(ctx, tx, `UPDATE groups SET group_info = ? WHERE id = ?`, c.GroupInfo, c.GroupID); err != nil {
				return err
			}
		}
		if err := s.putObserver(ctx, tx, c); err != nil {
			return err
		}
		for m := range out {
			recipients = append(recipients, m)
		}
		sort.Strings(recipients)
		return s.deliver(ctx, tx, out)
	})
	if err != nil {
		return 0, nil, err
	}
	return c.Epoch + 1, recipients, nil
}

func contains(list []string, s string) bool {
	i := sort.SearchStrings(list, s)
	return i < len(list) && list[i] == s
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

// deliver appends to the inbox of each client of out its message. The
// clients' counter rows are locked in sorted order, so two deliveries
// never wait on each other in a cycle.
func (s *Store) deliver(ctx context.Context, tx *sql.Tx, out map[string][]byte) error {
	to := make([]string, 0, len(out))
	for c := range out {
		to = append(to, c)
	}
	sort.Strings(to)
	now := time.Now().Unix()
	for _, c := range to {
		var seq int64
		err := s.row(ctx, tx, `UPDATE clients SET inbox_seq = inbox_seq + 1 WHERE id = ? RETURNING inbox_seq`, c).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			return ds.ErrNotFound
		} else if err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO inbox (client_id, seq, data, created) VALUES (?, ?, ?, ?)`, c, seq, out[c], now); err != nil {
			return err
		}
	}
	return nil
}

// Deliver implements ds.Store.
func (s *Store) Deliver(ctx context.Context, to []string, data []byte) error {
	out := make(map[string][]byte, len(to))
	for _, c := range to {
		out[c] = data
	}
	return s.tx(ctx, func(tx *sql.Tx) error { return s.deliver(ctx, tx, out) })
}

// SendToGroup implements ds.Store.
func (s *Store) SendToGroup(ctx context.Context, groupID []byte, sender string, epoch, window uint64, data []byte) ([]string, error) {
	var to []string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// The share lock makes a concurrent commit's UPDATE of this row
		// wait for the delivery below, and this read wait for a commit
		// already under way, so the epoch checked is the epoch delivered in.
		var cur int64
		err := s.row(ctx, tx, `SELECT epoch FROM groups WHERE id = ?`+s.d.ForShare, groupID).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return ds.ErrNotFound
		} else if err != nil {
			return err
		}
		if c := uint64(cur); epoch > c || c-epoch > window {
			return &ds.EpochConflictError{Current: c}
		}
		ms, err := s.strings(ctx, tx, `SELECT client_id FROM members WHERE group_id = ? ORDER BY client_id`, groupID)
		if err != nil {
			return err
		}
		if !contains(ms, sender) {
			return ds.ErrNotMember
		}
		out := make(map[string][]byte, len(ms))
		to = make([]string, 0, len(ms))
		for _, m := range ms {
			if m != sender {
				out[m] = data
				to = append(to, m)
			}
		}
		return s.deliver(ctx, tx, out)
	})
	if err != nil {
		return nil, err
	}
	return to, nil
}

// Inbox implements ds.Store.
func (s *Store) Inbox(ctx context.Context, clientID string, after uint64, limit int) ([]ds.Message, error) {
	if after >= 1<<63 {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT seq, data FROM inbox WHERE client_id = ? AND seq > ? ORDER BY seq LIMIT ?`), clientID, int64(after), limit)
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
	upTo = min(upTo, 1<<63-1)
	_, err := s.exec(ctx, s.db, `DELETE FROM inbox WHERE client_id = ? AND seq <= ?`, clientID, int64(upTo))
	return err
}

// Collect implements ds.Collector.
func (s *Store) Collect(ctx context.Context, o ds.GCOptions) (ds.GCResult, error) {
	var r ds.GCResult
	var err error
	if r.Nonces, err = s.exec(ctx, s.db, `DELETE FROM nonces WHERE expires < ?`, o.Now.Unix()); err != nil {
		return r, fmt.Errorf("mls: ds: %s: collecting nonces: %w", s.d.Name, err)
	}
	if o.InboxRetention > 0 {
		if r.Inbox, err = s.exec(ctx, s.db, `DELETE FROM inbox WHERE created < ?`, o.Now.Add(-o.InboxRetention).Unix()); err != nil {
			return r, fmt.Errorf("mls: ds: %s: collecting inbox messages: %w", s.d.Name, err)
		}
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
			return r, fmt.Errorf("mls: ds: %s: collecting KeyPackages: %w", s.d.Name, err)
		}
	}
	return r, nil
}

// putObserver stores state, when not nil, as the group's observer state
// of the epoch a commit starts, in the commit's transaction: the
// proposals of the old epoch, which bumped the version, are over.
func (s *Store) putObserver(ctx context.Context, tx *sql.Tx, c *ds.Commit) error {
	if c.Tree != nil {
		// The tree of the new epoch; those more than KeepTrees epochs
		// old go.
		epoch := int64(c.Epoch) + 1
		if _, err := s.exec(ctx, tx, `DELETE FROM trees WHERE group_id = ? AND (epoch >= ? OR epoch < ?)`, c.GroupID, epoch, epoch-int64(c.KeepTrees)); err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO trees (group_id, epoch, tree) VALUES (?, ?, ?)`, c.GroupID, epoch, c.Tree); err != nil {
			return err
		}
	}
	if c.Observer == nil {
		return nil
	}
	n, err := s.exec(ctx, tx, `UPDATE observers SET state = ?, version = version + 1 WHERE group_id = ?`, c.Observer, c.GroupID)
	if err == nil && n == 0 {
		_, err = s.exec(ctx, tx, `INSERT INTO observers (group_id, version, state) VALUES (?, 1, ?)`, c.GroupID, c.Observer)
	}
	return err
}

// RatchetTree implements ds.Store.
func (s *Store) RatchetTree(ctx context.Context, groupID []byte, epoch uint64) ([]byte, error) {
	var tree []byte
	err := s.row(ctx, s.db, `SELECT tree FROM trees WHERE group_id = ? AND epoch = ?`, groupID, int64(epoch)).Scan(&tree)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ds.ErrNotFound
	}
	return tree, err
}

// ObserverState implements ds.Store.
func (s *Store) ObserverState(ctx context.Context, groupID []byte) ([]byte, uint64, error) {
	var state []byte
	var version int64
	err := s.row(ctx, s.db, `SELECT state, version FROM observers WHERE group_id = ?`, groupID).Scan(&state, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, ds.ErrNotFound
	}
	return state, uint64(version), err
}

// PutObserverState implements ds.Store.
func (s *Store) PutObserverState(ctx context.Context, groupID []byte, version uint64, state []byte) (bool, error) {
	n, err := s.exec(ctx, s.db, `UPDATE observers SET state = ?, version = version + 1 WHERE group_id = ? AND version = ?`, state, groupID, int64(version))
	return n == 1, err
}

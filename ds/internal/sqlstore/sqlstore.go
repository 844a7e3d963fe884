// Package sqlstore is the SQL implementation of ds.Store shared by the
// SQLite and PostgreSQL stores. Queries are written with ? placeholders and
// rewritten to $n for PostgreSQL; the rules that must hold across server
// processes are conditional statements, never process memory:
//   - one commit per epoch: UPDATE groups ... WHERE epoch = expected;
//   - one claim per KeyPackage: UPDATE ... WHERE claimed = 0, on a row the
//     transaction locked (SQLite: BEGIN IMMEDIATE; PostgreSQL: FOR UPDATE
//     SKIP LOCKED);
//   - one use per nonce: the primary key of nonces;
//   - read order: every delivery takes its number from one counter row
//     (log_seq), updated last in the delivering transaction and held
//     locked until it commits, so numbers are handed out in commit order
//     and a reader never skips a message committed later with a lower
//     number. A message to a group is one row of the group's log, read by
//     every member from its cursor (see log.go).
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arbormls/mls/ds"
)

// Dialect is what differs between SQL databases.
type Dialect struct {
	// Name names the database in errors.
	Name string
	// Dollar rewrites ? placeholders to $1, $2, ...
	Dollar bool
	// ForUpdate is the clause that locks the rows a SELECT reads until
	// the transaction ends (" FOR UPDATE" in PostgreSQL); empty where
	// write transactions are serialized anyway (SQLite's BEGIN
	// IMMEDIATE).
	ForUpdate string
	// Greatest is the function of the larger of two values (GREATEST in
	// PostgreSQL, MAX in SQLite).
	Greatest string
	// Notify, when set, is the statement run in a delivering transaction
	// to tell other processes of the delivery (its one argument is the
	// payload, EncodeWake's); set with CrossProcess.
	Notify string
	// CrossProcess says the store hears of deliveries made by other
	// processes (its caller feeds them to Publish).
	CrossProcess bool
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
	// ReadDB, when set, serves the reads of waiting clients (Inbox,
	// ClientGroups): SQLite's one writing connection would queue them
	// behind each other, while its WAL lets several readers run at once.
	// The Store closes it.
	ReadDB *sql.DB
}

// Store is a ds.Store in a SQL database.
type Store struct {
	db  *sql.DB
	rdb *sql.DB // reads of waiting clients: d.ReadDB, or db
	d   Dialect

	// inboxStmt is the read of Inbox, prepared once: parsing it again
	// for each of thousands of woken readers costs more than running it.
	inboxOnce sync.Once
	inboxStmt *sql.Stmt
	inboxErr  error

	// queries counts the statements, begins and commits sent to the
	// database, for tests and benchmarks that check what idle costs.
	queries atomic.Uint64
	hub     hub
}

var _ ds.Store = (*Store)(nil)

// New returns a Store on db, after migrating its schema to the latest
// version of d.
func New(ctx context.Context, db *sql.DB, d Dialect) (*Store, error) {
	s := &Store{db: db, rdb: db, d: d}
	if d.ReadDB != nil {
		s.rdb = d.ReadDB
	}
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

// Queries returns how many statements, begins and commits the store has
// sent to its database.
func (s *Store) Queries() uint64 { return s.queries.Load() }

// tx runs f in one transaction, committed when f returns nil.
func (s *Store) tx(ctx context.Context, f func(*sql.Tx) error) error {
	return s.wakeTx(ctx, func(tx *sql.Tx, _ *ds.Wake) error { return f(tx) })
}

// wakeTx runs f in one transaction, committed when f returns nil; what f
// adds to its Wake is told to other processes in the transaction (when
// the dialect notifies) and to this process's subscribers after the
// commit.
func (s *Store) wakeTx(ctx context.Context, f func(*sql.Tx, *ds.Wake) error) error {
	s.queries.Add(1)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("mls: ds: %s: %w", s.d.Name, err)
	}
	var w ds.Wake
	err = f(tx, &w)
	if err == nil && s.d.Notify != "" && (len(w.Groups) > 0 || len(w.Clients) > 0) {
		for _, p := range EncodeWake(s.hub.origin(), w) {
			if _, err = s.exec(ctx, tx, s.d.Notify, p); err != nil {
				break
			}
		}
	}
	if err != nil {
		tx.Rollback()
		return err
	}
	s.queries.Add(1)
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("mls: ds: %s: %w", s.d.Name, err)
	}
	if len(w.Groups) > 0 || len(w.Clients) > 0 {
		s.hub.publish(w)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	err := s.db.Close()
	if s.inboxStmt != nil {
		s.inboxStmt.Close()
	}
	if s.rdb != s.db {
		err = errors.Join(err, s.rdb.Close())
	}
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
	s.queries.Add(1)
	res, err := d.ExecContext(ctx, s.q(query), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (s *Store) row(ctx context.Context, d db, query string, args ...any) *sql.Row {
	s.queries.Add(1)
	return d.QueryRowContext(ctx, s.q(query), args...)
}

// strings returns the one text column of a query's rows.
func (s *Store) strings(ctx context.Context, d db, query string, args ...any) ([]string, error) {
	s.queries.Add(1)
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
	err := s.row(ctx, s.db, `SELECT COUNT(*) FROM members WHERE group_id = ? AND client_id = ? AND left_at IS NULL`, groupID, clientID).Scan(&n)
	return n > 0, err
}

// Leaf implements ds.Store.
func (s *Store) Leaf(ctx context.Context, groupID []byte, clientID string) (uint32, bool, error) {
	var leaf sql.NullInt64
	err := s.row(ctx, s.db, `SELECT leaf FROM members WHERE group_id = ? AND client_id = ? AND left_at IS NULL`, groupID, clientID).Scan(&leaf)
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
	return s.strings(ctx, s.db, `SELECT client_id FROM members WHERE group_id = ? AND left_at IS NULL ORDER BY client_id`, groupID)
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

// Package sqlite is the embedded SQLite Store of the Delivery Service
// (modernc.org/sqlite, pure Go). Writes run in BEGIN IMMEDIATE
// transactions, so the conditional updates that enforce one commit per
// epoch and one claim per KeyPackage are serialised by the database even
// across processes sharing the file.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/arbormls/mls/ds"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// migrations are the schema versions in order; migrations[i] brings the
// schema from version i to i+1. Append, never edit.
var migrations = []string{
	`CREATE TABLE clients (
		id TEXT PRIMARY KEY,
		user_name TEXT NOT NULL,
		suite INTEGER NOT NULL,
		signature_key BLOB NOT NULL UNIQUE
	);
	CREATE INDEX clients_user ON clients(user_name);
	CREATE TABLE nonces (
		client_id TEXT NOT NULL,
		nonce TEXT NOT NULL,
		expires INTEGER NOT NULL,
		PRIMARY KEY (client_id, nonce)
	);
	CREATE TABLE key_packages (
		ref BLOB PRIMARY KEY,
		client_id TEXT NOT NULL REFERENCES clients(id),
		data BLOB NOT NULL,
		last_resort INTEGER NOT NULL,
		claimed INTEGER NOT NULL DEFAULT 0,
		added INTEGER NOT NULL
	);
	CREATE INDEX key_packages_free ON key_packages(client_id, last_resort, claimed, added);
	CREATE TABLE groups (
		id BLOB PRIMARY KEY,
		epoch INTEGER NOT NULL,
		group_info BLOB
	);
	CREATE TABLE members (
		group_id BLOB NOT NULL REFERENCES groups(id),
		client_id TEXT NOT NULL REFERENCES clients(id),
		PRIMARY KEY (group_id, client_id)
	);
	CREATE TABLE inbox (
		seq INTEGER PRIMARY KEY AUTOINCREMENT,
		client_id TEXT NOT NULL,
		data BLOB NOT NULL
	);
	CREATE INDEX inbox_client ON inbox(client_id, seq);`,
}

// Store is a ds.Store in one SQLite file.
type Store struct {
	db *sql.DB
}

var _ ds.Store = (*Store)(nil)

// Open opens (creating if needed) the SQLite database at path, in WAL mode
// with a busy timeout, and migrates its schema to the latest version.
func Open(ctx context.Context, path string) (*Store, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("mls: ds: sqlite: %w", err)
	}
	s := &Store{db: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
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
		if v > len(migrations) {
			return fmt.Errorf("mls: ds: sqlite: schema version %d is newer than this server (%d)", v, len(migrations))
		}
		for ; v < len(migrations); v++ {
			if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
				return fmt.Errorf("mls: ds: sqlite: migration %d: %w", v+1, err)
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, v)
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
		return fmt.Errorf("mls: ds: sqlite: %w", err)
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("mls: ds: sqlite: %w", err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks the database answers, for readiness probes.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// CreateClient implements ds.Store.
func (s *Store) CreateClient(ctx context.Context, c *ds.Client) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO clients (id, user_name, suite, signature_key) VALUES (?, ?, ?, ?)`,
		c.ID, c.User, c.Suite, c.SignatureKey)
	if isUnique(err) {
		return ds.ErrExists
	}
	return err
}

// Client implements ds.Store.
func (s *Store) Client(ctx context.Context, id string) (*ds.Client, error) {
	c := &ds.Client{ID: id}
	err := s.db.QueryRowContext(ctx, `SELECT user_name, suite, signature_key FROM clients WHERE id = ?`, id).
		Scan(&c.User, &c.Suite, &c.SignatureKey)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ds.ErrNotFound
	}
	return c, err
}

// UseNonce implements ds.Store.
func (s *Store) UseNonce(ctx context.Context, clientID, nonce string, expires time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM nonces WHERE client_id = ? AND expires < ?`, clientID, time.Now().Unix()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO nonces (client_id, nonce, expires) VALUES (?, ?, ?)`, clientID, nonce, expires.Unix())
		if isUnique(err) {
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
			if _, err := tx.ExecContext(ctx, `INSERT INTO key_packages (ref, client_id, data, last_resort, added) VALUES (?, ?, ?, ?, ?) ON CONFLICT (ref) DO NOTHING`,
				kp.Ref, kp.ClientID, kp.Data, kp.LastResort, now+int64(i)); err != nil {
				return err
			}
		}
		return nil
	})
}

// CountKeyPackages implements ds.Store.
func (s *Store) CountKeyPackages(ctx context.Context, clientID string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM key_packages WHERE client_id = ? AND last_resort = 0 AND claimed = 0`, clientID).Scan(&n)
	return n, err
}

// ClaimKeyPackages implements ds.Store.
func (s *Store) ClaimKeyPackages(ctx context.Context, user string) ([]ds.KeyPackage, error) {
	var out []ds.KeyPackage
	err := s.tx(ctx, func(tx *sql.Tx) error {
		out = nil
		rows, err := tx.QueryContext(ctx, `SELECT id FROM clients WHERE user_name = ? ORDER BY id`, user)
		if err != nil {
			return err
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			kp := ds.KeyPackage{ClientID: id}
			// The claimed = 0 condition makes the claim conditional: a
			// package is marked claimed by exactly one transaction.
			err := tx.QueryRowContext(ctx, `UPDATE key_packages SET claimed = 1
				WHERE ref = (SELECT ref FROM key_packages WHERE client_id = ? AND last_resort = 0 AND claimed = 0 ORDER BY added LIMIT 1)
				AND claimed = 0 RETURNING ref, data`, id).Scan(&kp.Ref, &kp.Data)
			if errors.Is(err, sql.ErrNoRows) {
				kp.LastResort = true
				err = tx.QueryRowContext(ctx, `SELECT ref, data FROM key_packages WHERE client_id = ? AND last_resort = 1 ORDER BY added DESC LIMIT 1`, id).
					Scan(&kp.Ref, &kp.Data)
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
	err := s.db.QueryRowContext(ctx, `SELECT client_id FROM key_packages WHERE ref = ?`, ref).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ds.ErrNotFound
	}
	return id, err
}

// Epoch implements ds.Store.
func (s *Store) Epoch(ctx context.Context, groupID []byte) (uint64, error) {
	var e uint64
	err := s.db.QueryRowContext(ctx, `SELECT epoch FROM groups WHERE id = ?`, groupID).Scan(&e)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ds.ErrNotFound
	}
	return e, err
}

// IsMember implements ds.Store.
func (s *Store) IsMember(ctx context.Context, groupID []byte, clientID string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM members WHERE group_id = ? AND client_id = ?`, groupID, clientID).Scan(&n)
	return n > 0, err
}

// Members implements ds.Store.
func (s *Store) Members(ctx context.Context, groupID []byte) ([]string, error) {
	return members(ctx, s.db, groupID)
}

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func members(ctx context.Context, db querier, groupID []byte) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT client_id FROM members WHERE group_id = ? ORDER BY client_id`, groupID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// AcceptCommit implements ds.Store.
func (s *Store) AcceptCommit(ctx context.Context, c *ds.Commit) (uint64, error) {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// The epoch = expected condition is the whole of the ordering
		// rule: of concurrent commits for one epoch, one updates a row.
		res, err := tx.ExecContext(ctx, `UPDATE groups SET epoch = epoch + 1 WHERE id = ? AND epoch = ?`, c.GroupID, c.Epoch)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		var recipients []string
		if n == 0 {
			var cur uint64
			err := tx.QueryRowContext(ctx, `SELECT epoch FROM groups WHERE id = ?`, c.GroupID).Scan(&cur)
			switch {
			case errors.Is(err, sql.ErrNoRows) && c.Epoch == 0:
				// A new group: its creator's first commit.
				if _, err := tx.ExecContext(ctx, `INSERT INTO groups (id, epoch) VALUES (?, 1)`, c.GroupID); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO members (group_id, client_id) VALUES (?, ?)`, c.GroupID, c.Sender); err != nil {
					return err
				}
			case errors.Is(err, sql.ErrNoRows):
				return ds.ErrNotFound
			case err != nil:
				return err
			default:
				return &ds.EpochConflictError{Current: cur}
			}
		} else {
			ms, err := members(ctx, tx, c.GroupID)
			if err != nil {
				return err
			}
			if !c.External && !contains(ms, c.Sender) {
				return ds.ErrNotMember
			}
			for _, m := range ms {
				if m != c.Sender {
					recipients = append(recipients, m)
				}
			}
		}
		if err := deliver(ctx, tx, recipients, c.Commit); err != nil {
			return err
		}
		for _, r := range c.Removed {
			if _, err := tx.ExecContext(ctx, `DELETE FROM members WHERE group_id = ? AND client_id = ?`, c.GroupID, r); err != nil {
				return err
			}
		}
		newMembers := c.NewMembers
		if c.External {
			newMembers = append([]string{c.Sender}, newMembers...)
		}
		for _, m := range newMembers {
			if _, err := tx.ExecContext(ctx, `INSERT INTO members (group_id, client_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, c.GroupID, m); err != nil {
				return err
			}
		}
		if c.Welcome != nil {
			if err := deliver(ctx, tx, c.NewMembers, c.Welcome); err != nil {
				return err
			}
		}
		if c.GroupInfo != nil {
			if _, err := tx.ExecContext(ctx, `UPDATE groups SET group_info = ? WHERE id = ?`, c.GroupInfo, c.GroupID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return c.Epoch + 1, nil
}

func contains(list []string, s string) bool {
	i := sort.SearchStrings(list, s)
	return i < len(list) && list[i] == s
}

// LatestGroupInfo implements ds.Store.
func (s *Store) LatestGroupInfo(ctx context.Context, groupID []byte) ([]byte, error) {
	var gi []byte
	err := s.db.QueryRowContext(ctx, `SELECT group_info FROM groups WHERE id = ?`, groupID).Scan(&gi)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && gi == nil) {
		return nil, ds.ErrNotFound
	}
	return gi, err
}

type execer interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

func deliver(ctx context.Context, db execer, to []string, data []byte) error {
	for _, c := range to {
		if _, err := db.ExecContext(ctx, `INSERT INTO inbox (client_id, data) VALUES (?, ?)`, c, data); err != nil {
			return err
		}
	}
	return nil
}

// Deliver implements ds.Store.
func (s *Store) Deliver(ctx context.Context, to []string, data []byte) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return deliver(ctx, tx, to, data) })
}

// Inbox implements ds.Store.
func (s *Store) Inbox(ctx context.Context, clientID string, after uint64, limit int) ([]ds.Message, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, data FROM inbox WHERE client_id = ? AND seq > ? ORDER BY seq LIMIT ?`, clientID, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ds.Message
	for rows.Next() {
		var m ds.Message
		if err := rows.Scan(&m.Seq, &m.Data); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Ack implements ds.Store.
func (s *Store) Ack(ctx context.Context, clientID string, upTo uint64) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM inbox WHERE client_id = ? AND seq <= ?`, clientID, upTo)
	return err
}

// Package sqlitestore is an mls.Storage in one SQLite file, through the
// pure-Go driver modernc.org/sqlite (no cgo). It keeps group states as
// records (mls.GroupRecordStore), so that Group.Save writes only what
// changed, each batch in one transaction: a crash leaves the old records
// or the new ones, never a mix. It is a nested module, so that the
// library's go.mod stays free of the driver.
//
// Deleted and replaced values are secret (consumed keys among them): the
// database runs with secure_delete, which overwrites their pages' freed
// content, and with a rollback journal (not WAL) that is deleted after
// each transaction. The file system may still keep old copies.
package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"

	"github.com/arbormls/mls"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// Options are the settings of a Store; the zero value is the default.
type Options struct {
	// ResumptionPSKEpochs is how many epochs' resumption PSKs are kept per
	// group; zero or less means mls.DefaultResumptionPSKEpochs.
	ResumptionPSKEpochs int
}

// Store is an mls.Storage and mls.GroupRecordStore in a SQLite file. It
// is safe for concurrent use; one connection serializes the writes.
type Store struct {
	db           *sql.DB
	resumeEpochs int
}

var (
	_ mls.Storage          = (*Store)(nil)
	_ mls.GroupRecordStore = (*Store)(nil)
)

const schema = `
CREATE TABLE IF NOT EXISTS group_records (group_id BLOB NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL, PRIMARY KEY (group_id, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS key_packages (ref BLOB PRIMARY KEY, data BLOB NOT NULL, last_resort INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS external_psks (psk_id BLOB PRIMARY KEY, psk BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS resumption_psks (group_id BLOB NOT NULL, epoch BLOB NOT NULL, psk BLOB NOT NULL, PRIMARY KEY (group_id, epoch)) WITHOUT ROWID;
`

// Open opens (creating if needed) the store in the SQLite file at path.
// opts may be nil.
func Open(ctx context.Context, path string, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(DELETE)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "secure_delete(ON)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("mls: sqlitestore: %w", err)
	}
	// One connection: SQLite writes one transaction at a time, and a
	// queue in database/sql is fairer than its busy handler.
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("mls: sqlitestore: creating the schema: %w", err)
	}
	s := &Store{db: db, resumeEpochs: opts.ResumptionPSKEpochs}
	if s.resumeEpochs <= 0 {
		s.resumeEpochs = mls.DefaultResumptionPSKEpochs
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func checkID(what string, id []byte) error {
	if len(id) == 0 {
		return fmt.Errorf("mls: empty %s", what)
	}
	return nil
}

// dbErr wraps a database error; values are never part of it.
func dbErr(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("mls: sqlitestore: %w", err)
}

// tx runs f in a transaction, committed if f succeeds.
func (s *Store) tx(ctx context.Context, f func(tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return dbErr(err)
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return dbErr(err)
	}
	return nil
}

// get returns the value the query finds, ErrNotFound if none.
func (s *Store) get(ctx context.Context, query string, args ...any) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var v []byte
	err := s.db.QueryRowContext(ctx, query, args...).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, mls.ErrNotFound
	}
	if err != nil {
		return nil, dbErr(err)
	}
	if v == nil {
		v = []byte{} // a stored empty value is not a missing one
	}
	return v, nil
}

// exec runs a statement that must change a row (ErrNotFound if none).
func (s *Store) execOne(ctx context.Context, query string, args ...any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return dbErr(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return dbErr(err)
	} else if n == 0 {
		return mls.ErrNotFound
	}
	return nil
}

func (s *Store) list(ctx context.Context, query string) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, query)
	if err != nil {
		return nil, dbErr(err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var id []byte
		if err := rows.Scan(&id); err != nil {
			return nil, dbErr(err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(err)
	}
	return out, nil
}

// nonNil makes an empty value a zero-length blob, not NULL.
func nonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}

// PutGroupState implements mls.GroupStore: the state is the group's only
// record, of key "".
func (s *Store) PutGroupState(ctx context.Context, groupID, state []byte) error {
	return s.UpdateGroupRecords(ctx, groupID, &mls.GroupRecordBatch{Replace: true, Records: []mls.GroupRecord{{Key: "", Value: nonNil(state)}}})
}

// GroupState implements mls.GroupStore: the group's record of key "".
func (s *Store) GroupState(ctx context.Context, groupID []byte) ([]byte, error) {
	if err := checkID("group ID", groupID); err != nil {
		return nil, err
	}
	return s.get(ctx, "SELECT value FROM group_records WHERE group_id = ? AND key = ?", groupID, []byte{})
}

// DeleteGroupState implements mls.GroupStore: it deletes every record of
// the group.
func (s *Store) DeleteGroupState(ctx context.Context, groupID []byte) error {
	if err := checkID("group ID", groupID); err != nil {
		return err
	}
	return s.execOne(ctx, "DELETE FROM group_records WHERE group_id = ?", groupID)
}

// GroupIDs implements mls.GroupStore.
func (s *Store) GroupIDs(ctx context.Context) ([][]byte, error) {
	return s.list(ctx, "SELECT DISTINCT group_id FROM group_records ORDER BY group_id")
}

// UpdateGroupRecords implements mls.GroupRecordStore, in one transaction.
func (s *Store) UpdateGroupRecords(ctx context.Context, groupID []byte, batch *mls.GroupRecordBatch) error {
	if err := checkID("group ID", groupID); err != nil {
		return err
	}
	if err := batch.Check(); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if batch.Replace {
			if _, err := tx.ExecContext(ctx, "DELETE FROM group_records WHERE group_id = ?", groupID); err != nil {
				return dbErr(err)
			}
		}
		for _, r := range batch.Records {
			var err error
			if r.Value == nil {
				_, err = tx.ExecContext(ctx, "DELETE FROM group_records WHERE group_id = ? AND key = ?", groupID, []byte(r.Key))
			} else {
				_, err = tx.ExecContext(ctx, "INSERT OR REPLACE INTO group_records (group_id, key, value) VALUES (?, ?, ?)", groupID, []byte(r.Key), nonNil(r.Value))
			}
			if err != nil {
				return dbErr(err)
			}
		}
		return nil
	})
}

// GroupRecords implements mls.GroupRecordStore.
func (s *Store) GroupRecords(ctx context.Context, groupID []byte) ([]mls.GroupRecord, error) {
	if err := checkID("group ID", groupID); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, "SELECT key, value FROM group_records WHERE group_id = ? ORDER BY key", groupID)
	if err != nil {
		return nil, dbErr(err)
	}
	defer rows.Close()
	var out []mls.GroupRecord
	for rows.Next() {
		var k, v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return nil, dbErr(err)
		}
		out = append(out, mls.GroupRecord{Key: string(k), Value: nonNil(v)})
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(err)
	}
	if len(out) == 0 {
		return nil, mls.ErrNotFound
	}
	return out, nil
}

// PutKeyPackage implements mls.KeyPackageStore.
func (s *Store) PutKeyPackage(ctx context.Context, b *mls.KeyPackageBundle) error {
	if b == nil || b.KeyPackage == nil {
		return errors.New("mls: empty KeyPackageBundle")
	}
	data, err := b.MarshalBinary()
	if err != nil {
		return err
	}
	defer clear(data)
	if err := checkID("KeyPackageRef", b.Ref()); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO key_packages (ref, data, last_resort) VALUES (?, ?, ?)", b.Ref(), data, b.KeyPackage.IsLastResort())
		if err != nil {
			return dbErr(err)
		}
		return nil
	})
}

// KeyPackage implements mls.KeyPackageStore.
func (s *Store) KeyPackage(ctx context.Context, ref []byte) (*mls.KeyPackageBundle, error) {
	return s.loadKeyPackage(ctx, ref, false)
}

// TakeKeyPackage implements mls.KeyPackageStore: the read and the
// deletion are one transaction, so two takes never both get it.
func (s *Store) TakeKeyPackage(ctx context.Context, ref []byte) (*mls.KeyPackageBundle, error) {
	return s.loadKeyPackage(ctx, ref, true)
}

func (s *Store) loadKeyPackage(ctx context.Context, ref []byte, take bool) (*mls.KeyPackageBundle, error) {
	if err := checkID("KeyPackageRef", ref); err != nil {
		return nil, err
	}
	var data []byte
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var lastResort bool
		err := tx.QueryRowContext(ctx, "SELECT data, last_resort FROM key_packages WHERE ref = ?", ref).Scan(&data, &lastResort)
		if errors.Is(err, sql.ErrNoRows) {
			return mls.ErrNotFound
		}
		if err != nil {
			return dbErr(err)
		}
		if take && !lastResort {
			if _, err := tx.ExecContext(ctx, "DELETE FROM key_packages WHERE ref = ?", ref); err != nil {
				return dbErr(err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	defer clear(data)
	b := new(mls.KeyPackageBundle)
	if err := b.UnmarshalBinary(data); err != nil {
		return nil, err
	}
	return b, nil
}

// DeleteKeyPackage implements mls.KeyPackageStore.
func (s *Store) DeleteKeyPackage(ctx context.Context, ref []byte) error {
	if err := checkID("KeyPackageRef", ref); err != nil {
		return err
	}
	return s.execOne(ctx, "DELETE FROM key_packages WHERE ref = ?", ref)
}

// KeyPackageRefs implements mls.KeyPackageStore.
func (s *Store) KeyPackageRefs(ctx context.Context) ([][]byte, error) {
	return s.list(ctx, "SELECT ref FROM key_packages ORDER BY ref")
}

// PutExternalPSK implements mls.PSKStore.
func (s *Store) PutExternalPSK(ctx context.Context, pskID, psk []byte) error {
	if err := checkID("psk_id", pskID); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO external_psks (psk_id, psk) VALUES (?, ?)", pskID, nonNil(psk)); err != nil {
			return dbErr(err)
		}
		return nil
	})
}

// ExternalPSK implements mls.PSKStore.
func (s *Store) ExternalPSK(ctx context.Context, pskID []byte) ([]byte, error) {
	if err := checkID("psk_id", pskID); err != nil {
		return nil, err
	}
	return s.get(ctx, "SELECT psk FROM external_psks WHERE psk_id = ?", pskID)
}

// DeleteExternalPSK implements mls.PSKStore.
func (s *Store) DeleteExternalPSK(ctx context.Context, pskID []byte) error {
	if err := checkID("psk_id", pskID); err != nil {
		return err
	}
	return s.execOne(ctx, "DELETE FROM external_psks WHERE psk_id = ?", pskID)
}

// epochKey is an epoch as a blob that sorts as the number does (SQLite
// integers are signed).
func epochKey(epoch uint64) []byte { return binary.BigEndian.AppendUint64(nil, epoch) }

// PutResumptionPSK implements mls.PSKStore.
func (s *Store) PutResumptionPSK(ctx context.Context, groupID []byte, epoch uint64, psk []byte) error {
	if err := checkID("group ID", groupID); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO resumption_psks (group_id, epoch, psk) VALUES (?, ?, ?)", groupID, epochKey(epoch), nonNil(psk)); err != nil {
			return dbErr(err)
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM resumption_psks WHERE group_id = ? AND epoch NOT IN
			(SELECT epoch FROM resumption_psks WHERE group_id = ? ORDER BY epoch DESC LIMIT ?)`, groupID, groupID, s.resumeEpochs)
		if err != nil {
			return dbErr(err)
		}
		return nil
	})
}

// ResumptionPSK implements mls.PSKStore.
func (s *Store) ResumptionPSK(ctx context.Context, groupID []byte, epoch uint64) ([]byte, error) {
	if err := checkID("group ID", groupID); err != nil {
		return nil, err
	}
	return s.get(ctx, "SELECT psk FROM resumption_psks WHERE group_id = ? AND epoch = ?", groupID, epochKey(epoch))
}

// DeleteResumptionPSKs implements mls.PSKStore.
func (s *Store) DeleteResumptionPSKs(ctx context.Context, groupID []byte) error {
	if err := checkID("group ID", groupID); err != nil {
		return err
	}
	err := s.execOne(ctx, "DELETE FROM resumption_psks WHERE group_id = ?", groupID)
	if errors.Is(err, mls.ErrNotFound) {
		return nil
	}
	return err
}

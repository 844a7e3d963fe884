// Package sqlite is the embedded SQLite Store of the Delivery Service
// (modernc.org/sqlite, pure Go), the default. Write transactions begin
// IMMEDIATE, so the conditional updates that enforce one commit per epoch
// and one claim per KeyPackage are serialised by the database, also across
// processes sharing the file; WAL mode lets readers run meanwhile.
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"

	"github.com/arbormls/mls/ds"
	"github.com/arbormls/mls/ds/internal/sqlstore"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// migrations are the schema versions in order. Append, never edit.
var migrations = []string{
	`CREATE TABLE clients (
		id TEXT PRIMARY KEY,
		user_name TEXT NOT NULL,
		suite INTEGER NOT NULL,
		signature_key BLOB NOT NULL UNIQUE,
		inbox_seq INTEGER NOT NULL DEFAULT 0
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
		leaf BIGINT,
		PRIMARY KEY (group_id, client_id)
	);
	CREATE TABLE inbox (
		client_id TEXT NOT NULL REFERENCES clients(id),
		seq INTEGER NOT NULL,
		data BLOB NOT NULL,
		PRIMARY KEY (client_id, seq)
	);`,
	// 2: times for garbage collection (rows already there count from the
	// migration): when an inbox message was stored, when a KeyPackage was
	// claimed (a last-resort one: last handed out).
	`ALTER TABLE inbox ADD COLUMN created INTEGER NOT NULL DEFAULT 0;
	UPDATE inbox SET created = CAST(strftime('%s', 'now') AS INTEGER);
	ALTER TABLE key_packages ADD COLUMN claimed_at INTEGER;
	UPDATE key_packages SET claimed_at = CAST(strftime('%s', 'now') AS INTEGER) WHERE claimed = 1;`,
	// 3: users, a row per user with its number of clients, whose primary
	// key makes one registration the user's first; the client that
	// vouched for a registration.
	`CREATE TABLE users (
		name TEXT PRIMARY KEY,
		clients INTEGER NOT NULL
	);
	INSERT INTO users (name, clients) SELECT user_name, COUNT(*) FROM clients GROUP BY user_name;
	ALTER TABLE clients ADD COLUMN vouched_by TEXT;`,
	// 4: one copy per message. A group's messages go once into its log,
	// read by each member from where it joined (and up to where it left);
	// the inbox keeps Welcomes and direct deliveries; clients.acked is a
	// client's cursor. Every number comes from log_seq, which starts
	// above every number handed out before, so a client's saved position
	// stays valid and the inbox rows kept read on in order.
	`CREATE TABLE log_seq (
		id INTEGER PRIMARY KEY,
		value BIGINT NOT NULL
	);
	INSERT INTO log_seq (id, value) SELECT 1, COALESCE(MAX(v), 0) FROM (
		SELECT MAX(inbox_seq) AS v FROM clients UNION ALL SELECT MAX(seq) FROM inbox) t;
	CREATE TABLE group_log (
		group_id BLOB NOT NULL REFERENCES groups(id),
		seq BIGINT NOT NULL,
		sender TEXT NOT NULL,
		data BLOB NOT NULL,
		size BIGINT NOT NULL,
		created BIGINT NOT NULL,
		PRIMARY KEY (group_id, seq)
	);
	CREATE INDEX group_log_sender ON group_log(sender);
	ALTER TABLE groups ADD COLUMN log_bytes BIGINT NOT NULL DEFAULT 0;
	ALTER TABLE members ADD COLUMN joined BIGINT NOT NULL DEFAULT 0;
	ALTER TABLE members ADD COLUMN left_at BIGINT;
	UPDATE members SET joined = (SELECT value FROM log_seq WHERE id = 1);
	CREATE INDEX members_client ON members(client_id);
	ALTER TABLE clients ADD COLUMN acked BIGINT NOT NULL DEFAULT 0;
	ALTER TABLE clients ADD COLUMN sent_bytes BIGINT NOT NULL DEFAULT 0;
	ALTER TABLE inbox ADD COLUMN size BIGINT NOT NULL DEFAULT 0;
	UPDATE inbox SET size = LENGTH(data);`,
	// 5: the state of the public observer (mls.PublicGroup) that follows
	// each verified group, with a version that makes its updates
	// conditional; the verified ratchet trees of its recent epochs, which
	// joiners fetch.
	`CREATE TABLE observers (
		group_id BLOB PRIMARY KEY REFERENCES groups(id),
		version BIGINT NOT NULL,
		state BLOB NOT NULL
	);
	CREATE TABLE trees (
		group_id BLOB NOT NULL REFERENCES groups(id),
		epoch BIGINT NOT NULL,
		tree BLOB NOT NULL,
		PRIMARY KEY (group_id, epoch)
	);`,
}

// readConns bounds the connections that read inboxes.
const readConns = 4

// Store is a ds.Store in one SQLite file.
type Store = sqlstore.Store

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
	// SQLite runs one write transaction at a time. With a connection per
	// concurrent request, hundreds of writers wait in SQLite's sleeping
	// busy handler and some give up after the busy timeout (SQLITE_BUSY,
	// a 500), as mlsload showed at 300 clients. One connection makes
	// them queue in database/sql instead, in order; the busy timeout
	// then only matters across processes sharing the file.
	db.SetMaxOpenConns(1)
	// Readers of the inbox get connections of their own, which WAL runs
	// beside the writer: thousands of clients woken by one message read
	// at once rather than queueing on the writing connection.
	rq := url.Values{}
	rq.Add("_pragma", "busy_timeout(10000)")
	rq.Add("_pragma", "query_only(1)")
	rdb, err := sql.Open("sqlite", "file:"+path+"?"+rq.Encode())
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("mls: ds: sqlite: %w", err)
	}
	rdb.SetMaxOpenConns(readConns)
	rdb.SetMaxIdleConns(readConns)
	s, err := sqlstore.New(ctx, db, sqlstore.Dialect{Name: "sqlite", Migrations: migrations, Greatest: "MAX", ReadDB: rdb})
	if err != nil {
		db.Close()
		rdb.Close()
		return nil, err
	}
	return s, nil
}

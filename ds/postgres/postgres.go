// Package postgres is the PostgreSQL Store of the Delivery Service
// (github.com/jackc/pgx/v5), for several mlsd processes sharing one
// database. Transactions run at READ COMMITTED: the conditional updates
// (epoch = expected, claimed = 0) re-check their condition on the row
// version a concurrent transaction committed, so only one of them wins.
package postgres

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/arbormls/mls/ds"
	"github.com/arbormls/mls/ds/internal/sqlstore"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// migrations are the schema versions in order. Append, never edit.
var migrations = []string{
	`CREATE TABLE clients (
		id TEXT PRIMARY KEY,
		user_name TEXT NOT NULL,
		suite INTEGER NOT NULL,
		signature_key BYTEA NOT NULL UNIQUE,
		inbox_seq BIGINT NOT NULL DEFAULT 0
	);
	CREATE INDEX clients_user ON clients(user_name);
	CREATE TABLE nonces (
		client_id TEXT NOT NULL,
		nonce TEXT NOT NULL,
		expires BIGINT NOT NULL,
		PRIMARY KEY (client_id, nonce)
	);
	CREATE TABLE key_packages (
		ref BYTEA PRIMARY KEY,
		client_id TEXT NOT NULL REFERENCES clients(id),
		data BYTEA NOT NULL,
		last_resort INTEGER NOT NULL,
		claimed INTEGER NOT NULL DEFAULT 0,
		added BIGINT NOT NULL
	);
	CREATE INDEX key_packages_free ON key_packages(client_id, last_resort, claimed, added);
	CREATE TABLE groups (
		id BYTEA PRIMARY KEY,
		epoch BIGINT NOT NULL,
		group_info BYTEA
	);
	CREATE TABLE members (
		group_id BYTEA NOT NULL REFERENCES groups(id),
		client_id TEXT NOT NULL REFERENCES clients(id),
		leaf BIGINT,
		PRIMARY KEY (group_id, client_id)
	);
	CREATE TABLE inbox (
		client_id TEXT NOT NULL REFERENCES clients(id),
		seq BIGINT NOT NULL,
		data BYTEA NOT NULL,
		PRIMARY KEY (client_id, seq)
	);`,
	// 2: times for garbage collection (rows already there count from the
	// migration): when an inbox message was stored, when a KeyPackage was
	// claimed (a last-resort one: last handed out).
	`ALTER TABLE inbox ADD COLUMN created BIGINT NOT NULL DEFAULT 0;
	UPDATE inbox SET created = CAST(EXTRACT(EPOCH FROM now()) AS BIGINT);
	ALTER TABLE key_packages ADD COLUMN claimed_at BIGINT;
	UPDATE key_packages SET claimed_at = CAST(EXTRACT(EPOCH FROM now()) AS BIGINT) WHERE claimed = 1;`,
	// 3: users, a row per user with its number of clients, whose primary
	// key makes one registration the user's first; the client that
	// vouched for a registration.
	`CREATE TABLE users (
		name TEXT PRIMARY KEY,
		clients BIGINT NOT NULL
	);
	INSERT INTO users (name, clients) SELECT user_name, COUNT(*) FROM clients GROUP BY user_name;
	ALTER TABLE clients ADD COLUMN vouched_by TEXT;`,
	// 4: the state of the public observer (mls.PublicGroup) that follows
	// each verified group, with a version that makes its updates
	// conditional; the verified ratchet trees of its recent epochs, which
	// joiners fetch.
	`CREATE TABLE observers (
		group_id BYTEA PRIMARY KEY REFERENCES groups(id),
		version BIGINT NOT NULL,
		state BYTEA NOT NULL
	);
	CREATE TABLE trees (
		group_id BYTEA NOT NULL REFERENCES groups(id),
		epoch BIGINT NOT NULL,
		tree BYTEA NOT NULL,
		PRIMARY KEY (group_id, epoch)
	);`,
}

// MaxConns bounds the connections one Store opens.
const MaxConns = 16

// Store is a ds.Store in a PostgreSQL database.
type Store = sqlstore.Store

var _ ds.Store = (*Store)(nil)

// Open connects to the PostgreSQL database of dsn (postgres://...) and
// migrates its schema to the latest version.
func Open(ctx context.Context, dsn string) (*Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("mls: ds: postgres: %w", err)
	}
	// Bounded, so that load queues in database/sql rather than opening
	// connections until PostgreSQL refuses them ("too many clients", its
	// max_connections is 100 by default), as mlsload showed at 300
	// clients; several mlsd processes share that limit.
	db.SetMaxOpenConns(MaxConns)
	db.SetMaxIdleConns(MaxConns)
	s, err := sqlstore.New(ctx, db, sqlstore.Dialect{
		Name:       "postgres",
		Dollar:     true,
		Migrations: migrations,
		LockFree:   "FOR UPDATE SKIP LOCKED",
		ForShare:   " FOR SHARE",
		// One arbitrary key for all mlsd processes of a database.
		MigrateLock: "SELECT pg_advisory_xact_lock(74207420)",
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

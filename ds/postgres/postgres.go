// Package postgres is the PostgreSQL Store of the Delivery Service
// (github.com/jackc/pgx/v5), for several mlsd processes sharing one
// database. Transactions run at READ COMMITTED: the conditional updates
// (epoch = expected, claimed = 0) re-check their condition on the row
// version a concurrent transaction committed, so only one of them wins.
package postgres

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/arbormls/mls/ds"
	"github.com/arbormls/mls/ds/internal/sqlstore"
	"github.com/jackc/pgx/v5"
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
		group_id BYTEA NOT NULL REFERENCES groups(id),
		seq BIGINT NOT NULL,
		sender TEXT NOT NULL,
		data BYTEA NOT NULL,
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
// migrates its schema to the latest version. The store listens on its own
// connection for the deliveries of every process on the same schema
// (LISTEN/NOTIFY), so waiting clients wake at once and cost no query
// while nothing happens.
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
	var schema string
	if err := db.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("mls: ds: postgres: %w", err)
	}
	// One channel per schema: stores on other schemas of the database
	// (tests, tenants) do not wake this one's readers.
	sum := sha256.Sum256([]byte(schema))
	channel := "mlsd_wake_" + hex.EncodeToString(sum[:8])
	l := &listener{dsn: dsn, channel: channel}
	s, err := sqlstore.New(ctx, db, sqlstore.Dialect{
		Name:       "postgres",
		Dollar:     true,
		Migrations: migrations,
		LockFree:   "FOR UPDATE SKIP LOCKED",
		ForUpdate:  " FOR UPDATE",
		Greatest:   "GREATEST",
		// One arbitrary key for all mlsd processes of a database.
		MigrateLock:  "SELECT pg_advisory_xact_lock(74207420)",
		Notify:       "SELECT pg_notify('" + channel + "', ?)",
		CrossProcess: true,
		Closer:       l.close,
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := l.start(ctx, s); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// listener holds the connection that LISTENs for other processes'
// deliveries and hands them to the store's subscribers.
type listener struct {
	dsn, channel string
	cancel       context.CancelFunc
	done         chan struct{}
}

// start connects and listens before it returns, so no delivery made after
// Open is missed, then serves notifications until close. A lost
// connection is made again; as notifications may have been missed
// meanwhile, every waiter is woken then.
func (l *listener) start(ctx context.Context, s *Store) error {
	conn, err := l.connect(ctx)
	if err != nil {
		return err
	}
	lctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan struct{})
	go func() {
		defer close(l.done)
		for {
			for conn != nil {
				n, err := conn.WaitForNotification(lctx)
				if err != nil {
					conn.Close(context.Background())
					conn = nil
					break
				}
				s.Publish(n.Payload)
			}
			select {
			case <-lctx.Done():
				return
			case <-time.After(time.Second):
			}
			if conn, _ = l.connect(lctx); conn != nil {
				s.PublishAll()
			}
		}
	}()
	return nil
}

func (l *listener) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, l.dsn)
	if err != nil {
		return nil, fmt.Errorf("mls: ds: postgres: listener: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+l.channel); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("mls: ds: postgres: listener: %w", err)
	}
	return conn, nil
}

func (l *listener) close() error {
	if l.cancel != nil {
		l.cancel()
		<-l.done
	}
	return nil
}

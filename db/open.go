// Package db is Marquee's shared data model: the Bun models, the versioned
// migrations, the dialect set-up for MySQL and SQLite, and the Store, which is
// the only place in Marquee that holds SQL. Both APIs and the loader use it.
package db

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/dialect/feature"
	"github.com/uptrace/bun/dialect/mysqldialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver

	"marquee/internal/priority"
)

// mysqlSQLMode is MySQL 8's default sql_mode. It is forced on every MySQL and
// MariaDB connection so that MariaDB in CI is as strict as MySQL 8 in production.
const mysqlSQLMode = "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"

// Options configure Open. Zero values pick the defaults noted on each field.
type Options struct {
	// URL is "sqlite://PATH" or "mysql://user:pass@host:3306/db".
	URL string
	// ReplicaURL, when set, is a MySQL read replica used for reads.
	ReplicaURL string
	// MaxOpenConns bounds the MySQL pool (default 16: two cores gain nothing
	// from more concurrent statements, and MySQL's own default limit is 151).
	MaxOpenConns int
	// SQLiteReadConns bounds the SQLite read pool (default 4).
	SQLiteReadConns int
	// SQLiteBusyTimeout is how long a SQLite statement waits for a lock
	// (default 10s: long enough to outlast any single write batch).
	SQLiteBusyTimeout time.Duration
	// ReplicaMaxLag is how far the replica may lag behind the primary before
	// reads go to the primary instead (default 5s).
	ReplicaMaxLag time.Duration
	// ReplicaCheckInterval is how often the replica's lag is read (default 1s).
	ReplicaCheckInterval time.Duration
	// Logger receives the replica's changes of state (default slog.Default()).
	Logger *slog.Logger
	// TLS, when set, encrypts every MySQL connection, to the primary and to the replica, and
	// verifies the server's certificate against its RootCAs (the system's when nil) and the
	// URL's host name; a certificate in it is offered for mutual TLS. Nil: plaintext. The
	// checks are never skipped: a URL asking for tls=skip-verify is refused.
	TLS *tls.Config
	// TLSPreferred lets a connection to a server that offers no TLS go on in plaintext. A
	// server that offers TLS is verified as with TLS alone. Needs TLS.
	TLSPreferred bool
}

// DB holds the write handle (the primary) and the read handle (a replica, the
// SQLite read pool, or the primary again). It is safe for concurrent use.
type DB struct {
	// W is the primary. Every write and every read-your-own-write goes here.
	W *bun.DB
	// R serves reads. It may lag behind W when it is a replica.
	R *bun.DB
	// Dialect is dialect.MySQL or dialect.SQLite.
	Dialect dialect.Name

	replica *replicaRouter  // nil without a replica
	mysql   mysqlConnection // zero for SQLite
	inserts insertStatements
	logger  *slog.Logger
}

// ReplicaStatus says whether reads go to a replica, and why not.
func (d *DB) ReplicaStatus() ReplicaStatus {
	if d.replica == nil {
		return ReplicaStatus{Lag: -1}
	}
	return d.replica.Status()
}

// Open connects to the database named by opts.URL and checks that it answers.
// A SQLite file and its directory are created when missing.
func Open(ctx context.Context, opts Options) (*DB, error) {
	if opts.MaxOpenConns <= 0 {
		opts.MaxOpenConns = 16
	}
	if opts.SQLiteReadConns <= 0 {
		opts.SQLiteReadConns = 4
	}
	if opts.SQLiteBusyTimeout <= 0 {
		opts.SQLiteBusyTimeout = 10 * time.Second
	}
	if opts.ReplicaMaxLag <= 0 {
		opts.ReplicaMaxLag = 5 * time.Second
	}
	if opts.ReplicaCheckInterval <= 0 {
		opts.ReplicaCheckInterval = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	scheme, _, ok := strings.Cut(opts.URL, "://")
	if !ok {
		return nil, fmt.Errorf("db: open: %q is not a URL (want sqlite://PATH or mysql://user:pass@host:port/db)", redact(opts.URL))
	}
	var (
		d   *DB
		err error
	)
	switch scheme {
	case "sqlite":
		if opts.ReplicaURL != "" {
			return nil, errors.New("db: open: a read replica needs MySQL, not SQLite")
		}
		if opts.TLS != nil {
			return nil, errors.New("db: open: TLS needs MySQL: a SQLite database is a local file")
		}
		d, err = openSQLite(opts)
	case "mysql":
		d, err = openMySQL(opts)
	default:
		return nil, fmt.Errorf("db: open: unsupported scheme %q (want sqlite or mysql)", scheme)
	}
	if err != nil {
		return nil, err
	}
	d.logger = opts.Logger
	d.W.AddQueryHook(yieldHook{})
	if d.R != d.W {
		d.R.AddQueryHook(yieldHook{})
	}
	if err := d.Ping(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// yieldHook makes each statement of background work give way to the
// foreground work of its gate first (priority.Background): a feed run's
// load steps aside, statement by statement, while API requests run in the
// same process.
type yieldHook struct{}

func (yieldHook) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	priority.Yield(ctx)
	return ctx
}

func (yieldHook) AfterQuery(context.Context, *bun.QueryEvent) {}

// Ping checks that both handles answer.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.W.PingContext(ctx); err != nil {
		return fmt.Errorf("db: ping primary: %w", err)
	}
	if d.R != d.W {
		if err := d.R.PingContext(ctx); err != nil {
			return fmt.Errorf("db: ping read handle: %w", err)
		}
	}
	return nil
}

// Close closes both handles.
func (d *DB) Close() error {
	err := errors.Join(d.inserts.close(), d.W.Close())
	if d.R != d.W {
		err = errors.Join(err, d.R.Close())
	}
	if d.replica != nil {
		err = errors.Join(err, d.replica.close())
	}
	d.mysql.release()
	return err
}

// SQLitePath returns the file path of a sqlite:// URL.
func SQLitePath(rawURL string) (string, error) {
	path, ok := strings.CutPrefix(rawURL, "sqlite://")
	if !ok || path == "" {
		return "", fmt.Errorf("db: %q is not a sqlite://PATH URL", rawURL)
	}
	return path, nil
}

// sqliteWriterCacheKiB is the page cache of the SQLite writer connection:
// large enough for a loader batch's dirty index pages, small enough to keep
// an ingest process within its memory budget (README, "Speed layer").
const sqliteWriterCacheKiB = 8 << 10

// sqliteCheckpointPages is the WAL size, in pages, at which the writer
// checkpoints: SQLite's default is a thousand.
const sqliteCheckpointPages = 8192

func openSQLite(opts Options) (*DB, error) {
	path, err := SQLitePath(opts.URL)
	if err != nil {
		return nil, err
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("db: open sqlite: %w", err)
		}
	}
	pragmas := url.Values{}
	for _, p := range []string{
		fmt.Sprintf("busy_timeout(%d)", opts.SQLiteBusyTimeout.Milliseconds()),
		"journal_mode(WAL)",
		// NORMAL is durable across application crashes in WAL mode; only an OS
		// crash or power loss can lose the last transactions, which the
		// at-least-once pipeline replays from Kafka.
		"synchronous(NORMAL)",
		"foreign_keys(1)",
	} {
		pragmas.Add("_pragma", p)
	}
	// The writer takes the write lock at BEGIN, so two transactions never
	// deadlock upgrading from read to write ("database is locked").
	// _timezone=UTC: times read back are in time.UTC, as on MySQL (without it
	// the driver returns them in time.Local or a nameless fixed zone).
	// The writer's page cache holds the pages a loader batch dirties across
	// the performers table's many indexes, so a batch does not spill them
	// to the WAL and read them back before its commit; readers keep the
	// default, as there may be many of them. The writer checkpoints once
	// the WAL holds several batches, so that the index pages every batch
	// touches are copied into the database once for several commits. Its
	// temporary files live in memory: the statement journal of a multi-row
	// insert into a table with a foreign key (the pages that statement
	// changes, kept to undo it alone) is written and dropped within the
	// statement, and through a file each of its pages cost a system call.
	writePragmas := url.Values{"_pragma": append(slices.Clone(pragmas["_pragma"]),
		fmt.Sprintf("cache_size(-%d)", sqliteWriterCacheKiB), fmt.Sprintf("wal_autocheckpoint(%d)", sqliteCheckpointPages),
		"temp_store(MEMORY)")}
	writeDSN := "file:" + path + "?" + writePragmas.Encode() + "&_txlock=immediate&_time_format=sqlite&_timezone=UTC"
	readDSN := "file:" + path + "?" + pragmas.Encode() + "&_query_only=1&_time_format=sqlite&_timezone=UTC"

	wsql, err := sql.Open("sqlite", writeDSN)
	if err != nil {
		return nil, fmt.Errorf("db: open sqlite: %w", err)
	}
	// SQLite allows one writer at a time: one connection serialises writers in
	// Go instead of making them wait on file locks.
	wsql.SetMaxOpenConns(1)
	wsql.SetMaxIdleConns(1)
	wsql.SetConnMaxLifetime(0)
	rsql, err := sql.Open("sqlite", readDSN)
	if err != nil {
		wsql.Close()
		return nil, fmt.Errorf("db: open sqlite: %w", err)
	}
	rsql.SetMaxOpenConns(opts.SQLiteReadConns)
	rsql.SetMaxIdleConns(opts.SQLiteReadConns)
	// A SQLite connection loads the planner's statistics when it opens, and
	// again only when the schema changes, which a later ANALYZE does not do:
	// read connections are replaced every minute, so the statistics the
	// store refreshes (stats.go) reach the reads within a minute.
	rsql.SetConnMaxLifetime(time.Minute)
	return &DB{
		W:       bun.NewDB(wsql, sqlitedialect.New()),
		R:       bun.NewDB(rsql, sqlitedialect.New()),
		Dialect: dialect.SQLite,
	}, nil
}

func openMySQL(opts Options) (*DB, error) {
	if opts.TLSPreferred && opts.TLS == nil {
		return nil, errors.New("db: open: TLSPreferred needs a TLS configuration")
	}
	conn := mysqlConnection{fallbackToPlaintext: opts.TLSPreferred}
	if opts.TLS != nil {
		conn.tlsName = fmt.Sprintf("marquee-%d", tlsConfigs.Add(1))
		if err := mysql.RegisterTLSConfig(conn.tlsName, opts.TLS); err != nil {
			return nil, fmt.Errorf("db: open: TLS: %w", err)
		}
	}
	w, err := openMySQLHandle(opts.URL, conn, opts.MaxOpenConns)
	if err != nil {
		conn.release()
		return nil, err
	}
	d := &DB{W: w, R: w, Dialect: dialect.MySQL, mysql: conn}
	if opts.ReplicaURL != "" {
		if !strings.HasPrefix(opts.ReplicaURL, "mysql://") {
			d.Close()
			return nil, errors.New("db: open: the read replica URL must be mysql://")
		}
		primaryDSN, err := conn.dsn(opts.URL)
		if err != nil {
			d.Close()
			return nil, err
		}
		replicaDSN, err := conn.dsn(opts.ReplicaURL)
		if err != nil {
			d.Close()
			return nil, err
		}
		router, err := newReplicaRouter(primaryDSN, replicaDSN, opts.ReplicaMaxLag, opts.ReplicaCheckInterval,
			opts.Logger.With("db_replica", redact(opts.ReplicaURL)))
		if err != nil {
			d.Close()
			return nil, err
		}
		router.start()
		d.R = bun.NewDB(configurePool(sql.OpenDB(router), opts.MaxOpenConns), newPortableMySQLDialect())
		d.replica = router
	}
	return d, nil
}

// tlsConfigs numbers the TLS configurations registered with the MySQL driver, whose registry
// is process-wide: each Open registers its own and Close removes it.
var tlsConfigs atomic.Int64

// mysqlConnection is how an Open connects to MySQL servers beyond their URLs: the name of its
// registered TLS configuration ("" for plaintext), and whether a server without TLS is
// accepted in plaintext.
type mysqlConnection struct {
	tlsName             string
	fallbackToPlaintext bool
}

// dsn is MySQLDSN with the connection's TLS.
func (c mysqlConnection) dsn(rawURL string) (string, error) {
	cfg, err := mysqlConfig(rawURL)
	if err != nil {
		return "", err
	}
	cfg.TLSConfig = c.tlsName
	cfg.AllowFallbackToPlaintext = c.fallbackToPlaintext
	return cfg.FormatDSN(), nil
}

// release removes the connection's TLS configuration from the driver's registry.
func (c mysqlConnection) release() {
	if c.tlsName != "" {
		mysql.DeregisterTLSConfig(c.tlsName)
	}
}

func openMySQLHandle(rawURL string, conn mysqlConnection, maxOpen int) (*bun.DB, error) {
	dsn, err := conn.dsn(rawURL)
	if err != nil {
		return nil, err
	}
	sqldb, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, fmt.Errorf("db: open mysql: %w", err)
	}
	return bun.NewDB(configurePool(sqldb, maxOpen), newPortableMySQLDialect()), nil
}

// configurePool sizes a MySQL pool.
func configurePool(sqldb *sql.DB, maxOpen int) *sql.DB {
	sqldb.SetMaxOpenConns(maxOpen)
	sqldb.SetMaxIdleConns(maxOpen)
	// Below the usual server wait_timeout and proxy idle limits.
	sqldb.SetConnMaxLifetime(5 * time.Minute)
	return sqldb
}

// MySQLDSN turns a mysql://user:pass@host:port/db URL into a go-sql-driver DSN
// with parseTime, UTC, utf8mb4 and MySQL 8's strict sql_mode forced, without TLS
// (Options.TLS adds it).
func MySQLDSN(rawURL string) (string, error) {
	return mysqlConnection{}.dsn(rawURL)
}

// mysqlConfig is MySQLDSN's driver configuration.
func mysqlConfig(rawURL string) (*mysql.Config, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "mysql" {
		return nil, fmt.Errorf("db: %q is not a mysql://user:pass@host:port/db URL", redact(rawURL))
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" || strings.Contains(name, "/") {
		return nil, fmt.Errorf("db: %q names no database", redact(rawURL))
	}
	// TLS comes only from Options, where its certificate checks cannot be switched off
	// (tls=skip-verify and tls=preferred would).
	for _, k := range []string{"tls", "allowFallbackToPlaintext"} {
		if u.Query().Has(k) {
			return nil, fmt.Errorf("db: %q: set TLS with MARQUEE_DB_TLS (and its CA file), not with the URL parameter %s", redact(rawURL), k)
		}
	}
	cfg := mysql.NewConfig()
	cfg.Net = "tcp"
	cfg.Addr = u.Host
	if u.Port() == "" {
		cfg.Addr = u.Host + ":3306"
	}
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.DBName = name
	cfg.Params = map[string]string{}
	for k, vs := range u.Query() {
		if len(vs) > 0 {
			cfg.Params[k] = vs[len(vs)-1]
		}
	}
	for _, k := range []string{"parseTime", "loc", "charset", "sql_mode", "time_zone"} {
		delete(cfg.Params, k)
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.Params["charset"] = "utf8mb4"
	cfg.Params["sql_mode"] = "'" + mysqlSQLMode + "'"
	cfg.Params["time_zone"] = "'+00:00'"
	cfg.Timeout = 10 * time.Second
	cfg.ReadTimeout = 60 * time.Second
	cfg.WriteTimeout = 60 * time.Second
	return cfg, nil
}

// redact hides the password of a URL for error messages.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		return rawURL
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// portableMySQLDialect is bun's MySQL dialect with the features that only some
// servers have switched off, so that MariaDB and MySQL 8 get the same SQL:
// bun would otherwise use RETURNING on MariaDB and CTEs on MySQL 8.
type portableMySQLDialect struct {
	*mysqldialect.Dialect
}

const nonPortableMySQLFeatures = feature.InsertReturning | feature.DeleteReturning |
	feature.CTE | feature.WithValues | feature.DeleteTableAlias | feature.CreateIndexIfNotExists

func newPortableMySQLDialect() *portableMySQLDialect {
	return &portableMySQLDialect{Dialect: mysqldialect.New(mysqldialect.WithTimeLocation("UTC"))}
}

func (d *portableMySQLDialect) Features() feature.Feature {
	return d.Dialect.Features().Remove(nonPortableMySQLFeatures)
}

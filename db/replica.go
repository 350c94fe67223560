package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
)

// ReplicaStatus is what the read handle knows about the replica.
type ReplicaStatus struct {
	// Configured is false without a replica: reads go to the primary.
	Configured bool
	// InUse says whether new read connections go to the replica.
	InUse bool
	// Lag is the replica's delay behind the primary at the last check; -1
	// when unknown (replication stopped, or the replica did not answer).
	Lag time.Duration
	// Err is why the replica is not in use, nil when it is.
	Err error
	// CheckedAt is when the replica was last checked.
	CheckedAt time.Time
}

// replicaRouter is the driver.Connector behind the read handle when a
// replica is configured. New connections go to the replica while it answers
// and lags less than maxLag, else to the primary. The store never notices:
// it reads through DB.R as before.
//
// A background check reads the replica's replication status every interval.
// A replica that refuses a connection is dropped at once, without waiting
// for the next check. Pooled connections to the side no longer preferred
// report themselves invalid (driver.Validator), so database/sql replaces
// them on their next use and the switch takes effect within one check.
type replicaRouter struct {
	primary, replica driver.Connector
	maxLag           time.Duration
	interval         time.Duration
	logger           *slog.Logger
	// checker is a small pool of its own to the replica, for the checks.
	checker *sql.DB

	useReplica atomic.Bool
	mu         sync.Mutex
	status     ReplicaStatus
	stop       context.CancelFunc
	done       chan struct{}
}

func newReplicaRouter(primaryDSN, replicaDSN string, maxLag, interval time.Duration, logger *slog.Logger) (*replicaRouter, error) {
	primary, err := mysqlConnector(primaryDSN)
	if err != nil {
		return nil, err
	}
	replica, err := mysqlConnector(replicaDSN)
	if err != nil {
		return nil, err
	}
	checker := sql.OpenDB(replica)
	checker.SetMaxOpenConns(1)
	checker.SetMaxIdleConns(1)
	return &replicaRouter{
		primary: primary, replica: replica, maxLag: maxLag, interval: interval, logger: logger,
		checker: checker, status: ReplicaStatus{Configured: true, Lag: -1},
	}, nil
}

func mysqlConnector(dsn string) (driver.Connector, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("db: open mysql: %w", err)
	}
	return mysql.NewConnector(cfg)
}

// start runs one check now, so that the first reads already know whether
// the replica is usable, then checks every interval until close.
func (r *replicaRouter) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.stop, r.done = cancel, make(chan struct{})
	r.check(ctx)
	go func() {
		defer close(r.done)
		t := time.NewTicker(r.interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				r.check(ctx)
			}
		}
	}()
}

func (r *replicaRouter) close() error {
	if r.stop != nil {
		r.stop()
		<-r.done
	}
	return r.checker.Close()
}

// check reads the replica's lag and decides where reads go.
func (r *replicaRouter) check(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, max(r.interval, 2*time.Second))
	defer cancel()
	lag, err := replicationLag(ctx, r.checker)
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return // closing
	}
	if err == nil && lag > r.maxLag {
		err = fmt.Errorf("replica lags %s behind the primary, more than the %s allowed", lag, r.maxLag)
	}
	r.set(err == nil, lag, err)
}

// set records the outcome of a check or a failed connection, and logs
// every change of side.
func (r *replicaRouter) set(use bool, lag time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	was := r.status.InUse
	first := r.status.CheckedAt.IsZero()
	r.status.InUse, r.status.Lag, r.status.Err, r.status.CheckedAt = use, lag, err, time.Now()
	r.useReplica.Store(use)
	switch {
	case use && (!was || first):
		r.logger.Info("reads go to the replica", "lag", lag)
	case !use && (was || first):
		r.logger.Warn("reads go to the primary: the replica is unusable", "err", err)
	}
}

// Status returns the last known state of the replica.
func (r *replicaRouter) Status() ReplicaStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// replicationLag reads how far the server behind db is behind its primary.
// A server that replicates from nothing is not a replica: an error, since
// reads from it would never see a write.
func replicationLag(ctx context.Context, db *sql.DB) (time.Duration, error) {
	// MySQL 8.0.22+ and MariaDB 10.5+ know SHOW REPLICA STATUS; older ones
	// only SHOW SLAVE STATUS.
	rows, err := db.QueryContext(ctx, "SHOW REPLICA STATUS")
	if err != nil {
		var myErr *mysql.MySQLError
		if !errors.As(err, &myErr) || myErr.Number != 1064 { // 1064: syntax error
			return -1, fmt.Errorf("reading the replica's status: %w", err)
		}
		if rows, err = db.QueryContext(ctx, "SHOW SLAVE STATUS"); err != nil {
			return -1, fmt.Errorf("reading the replica's status: %w", err)
		}
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return -1, err
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return -1, err
		}
		return -1, errors.New("the replica server replicates from no primary")
	}
	values := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range values {
		ptrs[i] = &values[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return -1, err
	}
	field := func(names ...string) sql.NullString {
		for i, c := range cols {
			for _, n := range names {
				if c == n {
					return values[i]
				}
			}
		}
		return sql.NullString{}
	}
	io := field("Replica_IO_Running", "Slave_IO_Running")
	sqlThread := field("Replica_SQL_Running", "Slave_SQL_Running")
	if io.String != "Yes" || sqlThread.String != "Yes" {
		return -1, fmt.Errorf("replication is not running (IO thread %q, SQL thread %q)", io.String, sqlThread.String)
	}
	behind := field("Seconds_Behind_Source", "Seconds_Behind_Master")
	if !behind.Valid {
		return -1, errors.New("the replica does not know its lag")
	}
	secs, err := strconv.ParseInt(behind.String, 10, 64)
	if err != nil {
		return -1, fmt.Errorf("the replica's lag %q: %w", behind.String, err)
	}
	return time.Duration(secs) * time.Second, nil
}

// Connect opens a read connection: to the replica while it is usable, else,
// or when the replica refuses, to the primary.
func (r *replicaRouter) Connect(ctx context.Context) (driver.Conn, error) {
	if r.useReplica.Load() {
		c, err := r.replica.Connect(ctx)
		if err == nil {
			return newRoutedConn(c, r, true)
		}
		if ctx.Err() != nil {
			return nil, err
		}
		r.set(false, -1, fmt.Errorf("connecting to the replica: %w", err))
	}
	c, err := r.primary.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return newRoutedConn(c, r, false)
}

// Driver is the MySQL driver.
func (r *replicaRouter) Driver() driver.Driver { return r.primary.Driver() }

// driverConn is what the MySQL driver's connections implement, and what
// routedConn passes through, so that database/sql uses them exactly as it
// would without the router.
type driverConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.QueryerContext
	driver.ExecerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
	driver.NamedValueChecker
}

// routedConn is a connection of the read pool that remembers its side.
type routedConn struct {
	driverConn
	router    *replicaRouter
	onReplica bool
}

func newRoutedConn(c driver.Conn, r *replicaRouter, onReplica bool) (driver.Conn, error) {
	dc, ok := c.(driverConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("db: the MySQL driver's connection %T lacks an interface the replica router needs", c)
	}
	return &routedConn{driverConn: dc, router: r, onReplica: onReplica}, nil
}

// IsValid reports false once the router prefers the other side, so that the
// pool drops this connection instead of reusing it.
func (c *routedConn) IsValid() bool {
	return c.router.useReplica.Load() == c.onReplica && c.driverConn.IsValid()
}

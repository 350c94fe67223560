// Package dbtest gives each test a database of its own, for tests only: a
// fresh SQLite file, or a fresh, empty utf8mb4 MySQL database that is dropped
// when the test ends. It does not import package db, so db's own tests can
// use it too.
//
// The MySQL server is found once per test process, in this order:
//
//  1. MARQUEE_TEST_MYSQL_DSN, a mysql://user:pass@host:port/db URL of an
//     account that may create and drop databases. `make test` sets it through
//     scripts/test-mysql.sh, which starts a throw-away MariaDB or MySQL when
//     one is installed.
//  2. A MySQL 8 container (image mysql:8.0) started with dockertest, where a
//     Docker engine answers a ping.
//  3. None: MySQL tests are skipped, or fail when CI=true.
//
// A package whose tests call MySQLURL (directly or through Backends) must run
// them through Main, so that a container started for them is removed when
// they end:
//
//	func TestMain(m *testing.M) { dbtest.Main(m) }
//
// A test process killed before Main returns leaves the container running; it
// carries the label marquee.dbtest and is removed with
// `docker rm -f $(docker ps -qf label=marquee.dbtest)`.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/ory/dockertest/v3"
	"github.com/ory/dockertest/v3/docker"
)

// EnvMySQLDSN names the variable holding the mysql:// URL of the test server.
const EnvMySQLDSN = "MARQUEE_TEST_MYSQL_DSN"

// ContainerLabel is set on the MySQL container that dockertest starts.
const ContainerLabel = "marquee.dbtest"

const (
	// databasePrefix starts the name of every database MySQLURL creates.
	databasePrefix = "marquee_t_"
	// adminTimeout bounds each statement of the shared admin connection.
	adminTimeout = 30 * time.Second
	// dockerPingTimeout bounds the check whether a Docker engine answers.
	dockerPingTimeout = 10 * time.Second
	// containerStartTimeout bounds the wait for MySQL 8 in a new container to
	// answer: its first start initialises the data directory (20-60 s).
	containerStartTimeout = 3 * time.Minute
	// mysql8SQLMode is MySQL 8's default sql_mode, set on the container too.
	mysql8SQLMode = "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
)

// Backend is one database implementation a store suite runs against.
type Backend struct {
	// Name is the subtest name: "sqlite" or "mysql".
	Name string
	// URL returns the MARQUEE_DB-style URL of a fresh, empty database owned by
	// the test; it skips or fails the test as MySQLURL does.
	URL func(testing.TB) string
}

// Backends returns SQLite, then MySQL, for suites that run on every database:
//
//	for _, b := range dbtest.Backends() {
//		t.Run(b.Name, func(t *testing.T) { url := b.URL(t); ... })
//	}
func Backends() []Backend {
	return []Backend{
		{Name: "sqlite", URL: SQLiteURL},
		{Name: "mysql", URL: MySQLURL},
	}
}

// SQLiteURL returns a sqlite:// URL of a database file that does not exist
// yet, in a directory removed when the test ends.
func SQLiteURL(t testing.TB) string {
	t.Helper()
	return "sqlite://" + filepath.Join(t.TempDir(), "marquee.db")
}

// MySQLURL creates an empty database (utf8mb4, utf8mb4_bin) unique to this
// test and returns its mysql://user:pass@host:port/name URL; the database is
// dropped when the test and its subtests end, after cleanups registered later
// (such as closing the test's connections) have run. Without a server it
// skips the test, or fails it when CI=true. Safe for parallel tests.
func MySQLURL(t testing.TB) string {
	t.Helper()
	s := mysqlServer()
	if s.err != nil {
		t.Fatalf("dbtest: MySQL server: %v", s.err)
	}
	if s.admin == nil {
		if requireMySQL(os.Getenv("CI")) {
			t.Fatalf("MySQL is required under CI=true: set %s, install mariadbd, or run a Docker engine (%s)",
				EnvMySQLDSN, s.unavailable)
		}
		t.Skipf("MYSQL TESTS SKIPPED: %s. Run them with `make test` (scripts/test-mysql.sh) where mariadbd "+
			"or mysqld is installed, set %s, or run a Docker engine", s.unavailable, EnvMySQLDSN)
	}

	name := databasePrefix + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if _, err := s.admin.ExecContext(ctx,
		"CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		t.Fatalf("dbtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
		defer cancel()
		if _, err := s.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("dbtest: drop database %s: %v", name, err)
		}
	})
	u := *s.base
	u.Path = "/" + name
	return u.String()
}

// Main runs the package's tests, then closes the shared admin connection and
// removes the MySQL container if MySQLURL started one, and exits with the
// tests' status. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if err := shutdown(); err != nil {
		fmt.Fprintf(os.Stderr, "dbtest: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// requireMySQL reports whether a missing MySQL server fails tests instead of
// skipping them, given the value of the CI variable.
func requireMySQL(ci string) bool {
	required, err := strconv.ParseBool(ci)
	return err == nil && required
}

// server is the MySQL server of this test process. Exactly one of admin
// (with base), unavailable or err is set.
type server struct {
	// admin is the shared pool of the account that creates test databases.
	admin *sql.DB
	// base is the mysql:// URL of that account; MySQLURL swaps in the path.
	base *url.URL
	// unavailable says why no server was found.
	unavailable string
	// err is why a server that was named or started does not work.
	err error

	pool      *dockertest.Pool
	container *dockertest.Resource
}

var (
	serverOnce sync.Once
	theServer  server
)

func mysqlServer() *server {
	serverOnce.Do(func() { theServer = findServer() })
	return &theServer
}

func findServer() server {
	if raw := os.Getenv(EnvMySQLDSN); raw != "" {
		s, err := connect(raw)
		if err != nil {
			return server{err: fmt.Errorf("%s: %w", EnvMySQLDSN, err)}
		}
		return s
	}

	pool, err := dockertest.NewPool("")
	if err != nil {
		return server{unavailable: fmt.Sprintf("%s is unset and there is no Docker client: %v", EnvMySQLDSN, err)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), dockerPingTimeout)
	defer cancel()
	if err := pool.Client.PingWithContext(ctx); err != nil {
		return server{unavailable: fmt.Sprintf("%s is unset and no Docker engine answers: %v", EnvMySQLDSN, err)}
	}
	s, err := startContainer(pool)
	if err != nil {
		return server{err: fmt.Errorf("docker %s: %w", "mysql:8.0", err)}
	}
	return s
}

// startContainer runs MySQL 8 on a random port of 127.0.0.1 and connects to it.
func startContainer(pool *dockertest.Pool) (server, error) {
	password := randomHex(16)
	container, err := pool.RunWithOptions(&dockertest.RunOptions{
		Repository: "mysql",
		Tag:        "8.0",
		Env:        []string{"MYSQL_ROOT_PASSWORD=" + password},
		Cmd: []string{
			"--character-set-server=utf8mb4",
			"--collation-server=utf8mb4_bin",
			"--sql-mode=" + mysql8SQLMode,
			"--skip-log-bin",
			"--performance-schema=OFF",
			"--innodb-buffer-pool-size=256M",
			"--max-connections=500",
			"--mysqlx=OFF",
		},
		Labels: map[string]string{ContainerLabel: "1"},
		// Reachable from this machine only.
		PortBindings: map[docker.Port][]docker.PortBinding{"3306/tcp": {{HostIP: "127.0.0.1"}}},
	}, func(hc *docker.HostConfig) {
		hc.PublishAllPorts = false
		hc.AutoRemove = true
		hc.RestartPolicy = docker.RestartPolicy{Name: "no"}
	})
	if err != nil {
		return server{}, fmt.Errorf("start container: %w", err)
	}
	raw := (&url.URL{
		Scheme: "mysql",
		User:   url.UserPassword("root", password),
		Host:   container.GetHostPort("3306/tcp"),
		Path:   "/mysql",
	}).String()
	var s server
	pool.MaxWait = containerStartTimeout
	err = pool.Retry(func() error {
		s, err = connect(raw)
		return err
	})
	if err != nil {
		return server{}, errors.Join(fmt.Errorf("wait for MySQL: %w", err), pool.Purge(container))
	}
	s.pool, s.container = pool, container
	return s, nil
}

// connect opens the shared admin pool for a mysql:// URL and checks that it
// answers.
func connect(raw string) (server, error) {
	u, cfg, err := parseMySQLURL(raw)
	if err != nil {
		return server{}, err
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return server{}, fmt.Errorf("%s: %w", redact(u), err)
	}
	admin := sql.OpenDB(connector)
	admin.SetMaxOpenConns(4)
	admin.SetMaxIdleConns(4)
	admin.SetConnMaxLifetime(5 * time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		return server{}, fmt.Errorf("%s: %w", redact(u), err)
	}
	return server{admin: admin, base: u}, nil
}

// parseMySQLURL turns mysql://user:pass@host[:port][/db] into a go-sql-driver
// configuration: TCP, port 3306 by default, parseTime in UTC, one statement
// per query.
func parseMySQLURL(raw string) (*url.URL, *mysql.Config, error) {
	// Messages never quote raw: it holds a password.
	u, err := url.Parse(raw)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return nil, nil, fmt.Errorf("not a mysql://user:pass@host:port/db URL: %w", err)
	}
	if u.Scheme != "mysql" {
		return nil, nil, fmt.Errorf("not a mysql://user:pass@host:port/db URL (scheme %q)", u.Scheme)
	}
	if u.Host == "" || u.User == nil || u.User.Username() == "" {
		return nil, nil, fmt.Errorf("%s is not a mysql://user:pass@host:port/db URL", redact(u))
	}
	if u.RawQuery != "" {
		return nil, nil, fmt.Errorf("%s: query parameters are not supported", redact(u))
	}
	cfg := mysql.NewConfig()
	cfg.Net = "tcp"
	cfg.Addr = u.Host
	if u.Port() == "" {
		cfg.Addr = net.JoinHostPort(u.Hostname(), "3306")
	}
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.DBName = u.Path
	if len(cfg.DBName) > 0 && cfg.DBName[0] == '/' {
		cfg.DBName = cfg.DBName[1:]
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.MultiStatements = false
	cfg.Timeout = 10 * time.Second
	cfg.ReadTimeout = adminTimeout
	cfg.WriteTimeout = adminTimeout
	return u, cfg, nil
}

// redact hides the password of a URL for messages.
func redact(u *url.URL) string {
	if _, ok := u.User.Password(); ok {
		c := *u
		c.User = url.UserPassword(u.User.Username(), "xxxxx")
		return c.String()
	}
	return u.String()
}

// shutdown releases what mysqlServer acquired: the admin pool and container.
func shutdown() error {
	s := &theServer
	var errs []error
	if s.admin != nil {
		errs = append(errs, s.admin.Close())
	}
	if s.container != nil {
		if err := s.pool.Purge(s.container); err != nil {
			errs = append(errs, fmt.Errorf("remove MySQL container %s: %w", s.container.Container.ID, err))
		}
	}
	return errors.Join(errs...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b)
}

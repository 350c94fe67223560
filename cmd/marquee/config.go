package main

import (
	"log/slog"
	"path/filepath"
	"time"
)

// Config holds every setting of the binary. Each field is one flag and one
// environment variable (see flags); a subcommand declares only the settings
// it uses, so that its --help lists exactly those. Defaults are set in
// defaultConfig, each with the reason for its value.
type Config struct {
	// DataDir holds the embedded database, the lock file, and later the
	// broker log, the image files and the embedded API token.
	DataDir string
	// DB is the database URL: sqlite://PATH or mysql://user:pass@host:3306/db.
	// Empty means sqlite://DATA_DIR/marquee.db (see resolve).
	DB string
	// DBReplica is a MySQL read replica URL; empty reads from DB.
	DBReplica string
	// HTTPAddr is where long-running commands serve HTTP.
	HTTPAddr string
	// MigrateLockWait is how long to wait for another process's migration lock.
	MigrateLockWait time.Duration
	// ShutdownTimeout is how long in-flight HTTP requests may take to finish
	// after SIGINT or SIGTERM.
	ShutdownTimeout time.Duration
	// LogLevel is the least severe level logged.
	LogLevel slog.Level
	// LogFormat is text, json, or auto (text on a terminal, json otherwise).
	LogFormat logFormat
}

func defaultConfig() Config {
	return Config{
		// Relative, so that `make run` in a checkout keeps its state in the
		// checkout and needs no set-up.
		DataDir: "./data",
		// Empty: derived from the effective data dir in resolve, so that
		// --data-dir alone moves the database too.
		DB: "",
		// The documented port; behind a proxy or in compose it is remapped.
		HTTPAddr: ":8080",
		// Long enough for another instance's migrations to finish at the same
		// start-up; short enough that a lock left by a crash is reported in a
		// minute (release it with `marquee migrate unlock`).
		MigrateLockWait: 60 * time.Second,
		// Inside the 10s that `docker stop` grants before SIGKILL, leaving
		// time to close the database and release the lock after the server.
		ShutdownTimeout: 8 * time.Second,
		// Info: start-up, shutdown and problems, not every request.
		LogLevel:  slog.LevelInfo,
		LogFormat: logFormatAuto,
	}
}

// resolve fills in the settings whose defaults derive from others. Call it
// after parsing.
func (c *Config) resolve() {
	if c.DB == "" {
		c.DB = "sqlite://" + filepath.Join(c.DataDir, "marquee.db")
	}
}

// declareLogging declares the settings of the logger every command has.
func (c *Config) declareLogging(f *flags) {
	f.Text(&c.LogLevel, "log-level", "least severe `level` logged: debug, info, warn or error")
	f.Text(&c.LogFormat, "log-format", "log line `format`: text, json, or auto (text on a terminal, json otherwise)")
}

// declareDatabase declares the settings that locate the primary database.
func (c *Config) declareDatabase(f *flags) {
	f.String(&c.DataDir, "data-dir", "data `directory`: embedded database, lock file")
	f.String(&c.DB, "db", "database `URL`: sqlite://PATH or mysql://user:pass@host:3306/db (default sqlite://DATA_DIR/marquee.db)")
	f.Duration(&c.MigrateLockWait, "migrate-lock-wait", "how long to wait for another process's migration lock")
}

// declareReplica declares the read replica setting, for commands that serve reads.
func (c *Config) declareReplica(f *flags) {
	f.String(&c.DBReplica, "db-replica", "read replica `URL` (mysql:// only); reads go to the primary when empty")
}

// declareHTTP declares the settings of the HTTP server of long-running commands.
func (c *Config) declareHTTP(f *flags) {
	f.String(&c.HTTPAddr, "http-addr", "listen `address` for the API, /healthz, /readyz and /metrics")
	f.Duration(&c.ShutdownTimeout, "shutdown-timeout", "how long in-flight requests may take to finish after SIGINT or SIGTERM")
}

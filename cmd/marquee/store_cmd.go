package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"marquee/db"
)

const storeAbout = `Moves a Marquee database between SQLite and MySQL:

  marquee store copy --from URL --to URL [--resume]   copy every table, ids kept

See docs/operations.md for the runbook (stop, copy, point MARQUEE_DB, start).`

// storeCommand is `marquee store copy`.
func storeCommand(ctx context.Context, args []string, env environment) int {
	return dispatchSubcommand(ctx, args, env, "store", storeAbout, []subcommand{{"copy", storeCopyCommand}})
}

const storeCopyAbout = `Copies every table of the database --from into the database --to, each a
sqlite://PATH or mysql://user:pass@host:3306/db URL (as MARQUEE_DB): performers
with their ids, aliases, thumbnails, tags and search words, images, the
compactor's records, the hashes ingest published, and feed runs with their
rejects and warnings. Pointed at the copy, with the image store (the images/
folder of the data dir) copied or mounted as it is, the next feed run publishes
nothing and fetches no image.

Stop every process that writes --from first: a SQLite database whose data dir a
marquee process holds is refused. --from must be at this version's latest
migration (run marquee migrate against it); --to is migrated to it. --to must
hold no rows: a copy that was cut off (killed, a lost connection) is finished
with --resume, which skips the rows already there; running it again changes
nothing. --db-tls and its files apply to whichever side is MySQL.`

// storeCopyCommand is `marquee store copy --from URL --to URL [--resume]`.
func storeCopyCommand(ctx context.Context, args []string, env environment) int {
	cfg := defaultConfig()
	f := newFlags("marquee store copy --from URL --to URL [--resume] [flags]", storeCopyAbout)
	var from, to string
	var opts db.CopyOptions
	opts.BatchSize = 1000
	f.set.StringVar(&from, "from", "", "database `URL` to copy: sqlite://PATH or mysql://user:pass@host:3306/db")
	f.set.StringVar(&to, "to", "", "database `URL` to copy into; it must be empty unless --resume")
	f.set.BoolVar(&opts.Resume, "resume", false, "finish a copy that was cut off: keep the rows --to has")
	f.set.IntVar(&opts.BatchSize, "batch-size", opts.BatchSize, "rows per transaction on --to")
	cfg.declareDatabaseTLS(f)
	cfg.declareLogging(f)
	if code, ok := f.parseFlagsOnly(args, env); !ok {
		return code
	}
	var err error
	switch {
	case from == "" || to == "":
		err = &usageError{"name both databases: --from URL --to URL"}
	case from == to:
		err = &usageError{"--from and --to name the same database"}
	case opts.BatchSize < 1:
		err = &usageError{"--batch-size must be at least 1"}
	}
	if err != nil {
		return f.usageExit(err, env)
	}
	cfg.resolve()
	logger := newLogger(env.stderr, cfg)
	locked := map[string]bool{}
	open := func(side, url string) (*db.DB, func(), error) {
		if !strings.HasPrefix(url, "sqlite://") && !strings.HasPrefix(url, "mysql://") {
			return nil, nil, &usageError{fmt.Sprintf("--%s: want sqlite://PATH or mysql://user:pass@host:3306/db", side)}
		}
		release := func() {}
		if path, err := db.SQLitePath(url); err == nil && !locked[filepath.Dir(path)] {
			// No marquee process may use a SQLite side during the copy.
			lock, err := lockDataDir(filepath.Dir(path))
			if err != nil {
				return nil, nil, fmt.Errorf("--%s: %w", side, err)
			}
			locked[filepath.Dir(path)] = true
			release = func() { lock.Release() }
		}
		c := cfg
		c.DB, c.DBReplica = url, ""
		if strings.HasPrefix(url, "sqlite://") {
			c.DBTLS, c.DBTLSCAFile, c.DBTLSCertFile, c.DBTLSKeyFile = "", "", "", ""
		}
		d, err := openDatabase(ctx, c)
		if err != nil {
			release()
			return nil, nil, fmt.Errorf("--%s: %w", side, err)
		}
		return d, func() { d.Close(); release() }, nil
	}
	src, closeSrc, err := open("from", from)
	if err != nil {
		return failed(logger, "marquee store copy", err, f, env)
	}
	defer closeSrc()
	dst, closeDst, err := open("to", to)
	if err != nil {
		return failed(logger, "marquee store copy", err, f, env)
	}
	defer closeDst()

	res, err := db.Copy(ctx, src, dst, opts)
	if err != nil {
		if res.Total() > 0 && !errors.Is(err, db.ErrCopyTargetNotEmpty) {
			logger.Error("marquee store copy was cut off: run it again with --resume to finish", "rows", res.Total())
		}
		return failed(logger, "marquee store copy", err, f, env)
	}
	for _, m := range res.Migrated {
		logger.Info("migrated the target", "migration", m)
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, t := range res.Rows {
		fmt.Fprintf(tw, "%s\t%d\t\n", t.Table, t.Rows)
	}
	tw.Flush()
	seconds := res.Elapsed.Seconds()
	rate := 0.0
	if seconds > 0 {
		rate = float64(res.Total()) / seconds
	}
	fmt.Fprintf(env.stdout, "copied %d rows in %s (%.0f rows/s)\n", res.Total(), res.Elapsed.Round(1e6), rate)
	return exitOK
}

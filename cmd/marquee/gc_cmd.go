package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"marquee/db"
	"marquee/imaging"
)

const gcAbout = `Finds the stored image files whose bytes no performer in the feed has used
for longer than the grace period, and with --apply deletes them. Bytes are in
use while a thumbnail of a performer that is not removed shows them; a
removed performer's images stay for the grace period, so that a performer
that comes back within it is not fetched again. Files no record names (a
fetch cut off by a crash) go once they are older than the grace. Deleted
images become pending: a feed run that carries their URLs again requests
them. Safe while compactors run: a file is taken out of service, the fetches
open at that moment are waited for, and the file is deleted only when the
database still says nothing used its bytes since. Prints each file, then the
files and bytes. 'marquee run' and 'marquee imaging' run it daily with
--apply unless --images-gc is false. Exits 1 when it fails.`

// gcClaimWait bounds how long a collection waits for the fetches open when
// it took files out of service: longer than a fetch with all its retries
// takes, so that only a stalled compactor makes it keep the files.
const gcClaimWait = 10 * time.Minute

// imagingGCCommand is `marquee imaging gc [--apply] [--grace D]`.
func imagingGCCommand(ctx context.Context, args []string, env environment) int {
	cfg := defaultConfig()
	f := newFlags("marquee imaging gc [--apply] [--grace 30d] [flags]", gcAbout)
	var apply bool
	var grace graceDuration
	f.set.BoolVar(&apply, "apply", false, "delete the files found (without it: only list them)")
	f.set.TextVar(&grace, "grace", &cfg.ImagesGCGrace, "the same as --images-gc-grace")
	cfg.declareDatabase(f)
	cfg.declareImagesStore(f)
	cfg.declareImagesGC(f, false)
	cfg.declareLogging(f)
	if code, ok := f.parseFlagsOnly(args, env); !ok {
		return code
	}
	if f.given["grace"] {
		cfg.ImagesGCGrace = grace
	}
	cfg.resolve()
	logger := newLogger(env.stderr, cfg)
	database, err := openAndMigrate(ctx, cfg, logger)
	if err != nil {
		return failed(logger, "marquee imaging gc", err, f, env)
	}
	defer database.Close()
	files, err := openImagesStore(ctx, cfg, false)
	if err != nil {
		return failed(logger, "marquee imaging gc", err, f, env)
	}
	gc := newImageGC(cfg, db.NewStore(database), files, logger)
	gc.Apply = apply
	report, err := gc.Run(ctx)
	for _, file := range report.Garbage {
		what := "unused since " + file.Since.UTC().Format(time.RFC3339)
		if file.Orphan {
			what = "no record, written " + file.Since.UTC().Format(time.RFC3339)
		}
		switch {
		case !apply:
			fmt.Fprintf(env.stdout, "would delete %s bytes=%d %s\n", file.ContentSHA256, file.Bytes, what)
		case file.Deleted:
			fmt.Fprintf(env.stdout, "deleted %s bytes=%d %s\n", file.ContentSHA256, file.Bytes, what)
		default:
			fmt.Fprintf(env.stdout, "kept %s bytes=%d: %s\n", file.ContentSHA256, file.Bytes, file.Kept)
		}
	}
	if err != nil {
		return failed(logger, "marquee imaging gc", err, f, env)
	}
	total, totalBytes := report.Total()
	freed, freedBytes := report.Freed()
	if apply {
		fmt.Fprintf(env.stdout, "scanned=%d deleted=%d freed_bytes=%d kept=%d\n", report.Scanned, freed, freedBytes, total-freed)
	} else {
		fmt.Fprintf(env.stdout, "scanned=%d garbage=%d garbage_bytes=%d (dry run: --apply deletes them)\n", report.Scanned, total, totalBytes)
	}
	return exitOK
}

// newImageGC is the image garbage collection of cfg, without Apply.
func newImageGC(cfg Config, store *db.Store, files imaging.ObjectStore, logger *slog.Logger) *imaging.GC {
	return &imaging.GC{
		Store:     store,
		Files:     files,
		Variants:  variantRemover(store, files),
		Grace:     time.Duration(cfg.ImagesGCGrace),
		ClaimWait: gcClaimWait,
		Poll:      time.Second,
		Logger:    logger,
	}
}

// startImageGC runs the image garbage collection with --apply at once and
// then daily until ctx ends, unless cfg turns it off. The function it
// returns waits for the collection to stop.
func startImageGC(ctx context.Context, cfg Config, store *db.Store, files imaging.ObjectStore, logger *slog.Logger) (wait func()) {
	if !cfg.ImagesGC {
		return func() {}
	}
	gc := newImageGC(cfg, store, files, logger)
	gc.Apply = true
	done := make(chan struct{})
	go func() {
		defer close(done)
		gc.RunEvery(ctx, 24*time.Hour)
	}()
	return func() { <-done }
}

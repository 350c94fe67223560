package main

import (
	"context"
	"errors"
	"fmt"

	"marquee/imaging"
)

const imagingCopyAbout = `Copies every object of the image store --from into the image store --to,
each a file://PATH or s3://BUCKET[/PREFIX] URL (as MARQUEE_IMAGES_STORE), under
the same keys: the original bytes, their variants, and what a garbage
collection had parked. It moves a directory store into a bucket and back
(docs/operations.md has the runbook); the --s3-* settings reach the bucket.
Objects copied into a bucket carry the media type their bytes show and
immutable caching.

Every object is written whole or not at all. --to must hold no object: a copy
that was cut off is finished with --resume, which keeps the objects --to has
with the size they have in --from; running it again copies nothing. Stop the
compactors (or let them write the new store already) before the last run.
Prints the objects and bytes copied and skipped.`

// imagingCopyCommand is `marquee imaging copy --from URL --to URL [--resume]`.
func imagingCopyCommand(ctx context.Context, args []string, env environment) int {
	cfg := defaultConfig()
	f := newFlags("marquee imaging copy --from URL --to URL [--resume] [flags]", imagingCopyAbout)
	var from, to string
	var opts imaging.CopyOptions
	f.set.StringVar(&from, "from", "", "image store `URL` to copy: file://PATH or s3://BUCKET[/PREFIX]")
	f.set.StringVar(&to, "to", "", "image store `URL` to copy into; it must be empty unless --resume")
	f.set.BoolVar(&opts.Resume, "resume", false, "finish a copy that was cut off: keep the objects --to has")
	cfg.declareS3(f)
	cfg.declareLogging(f)
	if code, ok := f.parseFlagsOnly(args, env); !ok {
		return code
	}
	switch {
	case from == "" || to == "":
		return f.usageExit(&usageError{"name both image stores: --from URL --to URL"}, env)
	case from == to:
		return f.usageExit(&usageError{"--from and --to name the same image store"}, env)
	}
	logger := newLogger(env.stderr, cfg)
	open := func(side, url string, readOnly bool) (imaging.ObjectStore, error) {
		c := cfg
		c.ImagesStore = url
		store, err := openImagesStore(ctx, c, readOnly)
		if err != nil {
			var usage *usageError
			if errors.As(err, &usage) {
				return nil, &usageError{fmt.Sprintf("--%s: %s", side, usage.msg)}
			}
			return nil, fmt.Errorf("--%s: %w", side, err)
		}
		return store, nil
	}
	src, err := open("from", from, true)
	if err != nil {
		return failed(logger, "marquee imaging copy", err, f, env)
	}
	dst, err := open("to", to, false)
	if err != nil {
		return failed(logger, "marquee imaging copy", err, f, env)
	}
	report, err := imaging.CopyObjects(ctx, src, dst, opts)
	fmt.Fprintf(env.stdout, "copied=%d copied_bytes=%d skipped=%d skipped_bytes=%d\n",
		report.Copied, report.CopiedBytes, report.Skipped, report.SkippedBytes)
	if err != nil {
		if errors.Is(err, imaging.ErrDestinationNotEmpty) {
			err = &usageError{fmt.Sprintf("--to %s holds objects: --resume finishes a copy into it", dst)}
		} else if report.Copied > 0 {
			logger.Error("marquee imaging copy was cut off: run it again with --resume to finish", "copied", report.Copied)
		}
		return failed(logger, "marquee imaging copy", err, f, env)
	}
	return exitOK
}

package main

import (
	"context"
	"path/filepath"
	"runtime"

	"marquee/imaging"
)

const imagingAbout = `Runs the image compactor: it consumes marquee.image-requests in the consumer
group marquee-imaging, fetches each image URL once (a durable claim in the
database makes that hold across duplicate requests, restarts and several
compactors), checks the bytes (JPEG, PNG, GIF or WebP by their content, within
--images-max-bytes and --images-max-pixels), stores them content-addressed
in the image store (--images-store: DATA_DIR/images, or a bucket), and publishes every outcome, cached or failed, on
marquee.images before committing the request. Connections go only to public
internet addresses and the networks of --images-allow-networks; link-local and
cloud metadata addresses only when a network within their range is named. Several
compactors may share one database and one image store (a bucket, or a shared
volume), which 'marquee api' serves /images/{url_hash} from. Needs --kafka-brokers (the
embedded broker runs inside 'marquee run' and 'marquee ingest').

It also deletes stored bytes unused past --images-gc-grace, daily (see
'marquee imaging gc --help').

Also:
  marquee imaging refresh [flags] URL_HASH...   fetch these images again
  marquee imaging gc [--apply] [--grace 30d]    list (delete) unused image files
  marquee imaging copy --from URL --to URL [--resume]   move the image store
                                                 between a directory and a bucket`

func imagingCommand(ctx context.Context, args []string, env environment) int {
	if len(args) > 0 && args[0] == "refresh" {
		return imagingRefreshCommand(ctx, args[1:], env)
	}
	if len(args) > 0 && args[0] == "gc" {
		return imagingGCCommand(ctx, args[1:], env)
	}
	if len(args) > 0 && args[0] == "copy" {
		return imagingCopyCommand(ctx, args[1:], env)
	}
	cfg := defaultConfig()
	f := newFlags("marquee imaging [flags]", imagingAbout)
	cfg.declareDatabase(f)
	cfg.declareImagesStore(f)
	cfg.declareKafka(f)
	cfg.declareImaging(f)
	cfg.declareRetryCooldown(f)
	cfg.declareImagesGC(f, true)
	cfg.declareHTTP(f)
	cfg.declareLogging(f)
	if code, ok := f.parseFlagsOnly(args, env); !ok {
		return code
	}
	if len(cfg.brokers()) == 0 {
		return f.usageExit(&usageError{"marquee imaging needs --kafka-brokers (MARQUEE_KAFKA_BROKERS)"}, env)
	}
	if err := cfg.checkImaging(); err != nil {
		return f.usageExit(err, env)
	}
	cfg.resolve()
	logger := newLogger(env.stderr, cfg)
	err := serveWorker(ctx, cfg, logger, env, "imaging", func(ctx context.Context, w *worker) error {
		compactor, err := startImaging(ctx, cfg, w.store, w.kafka, logger, env, w.registerer, 0)
		if err != nil {
			return err
		}
		if before, raised := imaging.RaiseProcs(compactor.files, env.lookupEnv); raised {
			logger.Info("GOMAXPROCS raised for blocking file system calls", "from", before, "to", runtime.GOMAXPROCS(0))
		}
		logger.Info("image compactor running", "group", imaging.GroupID, "images", filepath.Join(cfg.DataDir, "images"),
			"owner", compactor.compactor.Owner())
		waitGC := startImageGC(ctx, cfg, w.store, compactor.files, logger)
		defer waitGC()
		return compactor.Wait()
	})
	if err != nil {
		return failed(logger, "marquee imaging", err, f, env)
	}
	return exitOK
}

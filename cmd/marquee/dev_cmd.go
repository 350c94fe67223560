package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"

	"marquee/db"
	"marquee/ingest"
	"marquee/ingest/feedgen"
)

const devAbout = `Developer tools:
  marquee dev gen-feed --items N --seed S --generation G --change-ratio R --image-base URL [--head N] [--bare-array] --out PATH
      writes a deterministic synthetic feed with every property of the real one
  marquee dev verify --feed SRC
      prints every difference between the database and a feed; exit 1 on any`

func devCommand(ctx context.Context, args []string, env environment) int {
	if len(args) == 0 {
		fmt.Fprint(env.stderr, "marquee dev: no tool given\n\n"+devAbout+"\n")
		return exitUsage
	}
	switch args[0] {
	case "gen-feed":
		return genFeedCommand(args[1:], env)
	case "verify":
		return verifyCommand(ctx, args[1:], env)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(env.stdout, devAbout)
		return exitOK
	}
	fmt.Fprintf(env.stderr, "marquee dev: unknown tool %q\n\n%s\n", args[0], devAbout)
	return exitUsage
}

func genFeedCommand(args []string, env environment) int {
	f := newFlags("marquee dev gen-feed [flags]", "Writes a deterministic synthetic feed (the real feed's layout and oddities).")
	var o feedgen.Options
	var out string
	f.set.IntVar(&o.Items, "items", 1000, "performers in generation 0")
	f.set.Int64Var(&o.Seed, "seed", 1, "random seed: the same options give the same bytes")
	f.set.IntVar(&o.Generation, "generation", 0, "generation: later ones change stats, add, remove and re-host")
	f.set.Float64Var(&o.ChangeRatio, "change-ratio", 0.01, "share of items whose stats change per generation")
	f.set.StringVar(&o.ImageBase, "image-base", "", "base URL of thumbnail images (default the real image host)")
	f.set.IntVar(&o.Head, "head", 0, "write only the generation's first `N` items (0: all)")
	f.set.BoolVar(&o.BareArray, "bare-array", false, "write the items as a bare JSON array, without the wrapper object")
	f.set.StringVar(&out, "out", "-", "output `path`; - is stdout")
	if code, ok := f.parseOrExit(args, env); !ok {
		return code
	}
	w := env.stdout
	var file *os.File
	if out != "-" {
		var err error
		if file, err = os.Create(out); err != nil {
			fmt.Fprintf(env.stderr, "marquee dev gen-feed: %v\n", err)
			return exitFailure
		}
		w = file
	}
	buf := bufio.NewWriterSize(w, 1<<20)
	err := feedgen.Write(buf, o)
	err = errors.Join(err, buf.Flush())
	if file != nil {
		err = errors.Join(err, file.Close())
	}
	if err != nil {
		fmt.Fprintf(env.stderr, "marquee dev gen-feed: %v\n", err)
		return exitFailure
	}
	return exitOK
}

func verifyCommand(ctx context.Context, args []string, env environment) int {
	cfg := defaultConfig()
	f := newFlags("marquee dev verify --feed SRC [flags]", "Prints every difference between the database and a feed; exits 1 on any.")
	var source string
	f.set.StringVar(&source, "feed", "", "feed `source`: an http(s) URL, a file:// URL or a path (default --feed-url)")
	cfg.declareDatabase(f)
	cfg.declareFeed(f)
	cfg.declareLogging(f)
	if code, ok := f.parseOrExit(args, env); !ok {
		return code
	}
	if source == "" {
		source = cfg.FeedURL
	}
	cfg.resolve()
	logger := newLogger(env.stderr, cfg)
	database, err := openDatabase(ctx, cfg)
	if err != nil {
		return failed(logger, "marquee dev verify", err, f, env)
	}
	defer database.Close()
	fetcher := ingest.NewFetcher("Marquee/"+readBuildInfo().Version, logger)
	fetcher.MaxBytes = int64(cfg.FeedMaxBytes)
	feed, err := fetcher.Fetch(ctx, source, ingest.Conditional{})
	if err != nil {
		return failed(logger, "marquee dev verify", err, f, env)
	}
	defer feed.Body.Close()
	diffs, header, err := ingest.Verify(ctx, db.NewStore(database), feed.Body)
	if err != nil {
		return failed(logger, "marquee dev verify", err, f, env)
	}
	for _, d := range diffs {
		fmt.Fprintln(env.stdout, d.String())
	}
	fmt.Fprintf(env.stdout, "items=%d differences=%d\n", header.Items, len(diffs))
	if len(diffs) > 0 {
		return exitFailure
	}
	return exitOK
}

package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"marquee/db"
	"marquee/imaging"
)

const takedownAbout = `Takes a performer or an image down at once, and keeps it down
(docs/operations.md, "Takedowns"):

  marquee takedown performer --id N | --feed-id N --reason TEXT
  marquee takedown image URL_HASH... --reason TEXT
  marquee takedown list                          every takedown, newest first
  marquee takedown lift ID                       lift one; the next feed run restores

A performer taken down leaves every list, facet, export and search of both APIs;
its lookups answer 410 (REST) and TAKEN_DOWN (GraphQL), and a sync walk sees it
removed. The image files of its thumbnails (or of the hashes named) are deleted
unless the same bytes still serve a URL hash that is not taken down, and
/images/{url_hash} answers 451. No feed run loads it again and no compactor
fetches its URLs until the takedown is lifted. Every takedown is recorded, with
"cli" as who took it down. Point --data-dir (or --db) at the data of marquee run
or of the production services.`

// takedownCommand is `marquee takedown performer|image|list|lift`.
func takedownCommand(ctx context.Context, args []string, env environment) int {
	return dispatchSubcommand(ctx, args, env, "takedown", takedownAbout, []subcommand{
		{"performer", takedownPerformerCommand}, {"image", takedownImageCommand},
		{"list", takedownListCommand}, {"lift", takedownLiftCommand},
	})
}

// takedownFlags declares what every takedown subcommand takes.
func takedownFlags(synopsis string, cfg *Config) *flags {
	f := newFlags(synopsis, takedownAbout)
	cfg.declareDatabase(f)
	cfg.declareImagesStore(f)
	cfg.declareLogging(f)
	return f
}

// takedownsOf opens the database and the image store of cfg.
func takedownsOf(ctx context.Context, cfg Config) (*imaging.Takedowns, func(), error) {
	database, err := openDatabase(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	status, err := database.CheckSchema(ctx)
	if err == nil && status.Pending > 0 {
		err = &usageError{fmt.Sprintf("the database has %d pending migrations: run marquee migrate (or start marquee run) first", status.Pending)}
	}
	if err != nil {
		database.Close()
		return nil, nil, err
	}
	store := db.NewStore(database)
	files, err := openImagesStore(ctx, cfg, true)
	if err != nil {
		database.Close()
		return nil, nil, err
	}
	return &imaging.Takedowns{Store: store, Files: files, Variants: variantRemover(store, files)}, func() { database.Close() }, nil
}

func takedownPerformerCommand(ctx context.Context, args []string, env environment) int {
	cfg := defaultConfig()
	f := takedownFlags("marquee takedown performer --id N | --feed-id N --reason TEXT [flags]", &cfg)
	var id, feedID int64
	var reason string
	f.set.Int64Var(&id, "id", 0, "the performer's database `id` (the REST id)")
	f.set.Int64Var(&feedID, "feed-id", 0, "the performer's feed `id`")
	f.set.StringVar(&reason, "reason", "", "why it is taken down (recorded)")
	if code, ok := f.parseFlagsOnly(args, env); !ok {
		return code
	}
	in := db.TakedownInput{Reason: reason, TakenBy: "cli"}
	switch {
	case (id != 0) == (feedID != 0):
		return f.usageExit(&usageError{"name the performer with --id or with --feed-id (one of them)"}, env)
	case id < 0 || feedID < 0:
		return f.usageExit(&usageError{"an id is a positive integer"}, env)
	case strings.TrimSpace(reason) == "":
		return f.usageExit(&usageError{"give the reason with --reason"}, env)
	case id != 0:
		in.PornstarID = &id
	default:
		in.FeedID = &feedID
	}
	return takeDown(ctx, cfg, f, env, []db.TakedownInput{in})
}

func takedownImageCommand(ctx context.Context, args []string, env environment) int {
	cfg := defaultConfig()
	f := takedownFlags("marquee takedown image URL_HASH... --reason TEXT [flags]", &cfg)
	var reason string
	f.set.StringVar(&reason, "reason", "", "why they are taken down (recorded)")
	hashes, code, ok := f.parsePositional(args, env)
	if !ok {
		return code
	}
	switch {
	case len(hashes) == 0:
		return f.usageExit(&usageError{"name at least one URL hash"}, env)
	case strings.TrimSpace(reason) == "":
		return f.usageExit(&usageError{"give the reason with --reason"}, env)
	}
	var ins []db.TakedownInput
	for _, h := range hashes {
		if !db.IsSHA256Hex(h) {
			return f.usageExit(&usageError{fmt.Sprintf("%q is not a URL hash (64 lowercase hex digits)", h)}, env)
		}
		ins = append(ins, db.TakedownInput{URLHash: &h, Reason: reason, TakenBy: "cli"})
	}
	return takeDown(ctx, cfg, f, env, ins)
}

// takeDown carries out each takedown and prints one line per takedown.
// The exit status is 1 when any failed or left a file behind.
func takeDown(ctx context.Context, cfg Config, f *flags, env environment, ins []db.TakedownInput) int {
	cfg.resolve()
	logger := newLogger(env.stderr, cfg)
	takedowns, closeDB, err := takedownsOf(ctx, cfg)
	if err != nil {
		return failed(logger, "marquee takedown", err, f, env)
	}
	defer closeDB()
	takedowns.Logger = logger
	code := exitOK
	for _, in := range ins {
		td, err := takedowns.TakeDown(ctx, in)
		what := takedownSubject(in)
		switch {
		case errors.Is(err, db.ErrConflict):
			fmt.Fprintf(env.stdout, "%s: taken down already\n", what)
			code = exitFailure
		case errors.Is(err, db.ErrNotFound):
			fmt.Fprintf(env.stdout, "%s: no such performer\n", what)
			code = exitFailure
		case err != nil:
			return failed(logger, "marquee takedown", err, f, env)
		default:
			fmt.Fprintf(env.stdout, "takedown %d: %s taken down; url hashes %d, files deleted %d, kept %d (bytes still in use)\n",
				td.ID, takedownSubjectOf(td), len(td.URLHashes), len(td.DeletedFiles)-len(td.FilesNotDeleted), len(td.KeptFiles))
			if len(td.FilesNotDeleted) > 0 {
				fmt.Fprintf(env.stdout, "takedown %d: could not delete %s\n", td.ID, strings.Join(td.FilesNotDeleted, ", "))
				code = exitFailure
			}
		}
	}
	return code
}

func takedownSubject(in db.TakedownInput) string {
	switch {
	case in.PornstarID != nil:
		return "performer " + strconv.FormatInt(*in.PornstarID, 10)
	case in.FeedID != nil:
		return "feed id " + strconv.FormatInt(*in.FeedID, 10)
	default:
		return "image " + *in.URLHash
	}
}

func takedownSubjectOf(td *db.Takedown) string {
	switch {
	case td.URLHash != nil:
		return "image " + *td.URLHash
	case td.PornstarID != nil && td.FeedID != nil:
		return fmt.Sprintf("performer %d (feed id %d)", *td.PornstarID, *td.FeedID)
	case td.PornstarID != nil:
		return "performer " + strconv.FormatInt(*td.PornstarID, 10)
	default:
		return "feed id " + strconv.FormatInt(*td.FeedID, 10)
	}
}

func takedownListCommand(ctx context.Context, args []string, env environment) int {
	cfg := defaultConfig()
	f := takedownFlags("marquee takedown list [flags]", &cfg)
	if code, ok := f.parseFlagsOnly(args, env); !ok {
		return code
	}
	cfg.resolve()
	logger := newLogger(env.stderr, cfg)
	takedowns, closeDB, err := takedownsOf(ctx, cfg)
	if err != nil {
		return failed(logger, "marquee takedown list", err, f, env)
	}
	defer closeDB()
	list, err := takedowns.List(ctx)
	if err != nil {
		return failed(logger, "marquee takedown list", err, f, env)
	}
	w := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tWHAT\tBY\tAT\tLIFTED\tFILES DELETED\tREASON")
	for i := range list {
		td := &list[i]
		lifted := "-"
		if td.LiftedAt != nil {
			lifted = td.LiftedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", td.ID, takedownSubjectOf(td), td.TakenBy,
			td.CreatedAt.UTC().Format(time.RFC3339), lifted, len(td.DeletedFiles), strconv.Quote(td.Reason))
	}
	if err := w.Flush(); err != nil {
		return failed(logger, "marquee takedown list", err, f, env)
	}
	return exitOK
}

func takedownLiftCommand(ctx context.Context, args []string, env environment) int {
	cfg := defaultConfig()
	f := takedownFlags("marquee takedown lift ID [flags]", &cfg)
	ids, code, ok := f.parsePositional(args, env)
	if !ok {
		return code
	}
	if len(ids) != 1 {
		return f.usageExit(&usageError{"name one takedown id (marquee takedown list shows them)"}, env)
	}
	id, err := strconv.ParseInt(ids[0], 10, 64)
	if err != nil || id <= 0 {
		return f.usageExit(&usageError{fmt.Sprintf("%q is not a takedown id", ids[0])}, env)
	}
	cfg.resolve()
	logger := newLogger(env.stderr, cfg)
	takedowns, closeDB, err := takedownsOf(ctx, cfg)
	if err != nil {
		return failed(logger, "marquee takedown lift", err, f, env)
	}
	defer closeDB()
	td, err := takedowns.Lift(ctx, id, "cli")
	switch {
	case errors.Is(err, db.ErrNotFound):
		fmt.Fprintf(env.stdout, "takedown %d: no such takedown\n", id)
		return exitFailure
	case errors.Is(err, db.ErrConflict):
		fmt.Fprintf(env.stdout, "takedown %d: lifted already\n", id)
		return exitFailure
	case err != nil:
		return failed(logger, "marquee takedown lift", err, f, env)
	}
	fmt.Fprintf(env.stdout, "takedown %d lifted: %s comes back with the next feed run\n", td.ID, takedownSubjectOf(td))
	return exitOK
}

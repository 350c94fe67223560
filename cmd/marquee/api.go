package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"marquee/auth"
	"marquee/db"
	"marquee/graph"
	"marquee/imaging"
	"marquee/internal/compression"
	"marquee/internal/responsecache"
	"marquee/rest"
	"marquee/server"
)

const apiAbout = `Serves the APIs: GraphQL at /graphql (and its playground at /playground
while --graphql-introspection is on), REST at /api/v1 (its OpenAPI document at
/api/v1/openapi.json), and the cached image bytes at /images/{url_hash} (and
their variants) from the image store the compactors write (--images-store:
DATA_DIR/images, another directory, or an S3 bucket), next to /healthz,
/readyz and /metrics.
Reads go to --db-replica while it keeps up with the primary, else to the
primary; writes, and the answers of writes, use the primary. It needs no
Kafka: a feed run triggered through the API is queued in the database for
'marquee ingest'. With --kafka-brokers, /readyz reports Kafka but stays ready
without it. Without --api-tokens every write is refused (401).`

func apiCommand(ctx context.Context, args []string, env environment) int {
	cfg := defaultConfig()
	// Production: the schema is not advertised unless asked for.
	cfg.GraphQLIntrospection = false
	f := newFlags("marquee api [flags]", apiAbout)
	cfg.declareDatabase(f)
	cfg.declareImagesStore(f)
	cfg.declareReplica(f)
	f.String(&cfg.KafkaBrokers, "kafka-brokers", "comma-separated Kafka `brokers`, only reported by /readyz")
	cfg.declareKafkaSecurity(f)
	cfg.declareAPI(f)
	cfg.declareVariants(f, true)
	cfg.declareHTTP(f)
	cfg.declareLogging(f)
	if code, ok := f.parseFlagsOnly(args, env); !ok {
		return code
	}
	cfg.resolve()
	logger := newLogger(env.stderr, cfg)
	tuneGCForAPI(env.lookupEnv)
	if err := serveAPI(ctx, cfg, logger, env); err != nil {
		return failed(logger, "marquee api", err, f, env)
	}
	return exitOK
}

// serveAPI runs `marquee api` until ctx ends.
func serveAPI(ctx context.Context, cfg Config, logger *slog.Logger, env environment) (err error) {
	srv, err := listen(cfg, logger, nil)
	if err != nil {
		return err
	}
	defer srv.Close()
	attrs := []any{"addr", srv.Addr().String(), "db", redactURL(cfg.DB), "version", readBuildInfo().Version}
	if cfg.DBReplica != "" {
		attrs = append(attrs, "db_replica", redactURL(cfg.DBReplica))
	}
	logger.Info("marquee api starting", attrs...)

	database, err := openServedDatabase(ctx, cfg, srv, logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, database.Close()) }()
	if brokers := cfg.brokers(); len(brokers) > 0 {
		cluster, err := cfg.kafkaCluster(brokers, logger)
		if err != nil {
			return err
		}
		srv.AddOptionalCheck("kafka", kafkaCheck(cluster, logger))
	}
	files, err := openImagesStore(ctx, cfg, true)
	if err != nil {
		return err
	}
	store := db.NewStore(database)
	if err := mountAPI(srv, cfg, store, files, logger, env, false); err != nil {
		return err
	}
	defer warmDiscovery(ctx, store, logger)()
	if env.serverStarting != nil {
		env.serverStarting(srv)
	}
	logger.Info("marquee api serving", "addr", srv.Addr().String())
	if err := srv.Run(ctx); err != nil {
		return err
	}
	logger.Info("marquee api stopped")
	return nil
}

// warmDiscovery builds the store's discovery index in the background (see
// db.Store.WarmDiscovery); the returned func stops the build and waits for
// it, before the database closes.
func warmDiscovery(ctx context.Context, store *db.Store, logger *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		started := time.Now()
		if err := store.WarmDiscovery(ctx); err != nil {
			if ctx.Err() == nil {
				logger.Warn("the discovery index was not built at start; the first search builds it", "err", err)
			}
			return
		}
		logger.Debug("discovery index built", "took", time.Since(started))
	}()
	return func() {
		cancel()
		<-done
	}
}

// mountAPI mounts the GraphQL and REST APIs, the playground and the image
// bytes on srv. `run` (embedded) and `api` share it.
func mountAPI(srv *server.Server, cfg Config, store *db.Store, files imaging.ObjectStore, logger *slog.Logger, env environment, embedded bool) error {
	tokens, err := apiTokens(cfg, logger, env, embedded)
	if err != nil {
		return err
	}
	limiter := auth.NewLimiter(cfg.APIRateLimit)
	variants, err := variantCache(cfg, store, files)
	if err != nil {
		return err
	}
	// CORS outside the tokens and the rate limit, which must never refuse
	// a preflight: the browser would hide the refusal from the page. Both
	// APIs' answers are compressed when the client asks; the playground
	// compresses its own files once, and image bytes never are.
	cors := cfg.CORSOrigins.cors()
	// The response cache sits behind the caller (whose role is part of an
	// answer's key) and in front of the coding, so that it keeps answers
	// compressed; answers from it count against the rate limit.
	answers := responsecache.New(responsecache.Options{MaxBytes: int64(cfg.ResponseCacheBytes), Version: store.DataVersion, Limiter: limiter, Registerer: srv.Registerer()})
	srv.Handle("/graphql", cors.Wrap(tokens.Middleware(answers.Wrap(compression.Middleware(graph.NewHandler(graph.Options{
		Store:         store,
		Logger:        logger,
		Introspection: cfg.GraphQLIntrospection,
		ImagesURL:     cfg.imagesBase(),
		ImageWidths:   cfg.ImagesWidths.ints(),
		Limiter:       limiter,
		Registerer:    srv.Registerer(),
	})), responsecache.GraphQL, graph.DefaultMaxBodyBytes))))
	if cfg.GraphQLIntrospection {
		srv.Handle("/playground/", graph.Playground("/graphql"))
	}
	srv.Handle(rest.BasePath+"/", cors.Wrap(tokens.Middleware(answers.Wrap(compression.Middleware(rest.New(rest.Options{
		Store: store,
		// The API deletes taken-down files where it may write the image
		// store, and reports the files it could not delete otherwise.
		Takedowns: &imaging.Takedowns{Store: store, Files: files, Variants: variants, Logger: logger},
		Logger:    logger,
		Limiter:   limiter,
		PublicURL: string(cfg.PublicURL),
		ImagesURL: cfg.imagesBase(),
		// Variants exist only where this process serves /images.
		ImageWidths: cfg.ImagesWidths.ints(),
	})), responsecache.REST, 0))))
	images, err := rest.NewFilesHandler(rest.FilesOptions{Store: store, Content: imaging.Contents{Store: files}, Variants: variants, Widths: cfg.ImagesWidths.ints(), Logger: logger})
	if err != nil {
		return err
	}
	srv.Handle(rest.FilesPattern, cors.Wrap(images))
	if cors.Enabled() {
		srv.Handle(rest.FilesPreflightPattern, cors.Wrap(images))
	}
	// The root names what is here, for whoever opens the port in a browser.
	srv.Handle("GET /{$}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "Marquee %s\n\nGraphQL     /graphql\n", readBuildInfo().Version)
		if cfg.GraphQLIntrospection {
			fmt.Fprint(w, "Playground  /playground/\n")
		}
		fmt.Fprintf(w, "REST        %s/ (OpenAPI: %s/openapi.json)\nImages      /images/{url_hash}\nHealth      /healthz /readyz /metrics\n",
			rest.BasePath, rest.BasePath)
	}))
	logger.Info("APIs mounted", "graphql", "/graphql", "rest", rest.BasePath, "tokens", tokens.Len(),
		"rate_limit_per_client", cfg.APIRateLimit, "trusted_proxies", string(cfg.TrustedProxies), "introspection", cfg.GraphQLIntrospection,
		"cors_origins", cors.String(), "response_cache_bytes", int64(cfg.ResponseCacheBytes), "public_url", string(cfg.PublicURL), "images_url", cfg.imagesBase())
	return nil
}

// apiTokens reads --api-tokens. Without any, `run` (the embedded mode, which
// owns its data dir) makes one write token, keeps its hash in
// DATA_DIR/api-token, and prints the token once, when it is made; `api`
// refuses every write.
func apiTokens(cfg Config, logger *slog.Logger, env environment, embedded bool) (*auth.Tokens, error) {
	if cfg.APITokens != "" {
		tokens, err := auth.ParseTokens(cfg.APITokens)
		if err != nil {
			return nil, &usageError{"--api-tokens (MARQUEE_API_TOKENS): " + err.Error()}
		}
		return tokens, nil
	}
	if !embedded {
		logger.Warn("no API tokens configured (MARQUEE_API_TOKENS): every write is refused")
		return &auth.Tokens{}, nil
	}
	stored, err := auth.LoadOrCreateToken(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("the embedded API token: %w", err)
	}
	path := filepath.Join(cfg.DataDir, auth.TokenFile)
	switch {
	case stored.Token != "":
		// Once, on stderr, not in the log: logs are shipped and kept.
		fmt.Fprintf(env.stderr, "\nmarquee: made an API write token; %s keeps only its hash:\n\n    %s\n\n"+
			"  Send it as 'Authorization: Bearer <token>' to create, update or delete.\n"+
			"  It is shown this once: keep it now, or delete the file for a new one.\n\n", path, stored.Token)
	case stored.Converted:
		logger.Warn("the API write token file now keeps only the token's hash: the token can no longer be read from it; "+
			"keep the copy you have, or delete the file and restart for a new token", "path", path)
	default:
		logger.Info("API write token from the data dir", "path", path)
	}
	tokens, err := auth.ParseTokens(stored.Entry)
	if err != nil {
		return nil, fmt.Errorf("the embedded API token: %s: %w", path, err)
	}
	return tokens, nil
}

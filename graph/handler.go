// Package graph serves Marquee's GraphQL API (/graphql) and its playground
// (/playground): the gqlgen schema in *.graphqls, the generated executor in
// graph/generated, thin resolvers over db.Store, per-request batch loaders,
// and the limits that keep one request from costing the server much.
package graph

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"marquee/auth"
	"marquee/db"
	"marquee/graph/generated"
	"marquee/graph/model"
	"marquee/internal/responsecache"
)

// Options configure NewHandler. Zero values pick the defaults noted on each
// field.
type Options struct {
	// Store answers every query. Required.
	Store *db.Store
	// Logger receives internal errors and panics (default: discarded).
	Logger *slog.Logger
	// Introspection allows __schema and __type (the playground needs it).
	Introspection bool
	// ImagesURL is where Image.url points, with the URL hash appended
	// after a slash: an absolute base such as a CDN's
	// https://cdn.example.test/images (default: the relative /images, where
	// the image bytes handler is mounted).
	ImagesURL string
	// ImageWidths are the widths of image variants the image bytes handler
	// renders: Image.url(width:) takes them, Image.srcset lists them.
	// Empty: no variants.
	ImageWidths []int
	// Limiter is the per-client rate limit; nil turns it off. A refused
	// request gets 429 with Retry-After and the code RATE_LIMITED.
	Limiter *auth.Limiter

	// MaxBodyBytes caps a POST body (default 256 KiB): a query at the token
	// limit is a few tens of KiB; the rest leaves room for the variables of
	// a createPornstar with long alias lists.
	MaxBodyBytes int64
	// MaxTokens caps the tokens the parser reads from a query (default
	// 5,000): GraphiQL's introspection query has about 400, a page with
	// every field about 150; a flood of tokens is refused before it costs
	// parsing time.
	MaxTokens int
	// MaxDepth caps how deep selections nest (default 15): the deepest data
	// path is 6 (pornstars.edges.node.thumbnails.image.status); GraphiQL's
	// introspection query reaches 15 through __Type.ofType.
	MaxDepth int
	// MaxComplexity caps an operation's cost (default 12,000): every field
	// costs 1, a list field its page size times its element (a performer's
	// thumbnails count as 3), a root lookup 100. One full page of 100
	// performers with every field costs about 10,000; two do not pass.
	MaxComplexity int
	// MaxSelections caps how many selections a document may hold with its
	// fragments spread out (default 5,000, as many as the token limit lets
	// a document hold written out); a document's own budget is one per byte
	// of its text, at least 1,000, up to this cap (budget.go).
	MaxSelections int
	// QueryCacheSize is how many parsed and validated queries are kept
	// (default 1,000): clients send the same few queries again and again.
	QueryCacheSize int
	// PersistedQueryCacheSize is how many automatic persisted queries are
	// remembered by hash (default 1,000).
	PersistedQueryCacheSize int
	// Timeout bounds one request's work (default 15s): the server's
	// WriteTimeout is 60s, and no answer is worth more than this.
	Timeout time.Duration
	// Registerer, when set, receives the operation metrics
	// (marquee_graphql_operation_duration_seconds and _operations_total)
	// and marquee_graphql_direct_fields_total (direct.go).
	Registerer prometheus.Registerer

	// work, when set, counts the nodes that measuring, validating and
	// pricing a document visit (the fuzz test's measure of their cost).
	work *atomic.Int64

	// executorOnly leaves every field to gqlgen's executor, without the
	// direct writer (direct.go): the reference the tests compare it with.
	executorOnly bool
}

// Defaults of Options; see the fields for why.
const (
	DefaultMaxBodyBytes            = 256 << 10
	DefaultMaxTokens               = 5000
	DefaultMaxDepth                = 15
	DefaultMaxComplexity           = 12000
	DefaultMaxSelections           = 5000
	DefaultQueryCacheSize          = 1000
	DefaultPersistedQueryCacheSize = 1000
	DefaultTimeout                 = 15 * time.Second
	DefaultImagesURL               = "/images"
)

func (o *Options) withDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxTokens <= 0 {
		o.MaxTokens = DefaultMaxTokens
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if o.MaxComplexity <= 0 {
		o.MaxComplexity = DefaultMaxComplexity
	}
	if o.MaxSelections <= 0 {
		o.MaxSelections = DefaultMaxSelections
	}
	if o.QueryCacheSize <= 0 {
		o.QueryCacheSize = DefaultQueryCacheSize
	}
	if o.PersistedQueryCacheSize <= 0 {
		o.PersistedQueryCacheSize = DefaultPersistedQueryCacheSize
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	o.ImagesURL = strings.TrimSuffix(o.ImagesURL, "/")
	if o.ImagesURL == "" {
		o.ImagesURL = DefaultImagesURL
	}
}

// imageLinks are where Image.url and srcset point.
func (o Options) imageLinks() model.ImageLinks {
	return model.ImageLinks{Base: o.ImagesURL, Widths: slices.Sorted(slices.Values(o.ImageWidths))}
}

// NewHandler returns the GraphQL endpoint: GET for queries, POST with a JSON
// body for queries and mutations. It reads the caller from the request
// context (auth.Tokens.Middleware puts it there; without it every caller is
// anonymous and may only read). It is safe for concurrent use.
func NewHandler(opts Options) http.Handler {
	opts.withDefaults()
	if opts.Store == nil {
		panic("graph: NewHandler needs a Store")
	}
	cfg := generated.Config{Resolvers: &Resolver{store: opts.Store, logger: opts.Logger, imageLinks: opts.imageLinks()}}
	setComplexity(&cfg.Complexity)
	schema := generated.NewExecutableSchema(cfg)
	srv := handler.New(schema)
	srv.AddTransport(postTransport{maxBodyBytes: opts.MaxBodyBytes})
	srv.AddTransport(getTransport{})
	validated := lru.New[*ast.QueryDocument](opts.QueryCacheSize)
	srv.SetQueryCache(validated)
	srv.SetParserTokenLimit(opts.MaxTokens)
	// Suggestions ("did you mean ...?") would describe the schema to a
	// client that cannot introspect it.
	srv.SetDisableSuggestion(true)
	srv.SetValidationRulesFn(func() *rules.Rules {
		r := rules.NewDefaultRules()
		depth := maxDepthRule(opts.MaxDepth)
		r.AddRule(depth.Name, depth.RuleFunc)
		if !opts.Introspection {
			r.AddRule(noIntrospectionRule.Name, noIntrospectionRule.RuleFunc)
		}
		if opts.work != nil {
			counter := countingRule(opts.work)
			r.AddRule(counter.Name, counter.RuleFunc)
		}
		return r
	})
	if opts.Introspection {
		srv.Use(extension.Introspection{})
	}
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](opts.PersistedQueryCacheSize)})
	// After the persisted-query extension, which puts the query's text in
	// place; before parsing and validation, which it protects.
	srv.Use(documentBudget{maxTokens: opts.MaxTokens, maxSelections: opts.MaxSelections, validated: validated, work: opts.work})
	srv.Use(complexityLimit{schema: schema, limit: opts.MaxComplexity, work: opts.work})
	if !opts.executorOnly {
		srv.AroundFields(newDirect(schema.Schema(), cfg.Resolvers, opts.Registerer).around)
	}
	srv.SetErrorPresenter(errorPresenter(opts.Logger))
	srv.SetRecoverFunc(recoverFunc(opts.Logger))
	// A mutation's answer shows its own write: its loaders read the primary.
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		if op := graphql.GetOperationContext(ctx).Operation; op != nil && op.Operation == ast.Mutation {
			loadersFrom(ctx).fromPrimary.Store(true)
		}
		return next(ctx)
	})
	// A query answered without errors is the same for every identical
	// request until the data changes: the response cache may keep it.
	srv.AroundResponses(func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		resp := next(ctx)
		if op := graphql.GetOperationContext(ctx).Operation; resp != nil && len(resp.Errors) == 0 && op != nil && op.Operation == ast.Query {
			responsecache.MarkCacheable(ctx)
		}
		return resp
	})
	if opts.Registerer != nil {
		srv.AroundOperations(newOperationMetrics(opts.Registerer).around)
	}
	return &endpoint{srv: srv, opts: opts}
}

// endpoint applies what comes before GraphQL: the method, the rate limit,
// the deadline and the request's loaders.
type endpoint struct {
	srv  *handler.Server
	opts Options
}

func (e *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		writeError(w, http.StatusMethodNotAllowed, CodeBadUserInput, "use GET for queries or POST for queries and mutations")
		return
	}
	if e.opts.Limiter != nil {
		if ok, retry := e.opts.Limiter.Allow(auth.CallerFrom(r.Context()).Key()); !ok {
			seconds := auth.RetryAfterSeconds(retry)
			w.Header().Set("Retry-After", strconv.Itoa(seconds))
			writeError(w, http.StatusTooManyRequests, CodeRateLimited,
				"too many requests: retry after "+strconv.Itoa(seconds)+"s")
			return
		}
	}
	// After the rate limit, so that guessing tokens costs the same budget.
	// A token that is not a valid bearer token is refused on reads too, as
	// the REST API does: a client sending a wrong token learns it at once,
	// rather than reading as anonymous until its first write.
	if auth.CallerFrom(r.Context()).BadToken {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, CodeUnauthenticated, "the bearer token is not valid")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), e.opts.Timeout)
	defer cancel()
	ctx = withLoaders(ctx, newLoaders(ctx, e.opts.Store, e.opts.imageLinks()))
	e.srv.ServeHTTP(w, r.WithContext(ctx))
}

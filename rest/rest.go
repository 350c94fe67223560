// Package rest is Marquee's REST API under /api/v1: performers with their
// aliases, thumbnails and image states, image metadata and feed runs, as JSON
// in snake_case, with RFC 9457 problem documents for every error and an
// OpenAPI 3.1 document at /api/v1/openapi.json. Handlers only translate: each
// decodes and checks a request, calls the store (db.Store, shared with the
// GraphQL API) and encodes its answer.
//
// Reads are open; writes need a write token (see package auth, whose
// Middleware must run before this handler). Every request counts against the
// caller's rate limit.
package rest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"marquee/auth"
	"marquee/db"
	"marquee/server"
)

// BasePath is where the API is mounted: New's handler serves paths that start
// with it (mount it at BasePath + "/" without stripping the prefix).
const BasePath = "/api/v1"

// DefaultMaxBodyBytes caps request bodies when Options.MaxBodyBytes is zero:
// the largest valid performer (1,000 aliases of 255 characters, 100
// thumbnails with 2 KiB URLs) is well under 1 MiB.
const DefaultMaxBodyBytes = 1 << 20

// Options configure New.
type Options struct {
	// Store answers every request. Required.
	Store *db.Store
	// Takedowns carries out POST and DELETE /takedowns. Required.
	Takedowns Takedowns
	// Logger receives internal errors (default: discarded).
	Logger *slog.Logger
	// Limiter is the per-client rate limit; nil turns it off.
	Limiter *auth.Limiter
	// PublicURL is the API's external base URL, such as
	// https://api.example.test (no trailing slash): Location and Link
	// headers are absolute below it. Empty: they are paths.
	PublicURL string
	// ImagesURL is where image URLs point, with the URL hash appended after
	// a slash, such as a CDN's https://cdn.example.test/images. Empty:
	// /images, where NewFilesHandler is mounted, below PublicURL.
	ImagesURL string
	// ImageWidths are the widths of image variants the files handler
	// renders (FilesOptions.Widths): cached images list them, up to their
	// own width, in srcset. Empty: no srcset.
	ImageWidths []int
	// MaxBodyBytes caps request bodies (default DefaultMaxBodyBytes); larger
	// ones are answered 413.
	MaxBodyBytes int64
	// TotalCacheTTL is how long the total of a list filter is reused
	// (default DefaultTotalCacheTTL; negative: count on every page). The API's
	// own writes clear it; other writers show after at most this long.
	TotalCacheTTL time.Duration
}

// DefaultTotalCacheTTL is the default Options.TotalCacheTTL: long enough
// that a busy list costs one COUNT per filter every few seconds, short
// enough that a feed run's effect on totals shows at once to a person.
const DefaultTotalCacheTTL = 2 * time.Second

// api holds what the handlers share. It is immutable after New, so the
// handlers are safe for concurrent use.
type api struct {
	store     *db.Store
	takedowns Takedowns
	log       *slog.Logger
	limiter   *auth.Limiter
	maxBody   int64
	openapi   []byte // the encoded OpenAPI document
	// publicURL prefixes the paths of Location and Link ("" keeps them
	// paths); imagesURL is the base of image URLs.
	publicURL, imagesURL string
	// imageWidths are Options.ImageWidths.
	imageWidths []int

	totals *totalCache
}

// route is one path of the API and its handlers by method.
type route struct {
	// pattern is a net/http ServeMux path pattern below BasePath.
	pattern  string
	handlers map[string]http.HandlerFunc
	// streams marks a route whose answer may take longer than
	// requestTimeout: it bounds its own time instead.
	streams bool
	// precedes marks a route whose literal segments win over another
	// route's wildcard in the same place, which net/http's mux alone
	// refuses as a conflict: /pornstars/by-slug/aliases is the performer
	// with the slug "aliases", not the aliases of performer "by-slug".
	precedes bool
}

// New returns the handler of the whole API. It expects auth.Tokens.Middleware
// to have put the caller into each request's context (without it every
// caller is anonymous and every write is refused).
func New(opts Options) http.Handler {
	if opts.Store == nil || opts.Takedowns == nil {
		panic("rest: Options.Store and Options.Takedowns are required")
	}
	a := &api{store: opts.Store, takedowns: opts.Takedowns, log: opts.Logger, limiter: opts.Limiter, maxBody: opts.MaxBodyBytes,
		publicURL: strings.TrimSuffix(opts.PublicURL, "/"), imagesURL: strings.TrimSuffix(opts.ImagesURL, "/"),
		imageWidths: slices.Clone(opts.ImageWidths)}
	if a.imagesURL == "" {
		a.imagesURL = a.publicURL + filesBase
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.maxBody <= 0 {
		a.maxBody = DefaultMaxBodyBytes
	}
	a.openapi = openAPIDocument()
	if opts.TotalCacheTTL == 0 {
		opts.TotalCacheTTL = DefaultTotalCacheTTL
	}
	a.totals = newTotalCache(opts.TotalCacheTTL)

	mux, first := http.NewServeMux(), http.NewServeMux()
	for _, rt := range a.routes() {
		h := methodSwitch(rt.handlers)
		if !rt.streams {
			h = withDeadline(h)
		}
		if rt.precedes {
			first.Handle(BasePath+rt.pattern, h)
		} else {
			mux.Handle(BasePath+rt.pattern, h)
		}
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fail(w, r, kindNotFound, fmt.Sprintf("no route %s; see %s/openapi.json", r.URL.Path, BasePath))
	})
	router := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := first.Handler(r); pattern != "" {
			first.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
	return a.recoverPanics(a.limit(a.rejectBadTokens(router)))
}

// routes lists every route the API serves; the OpenAPI document describes
// exactly these (a test checks both ways).
func (a *api) routes() []route {
	return []route{
		{pattern: "/pornstars", handlers: map[string]http.HandlerFunc{
			http.MethodGet:  a.listPornstars,
			http.MethodPost: a.createPornstar,
		}},
		{pattern: "/pornstars/facets", handlers: map[string]http.HandlerFunc{http.MethodGet: a.listFacets}},
		{pattern: "/pornstars/export", handlers: map[string]http.HandlerFunc{http.MethodGet: a.exportPornstars}, streams: true},
		{pattern: "/pornstars/by-slug/{slug}", handlers: map[string]http.HandlerFunc{http.MethodGet: a.getPornstarBySlug}, precedes: true},
		{pattern: "/pornstars/{id}", handlers: map[string]http.HandlerFunc{
			http.MethodGet:    a.getPornstar,
			http.MethodPut:    a.replacePornstar,
			http.MethodPatch:  a.patchPornstar,
			http.MethodDelete: a.deletePornstar,
		}},
		{pattern: "/pornstars/{id}/aliases", handlers: map[string]http.HandlerFunc{http.MethodGet: a.listAliases}},
		{pattern: "/pornstars/{id}/thumbnails", handlers: map[string]http.HandlerFunc{http.MethodGet: a.listThumbnails}},
		{pattern: "/images/{url_hash}", handlers: map[string]http.HandlerFunc{http.MethodGet: a.getImage}},
		{pattern: "/feed-runs", handlers: map[string]http.HandlerFunc{
			http.MethodGet:  a.listFeedRuns,
			http.MethodPost: a.startFeedRun,
		}},
		{pattern: "/feed-runs/{id}", handlers: map[string]http.HandlerFunc{http.MethodGet: a.getFeedRun}},
		{pattern: "/feed-runs/{id}/warnings", handlers: map[string]http.HandlerFunc{http.MethodGet: a.listFeedRunWarnings}},
		{pattern: "/takedowns", handlers: map[string]http.HandlerFunc{
			http.MethodGet:  a.listTakedowns,
			http.MethodPost: a.createTakedown,
		}},
		{pattern: "/takedowns/{id}", handlers: map[string]http.HandlerFunc{http.MethodDelete: a.liftTakedown}},
		{pattern: "/openapi.json", handlers: map[string]http.HandlerFunc{http.MethodGet: a.serveOpenAPI}},
	}
}

// methodSwitch dispatches by method. HEAD is served by the GET handler (the
// server drops the body); any other method is answered 405 with Allow.
func methodSwitch(handlers map[string]http.HandlerFunc) http.Handler {
	allowed := make([]string, 0, len(handlers)+1)
	for m := range handlers {
		allowed = append(allowed, m)
	}
	if handlers[http.MethodGet] != nil {
		allowed = append(allowed, http.MethodHead)
	}
	slices.Sort(allowed)
	allow := strings.Join(allowed, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The server's metrics and log line name the route, not just the
		// prefix this API is mounted at.
		server.SetRoute(r.Context(), r.Pattern)
		h := handlers[r.Method]
		if h == nil && r.Method == http.MethodHead {
			h = handlers[http.MethodGet]
		}
		if h == nil {
			w.Header().Set("Allow", allow)
			fail(w, r, kindMethodNotAllowed, fmt.Sprintf("%s is not allowed here; allowed: %s", r.Method, allow))
			return
		}
		h(w, r)
	})
}

// requestTimeout bounds one request's work, as the GraphQL endpoint's does:
// the server's WriteTimeout is 60 s, and no answer is worth more than this.
const requestTimeout = 15 * time.Second

// withDeadline gives a request's context requestTimeout.
func withDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// limit answers 429 with Retry-After once the caller (its token, else its
// address) has spent its budget.
func (a *api) limit(next http.Handler) http.Handler {
	if a.limiter == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, retryAfter := a.limiter.Allow(auth.CallerFrom(r.Context()).Key())
		if !ok {
			seconds := auth.RetryAfterSeconds(retryAfter)
			w.Header().Set("Retry-After", fmt.Sprint(seconds))
			fail(w, r, kindRateLimited, fmt.Sprintf("rate limit exceeded; retry in %d s", seconds))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// rejectBadTokens answers 401 to any request whose Authorization header is
// not a known bearer token, reads included (RFC 6750 invalid_token): a
// mistyped token should fail loudly, not silently turn the caller anonymous.
func (a *api) rejectBadTokens(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if auth.CallerFrom(r.Context()).BadToken {
			failAuth(w, r, auth.ErrUnauthenticated)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a handler panic into a logged 500, and sets the
// headers every answer carries.
func (a *api) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.failInternal(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// requireWriter answers 401 or 403 unless the caller may write.
func requireWriter(w http.ResponseWriter, r *http.Request) bool {
	if err := auth.CallerFrom(r.Context()).CanWrite(); err != nil {
		failAuth(w, r, err)
		return false
	}
	return true
}

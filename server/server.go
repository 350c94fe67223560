// Package server is the HTTP transport that every long-running Marquee
// subcommand shares: it binds MARQUEE_HTTP_ADDR, serves /healthz, /readyz and
// /metrics next to the routes a subcommand mounts, and shuts down gracefully
// (in-flight requests finish) when its context ends.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"marquee/auth"
	"marquee/internal/priority"
)

// defaultReadHeaderTimeout is Options.ReadHeaderTimeout's default, also
// that of the profiles' server of a command without a Server (StartPprof).
const defaultReadHeaderTimeout = 10 * time.Second

// Options configure New. Zero values pick the defaults noted on each field.
type Options struct {
	// Addr is the listen address, e.g. ":8080" or "127.0.0.1:0" (default ":8080").
	Addr string
	// Logger receives the server's own log lines (default: discarded).
	Logger *slog.Logger
	// Version and Revision label the marquee_build_info gauge.
	Version, Revision string
	// TrustedProxies are the reverse proxies whose forwarding headers say
	// who the client is (MARQUEE_TRUSTED_PROXIES; default none): the client
	// of every request is read through them (auth.ClientFrom), for the rate
	// limit and the log.
	TrustedProxies auth.Proxies
	// PprofAddr, when set, is a second listen address that serves Go's
	// runtime profiles (net/http/pprof under /debug/pprof/) and nothing
	// else (MARQUEE_PPROF_ADDR; default none). It is never the API's
	// address: profiles show the process's internals, so it belongs on
	// a loopback or otherwise private address.
	PprofAddr string
	// Foreground, when set, counts every request but the probes
	// (/healthz, /readyz, /metrics) as foreground work of the gate, which
	// the process's background work gives way to (package priority).
	Foreground *priority.Gate
	// StrictTransportSecurity sends HSTSHeader on every response: set it
	// when browsers reach the server over HTTPS only (MARQUEE_PUBLIC_URL is
	// https), also when TLS ends at a proxy in front.
	StrictTransportSecurity bool

	// ReadHeaderTimeout bounds how long a client may take to send the request
	// headers (default 10s): a real client sends them in milliseconds, and
	// without a bound a slow-loris client holds a connection forever.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included (default
	// 30s): the largest bodies Marquee accepts are JSON writes of a few KiB.
	ReadTimeout time.Duration
	// WriteTimeout bounds a request from the end of its headers to the end of
	// the response (default 60s): long enough to send a 10MiB image over a
	// slow link, short enough that a stuck handler or reader cannot pin a
	// connection.
	WriteTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request (default 120s): above the 60s idle timeout of common load
	// balancers, so they close first and never send on a connection we drop.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps request headers (default 64KiB: tokens, cookies and
	// cursors are far smaller).
	MaxHeaderBytes int
	// ShutdownTimeout is how long Run waits for in-flight requests once its
	// context ends (default 8s: inside the 10s that `docker stop` grants
	// before SIGKILL, leaving time to close the database after the server).
	ShutdownTimeout time.Duration
	// CheckTimeout bounds the readiness checks of one /readyz request
	// (default 800ms: below Kubernetes' default 1s probe timeout, so the
	// probe gets our answer rather than its own time-out).
	CheckTimeout time.Duration
}

// Server is one HTTP server with the health, readiness and metrics endpoints
// already mounted. Handle and AddCheck are safe to call at any time, also
// while Run serves; Listen, Run and Close are meant for one goroutine.
type Server struct {
	opts     Options
	logger   *slog.Logger
	mux      *http.ServeMux
	registry *prometheus.Registry
	metrics  *httpMetrics
	handler  http.Handler // mux, observed

	listener      net.Listener
	pprofListener net.Listener // Options.PprofAddr's
	draining      atomic.Bool  // set once shutdown begins: /readyz answers 503

	checksMu sync.Mutex
	checks   []readinessCheck
}

// New returns a server that has mounted GET /healthz, GET /readyz and
// GET /metrics. It does not listen yet: see Listen and Run.
func New(opts Options) *Server {
	if opts.Addr == "" {
		opts.Addr = ":8080"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ReadHeaderTimeout <= 0 {
		opts.ReadHeaderTimeout = defaultReadHeaderTimeout
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = 30 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 60 * time.Second
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 120 * time.Second
	}
	if opts.MaxHeaderBytes <= 0 {
		opts.MaxHeaderBytes = 64 << 10
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 8 * time.Second
	}
	if opts.CheckTimeout <= 0 {
		opts.CheckTimeout = 800 * time.Millisecond
	}
	s := &Server{
		opts:     opts,
		logger:   opts.Logger,
		mux:      http.NewServeMux(),
		registry: newRegistry(opts.Version, opts.Revision),
	}
	s.metrics = newHTTPMetrics(s.registry)
	s.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "marquee_ready",
		Help: "1 when /readyz would answer 200 (every dependency this process needs answers), else 0; checked at each scrape.",
	}, func() float64 {
		if s.readiness(context.Background()).Status == "ready" {
			return 1
		}
		return 0
	}))
	s.handler = s.observe(s.mux)
	s.mux.HandleFunc("GET /healthz", s.serveHealth)
	s.mux.HandleFunc("GET /readyz", s.serveReady)
	s.mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(s.registry,
		promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{
			ErrorLog: slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
			// A scrape still gets the metrics that could be gathered.
			ErrorHandling: promhttp.ContinueOnError,
			// Bounds concurrent scrapes, so a flood of them cannot pile up
			// collections.
			MaxRequestsInFlight: 4,
		})))
	return s
}

// newRegistry returns a registry with the Go runtime and process collectors
// and the marquee_build_info gauge. A registry of our own, not the global one,
// keeps servers in one test process apart.
func newRegistry(version, revision string) *prometheus.Registry {
	registry := prometheus.NewRegistry()
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "marquee_build_info",
		Help: "Always 1; the labels say which build of Marquee is running.",
		ConstLabels: prometheus.Labels{
			"version":   version,
			"revision":  revision,
			"goversion": runtime.Version(),
		},
	})
	buildInfo.Set(1)
	registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo,
	)
	return registry
}

// Handle mounts handler on pattern (net/http ServeMux syntax, e.g.
// "GET /api/v1/pornstars/{id}"). It panics when pattern is taken, like
// ServeMux does.
func (s *Server) Handle(pattern string, handler http.Handler) {
	s.mux.Handle(pattern, handler)
}

// Registerer is where the parts of the process register their Prometheus
// metrics; /metrics serves them.
func (s *Server) Registerer() prometheus.Registerer {
	return s.registry
}

// Handler is the server's whole routing tree with its request ids,
// metrics and access log, for tests that use httptest.
func (s *Server) Handler() http.Handler {
	return s.handler
}

// Listen binds the listen address, so that a taken port is reported before
// the caller does slow start-up work, and so that Addr knows the port when
// Options.Addr asked for port 0. Calling it again does nothing.
func (s *Server) Listen() error {
	if s.listener != nil {
		return nil
	}
	listener, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if err := s.listenPprof(); err != nil {
		listener.Close()
		return err
	}
	s.listener = listener
	return nil
}

// Addr is the bound address, or nil before Listen.
func (s *Server) Addr() net.Addr {
	if s.listener == nil {
		return nil
	}
	return s.listener.Addr()
}

// Close releases the listener of a server that will not Run, when start-up
// fails after Listen. Run closes its own listener; Close after Run does
// nothing, so callers may defer it.
func (s *Server) Close() error {
	if s.listener == nil {
		return nil
	}
	var errs []error
	for _, l := range []net.Listener{s.listener, s.pprofListener} {
		if l == nil {
			continue
		}
		if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("server: close: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Run listens (unless Listen already did) and serves until ctx ends. Then it
// stops accepting connections, lets in-flight requests finish for up to
// Options.ShutdownTimeout, and returns nil. It returns an error when it could
// not listen or serve, or when requests were still running at the time-out
// (they are then cut off).
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	httpServer := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		ReadTimeout:       s.opts.ReadTimeout,
		WriteTimeout:      s.opts.WriteTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    s.opts.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		// Request contexts deliberately do not derive from ctx: a shutdown
		// lets in-flight requests finish instead of cancelling them.
	}
	defer s.servePprof()()
	serveDone := make(chan error, 1)
	go func() { serveDone <- httpServer.Serve(s.listener) }()

	select {
	case err := <-serveDone:
		return fmt.Errorf("server: serve: %w", err)
	case <-ctx.Done():
	}

	s.draining.Store(true)
	s.logger.Info("http server shutting down", "timeout", s.opts.ShutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownTimeout)
	defer cancel()
	shutdownErr := httpServer.Shutdown(shutdownCtx)
	if err := <-serveDone; !errors.Is(err, http.ErrServerClosed) {
		shutdownErr = errors.Join(shutdownErr, err)
	}
	if shutdownErr != nil {
		httpServer.Close()
		return fmt.Errorf("server: shutdown: requests still running after %s were cut off: %w", s.opts.ShutdownTimeout, shutdownErr)
	}
	s.logger.Info("http server stopped")
	return nil
}

// Security headers of every response (see setResponseHeaders).
const (
	// ReferrerPolicy keeps every URL of Marquee's out of the Referer that
	// browsers send when a page of ours links or loads elsewhere: API URLs
	// carry search terms and cursors, and nothing Marquee serves needs a
	// referrer, not even its own (the APIs never read one).
	ReferrerPolicy = "no-referrer"
	// HSTSHeader makes browsers use HTTPS only for a year (the common
	// choice, and what preload lists ask for), without includeSubDomains:
	// Marquee cannot know that every host below its own serves HTTPS.
	HSTSHeader = "max-age=31536000"
)

// setResponseHeaders sets the headers every answer carries, whoever writes
// its body: a browser must not guess a type other than the one we name
// (nosniff), and leaks no URL of ours (ReferrerPolicy). Handlers may set a
// stricter policy of their own.
func (s *Server) setResponseHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", ReferrerPolicy)
	if s.opts.StrictTransportSecurity {
		h.Set("Strict-Transport-Security", HSTSHeader)
	}
}

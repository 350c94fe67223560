package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// pprofHandler serves Go's runtime profiles under /debug/pprof/, as
// `go tool pprof http://ADDR/debug/pprof/profile?seconds=30` expects.
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

// listenPprof binds Options.PprofAddr, when set.
func (s *Server) listenPprof() error {
	if s.opts.PprofAddr == "" || s.pprofListener != nil {
		return nil
	}
	listener, err := net.Listen("tcp", s.opts.PprofAddr)
	if err != nil {
		return fmt.Errorf("server: profiles: %w", err)
	}
	s.pprofListener = listener
	return nil
}

// PprofAddr is the bound address of the profiles' listener, or nil when
// Options.PprofAddr is empty or before Listen.
func (s *Server) PprofAddr() net.Addr {
	if s.pprofListener == nil {
		return nil
	}
	return s.pprofListener.Addr()
}

// servePprof serves the profiles until the returned stop is called.
func (s *Server) servePprof() (stop func()) {
	if s.pprofListener == nil {
		return func() {}
	}
	return servePprofOn(s.pprofListener, s.opts.ReadHeaderTimeout, s.logger)
}

// StartPprof serves Go's runtime profiles on addr, for a command that has no
// Server of its own (`ingest --once`), until the returned stop is called.
func StartPprof(addr string, logger *slog.Logger) (bound net.Addr, stop func(), err error) {
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("server: profiles: %w", err)
	}
	return listener.Addr(), servePprofOn(listener, defaultReadHeaderTimeout, logger), nil
}

// servePprofOn serves the profiles on listener until the returned stop is
// called. A profile or trace runs for as long as its request asks
// (seconds=N), so there is no write deadline; stop cuts off one still
// running.
func servePprofOn(listener net.Listener, readHeaderTimeout time.Duration, logger *slog.Logger) (stop func()) {
	srv := &http.Server{
		Handler:           pprofHandler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Warn("profiles server stopped", "err", err)
		}
	}()
	logger.Info("serving runtime profiles", "addr", listener.Addr().String())
	return func() {
		srv.Close()
		<-done
	}
}

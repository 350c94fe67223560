package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// readinessCheck is one named dependency that /readyz asks about.
type readinessCheck struct {
	name    string
	check   func(context.Context) error
	failing bool // last result, so that only changes are logged
	// optional checks are reported in the body but do not make the
	// process unready.
	optional bool
}

// AddCheck makes /readyz depend on check: the process is ready only while
// every check returns nil. A check must return once its context ends (it gets
// Options.CheckTimeout). Its error text is shown in the /readyz body to
// anyone who can reach the port, so it must not carry credentials or
// internals; log the details instead. AddCheck panics on an empty or
// duplicate name.
func (s *Server) AddCheck(name string, check func(context.Context) error) {
	s.addCheck(name, check, false)
}

// AddOptionalCheck is AddCheck for a dependency the process works without:
// /readyz reports its state but stays ready when it fails (the API without
// Kafka, say).
func (s *Server) AddOptionalCheck(name string, check func(context.Context) error) {
	s.addCheck(name, check, true)
}

func (s *Server) addCheck(name string, check func(context.Context) error, optional bool) {
	s.checksMu.Lock()
	defer s.checksMu.Unlock()
	if name == "" {
		panic("server: AddCheck with an empty name")
	}
	for _, c := range s.checks {
		if c.name == name {
			panic(fmt.Sprintf("server: AddCheck: a check named %q exists", name))
		}
	}
	s.checks = append(s.checks, readinessCheck{name: name, check: check, optional: optional})
}

// serveHealth answers 200 while the process can answer at all: liveness
// depends on nothing else, or a database outage would get healthy
// processes restarted.
func (s *Server) serveHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

// readiness is the /readyz body.
type readiness struct {
	// Status is "ready", "not ready" or "shutting down".
	Status string `json:"status"`
	// Checks maps each check's name to "ok" or the reason it failed.
	Checks map[string]string `json:"checks"`
}

// serveReady runs every check concurrently and answers 200 when all pass,
// 503 otherwise or once shutdown has begun.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	body := s.readiness(r.Context())
	code := http.StatusOK
	if body.Status != "ready" {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// readiness runs the checks and says what /readyz answers.
func (s *Server) readiness(ctx context.Context) readiness {
	body := readiness{Status: "ready", Checks: s.runChecks(ctx)}
	s.checksMu.Lock()
	optional := make(map[string]bool)
	for _, c := range s.checks {
		optional[c.name] = c.optional
	}
	s.checksMu.Unlock()
	for name, result := range body.Checks {
		if result != "ok" && !optional[name] {
			body.Status = "not ready"
		}
	}
	if s.draining.Load() {
		body.Status = "shutting down"
	}
	return body
}

// runChecks returns each check's result ("ok" or a reason). A check that has
// not returned when the time-out passes counts as timed out; it is left to
// return on its own.
func (s *Server) runChecks(ctx context.Context) map[string]string {
	s.checksMu.Lock()
	checks := make([]readinessCheck, len(s.checks))
	copy(checks, s.checks)
	s.checksMu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, s.opts.CheckTimeout)
	defer cancel()
	type outcome struct {
		name string
		err  error
	}
	outcomes := make(chan outcome, len(checks)) // buffered: late checks never block
	for _, c := range checks {
		go func() { outcomes <- outcome{c.name, c.check(ctx)} }()
	}
	timedOut := fmt.Errorf("no answer within %s", s.opts.CheckTimeout)
	errs := make(map[string]error, len(checks))
	for _, c := range checks {
		errs[c.name] = timedOut
	}
collect:
	for range checks {
		select {
		case o := <-outcomes:
			if o.err != nil && ctx.Err() != nil {
				o.err = timedOut // the check gave up because we stopped waiting
			}
			errs[o.name] = o.err
		case <-ctx.Done():
			break collect
		}
	}
	results := make(map[string]string, len(checks))
	for name, err := range errs {
		results[name] = "ok"
		if err != nil {
			results[name] = err.Error()
		}
		s.noteCheckResult(name, err)
	}
	return results
}

// noteCheckResult logs a check that starts failing or recovers, once per
// change rather than once per probe.
func (s *Server) noteCheckResult(name string, err error) {
	s.checksMu.Lock()
	defer s.checksMu.Unlock()
	for i := range s.checks {
		c := &s.checks[i]
		if c.name != name || c.failing == (err != nil) {
			continue
		}
		c.failing = err != nil
		if c.failing {
			s.logger.Warn("readiness check failing", "check", name, "err", err)
		} else {
			s.logger.Info("readiness check passing again", "check", name)
		}
	}
}

package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"marquee/auth"
)

// RequestIDHeader carries a request's id in both directions: a caller's id
// (a proxy's, say) is kept when it is sane, else one is made; the response
// always names it, and so does every log line about the request.
const RequestIDHeader = "X-Request-Id"

type requestIDKey struct{}

type routeKey struct{}

// SetRoute names the route of the request ctx belongs to, for the metrics
// and the log line, when a handler routes further below the server's own
// ServeMux (whose pattern would otherwise label every request it passes on).
func SetRoute(ctx context.Context, route string) {
	if slot, ok := ctx.Value(routeKey{}).(*string); ok {
		*slot = route
	}
}

// Route returns the route SetRoute named for the request ctx belongs to,
// or "" when none was named.
func Route(ctx context.Context) string {
	if slot, ok := ctx.Value(routeKey{}).(*string); ok {
		return *slot
	}
	return ""
}

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// httpMetrics are the server's request metrics, labelled by route (the
// ServeMux pattern that matched, so the label set stays small whatever the
// paths), method and status.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "marquee_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "marquee_http_request_duration_seconds",
			Help: "Time from a request's headers to the end of its response, by route pattern and method.",
			// 1 ms to 10 s: API pages take milliseconds, image bytes longer.
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .2, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "marquee_http_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.inFlight)
	return m
}

// probePaths are the server's own probes and scrapes, which monitoring asks
// for every few seconds: they say nothing about the API's use, so they are
// logged at debug level only (quietRoutes), and they are not foreground work
// (Options.Foreground).
var probePaths = []string{"/healthz", "/readyz", "/metrics"}

// quietRoutes are the route patterns of probePaths.
var quietRoutes = func() map[string]bool {
	routes := map[string]bool{}
	for _, path := range probePaths {
		routes["GET "+path] = true
	}
	return routes
}()

// isProbe reports whether path is one of probePaths.
func isProbe(path string) bool { return slices.Contains(probePaths, path) }

// observe wraps next with what every request gets: its id, the security
// headers, its client (read through the trusted proxies, see
// auth.ClientFrom), a recovered panic answered 500, the metrics, and one log
// line naming the client and, when one authenticated it, the token's name.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = newRequestID()
		}
		s.setResponseHeaders(w.Header())
		w.Header().Set(RequestIDHeader, id)
		var nestedRoute string
		client := s.opts.TrustedProxies.Client(r)
		ctx := context.WithValue(r.Context(), requestIDKey{}, id)
		ctx = auth.WithClient(context.WithValue(ctx, routeKey{}, &nestedRoute), client)
		ctx, caller := auth.RecordCaller(ctx)
		r = r.WithContext(ctx)
		rec := &statusRecorder{ResponseWriter: w}
		if s.opts.Foreground != nil && !isProbe(r.URL.Path) {
			defer s.opts.Foreground.Begin()()
		}
		s.metrics.inFlight.Inc()
		defer func() {
			s.metrics.inFlight.Dec()
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.logger.Error("http handler panicked", "request_id", id, "method", r.Method,
					"path", r.URL.Path, "panic", p)
				if !rec.wroteHeader {
					rec.Header().Set("Content-Type", "application/problem+json")
					rec.WriteHeader(http.StatusInternalServerError)
					rec.Write([]byte(`{"type":"about:blank","title":"Internal Server Error","status":500,"detail":"the request failed; its id is in the X-Request-Id header"}`))
				}
			}
			// r.Pattern is set by the ServeMux that routed the request.
			route := r.Pattern
			if nestedRoute != "" {
				route = nestedRoute
			}
			if route == "" {
				route = "unmatched"
			}
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			elapsed := time.Since(start)
			method := methodLabel(r.Method)
			s.metrics.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
			s.metrics.duration.WithLabelValues(route, method).Observe(elapsed.Seconds())
			level := slog.LevelInfo
			if quietRoutes[route] {
				level = slog.LevelDebug
			}
			attrs := []any{"request_id", id, "method", r.Method,
				"route", route, "path", r.URL.Path, "status", status, "bytes", rec.bytes,
				"duration_ms", float64(elapsed.Microseconds()) / 1000, "remote", r.RemoteAddr,
				"client", client.Addr, "proto", client.Proto}
			if caller.TokenName != "" {
				// The token's name, never the token.
				attrs = append(attrs, "token", caller.TokenName)
			}
			s.logger.Log(r.Context(), level, "http request", attrs...)
		}()
		next.ServeHTTP(rec, r)
	})
}

// methodLabel is the method as a metric label: the standard ones as they
// are, any other as OTHER, since a client may send any token as a method
// and each distinct label value is a new series kept in memory.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// validRequestID accepts ids of up to 128 visible ASCII characters, so that
// a caller cannot put newlines or megabytes into our logs.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// statusRecorder remembers the status and size of a response. It passes
// Flush through (streamed responses) and unwraps for http.ResponseController.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wroteHeader && code >= 200 {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = http.StatusOK, true
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRequestIDsMetricsAndLog(t *testing.T) {
	var logs bytes.Buffer
	s := New(Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	var seen string
	s.Handle("GET /things/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = RequestID(r.Context())
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "short and stout")
	}))

	get := func(path, id string) *http.Response {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		if id != "" {
			r.Header.Set(RequestIDHeader, id)
		}
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		return w.Result()
	}

	// A caller's sane id is kept, and the handler sees it.
	res := get("/things/1", "proxy-id-42")
	if got := res.Header.Get(RequestIDHeader); got != "proxy-id-42" || seen != "proxy-id-42" {
		t.Fatalf("request id: header %q, handler %q; want the caller's", got, seen)
	}
	// An insane one is replaced.
	for _, bad := range []string{"with space", strings.Repeat("x", 129), "new\nline"} {
		res = get("/things/2", bad)
		got := res.Header.Get(RequestIDHeader)
		if got == bad || len(got) != 24 || seen != got {
			t.Errorf("caller id %q: got %q (handler %q), want a fresh id", bad, got, seen)
		}
	}
	get("/nowhere", "")
	s.Handle("/nested/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetRoute(r.Context(), "GET /nested/{thing}")
	}))
	get("/nested/x", "")
	for _, m := range []string{"FOO1", "FOO2"} {
		s.Handler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(m, "/things/3", nil))
	}

	var line map[string]any
	for _, raw := range bytes.Split(bytes.TrimSpace(logs.Bytes()), []byte("\n")) {
		if bytes.Contains(raw, []byte("proxy-id-42")) {
			if err := json.Unmarshal(raw, &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line["msg"] != "http request" || line["route"] != "GET /things/{id}" || line["status"] != float64(418) ||
		line["bytes"] != float64(15) || line["path"] != "/things/1" {
		t.Errorf("log line %v", line)
	}

	metrics := get("/metrics", "")
	body, _ := io.ReadAll(metrics.Body)
	for _, want := range []string{
		`marquee_http_requests_total{code="418",method="GET",route="GET /things/{id}"} 4`,
		`marquee_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`marquee_http_requests_total{code="200",method="GET",route="GET /nested/{thing}"} 1`,
		`marquee_http_requests_total{code="405",method="OTHER",route="unmatched"} 2`,
		`marquee_http_request_duration_seconds_count{method="GET",route="GET /things/{id}"} 4`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestPanicIsAProblemWithoutStack(t *testing.T) {
	var logs bytes.Buffer
	s := New(Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	s.Handle("GET /boom", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("secret internals")
	}))
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/boom", nil))
	if w.Code != http.StatusInternalServerError || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("status %d, type %q", w.Code, w.Header().Get("Content-Type"))
	}
	if strings.Contains(w.Body.String(), "secret") || strings.Contains(w.Body.String(), "goroutine") {
		t.Fatalf("the panic leaked to the client: %s", w.Body)
	}
	var problem map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &problem); err != nil || problem["status"] != float64(500) {
		t.Fatalf("body %s: %v", w.Body, err)
	}
	if !strings.Contains(logs.String(), "secret internals") || !strings.Contains(logs.String(), w.Header().Get(RequestIDHeader)) {
		t.Errorf("the panic is not logged with the request id: %s", logs.String())
	}
}

func TestOptionalCheckKeepsReady(t *testing.T) {
	s := New(Options{})
	s.AddCheck("database", func(context.Context) error { return nil })
	s.AddOptionalCheck("kafka", func(context.Context) error { return errors.New("no broker answers") })
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	var body readiness
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusOK || body.Status != "ready" || body.Checks["kafka"] != "no broker answers" {
		t.Fatalf("%d %+v: want ready, with Kafka's failure reported", w.Code, body)
	}
	s.AddCheck("replica", func(context.Context) error { return errors.New("down") })
	w = httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("a failing required check: %d, want 503", w.Code)
	}
}

package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"marquee/auth"
)

func TestSecurityHeaders(t *testing.T) {
	for _, tc := range []struct {
		name     string
		hsts     bool
		path     string
		wantHSTS string
	}{
		{"a route, plain HTTP", false, "/page", ""},
		{"a route, HTTPS public URL", true, "/page", HSTSHeader},
		{"the health check", true, "/healthz", HSTSHeader},
		{"no route", true, "/nowhere", HSTSHeader},
		{"a panic", true, "/boom", HSTSHeader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Options{StrictTransportSecurity: tc.hsts})
			s.Handle("GET /page", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte("<p>hello</p>"))
			}))
			s.Handle("GET /boom", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
			w := httptest.NewRecorder()
			s.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, tc.path, nil))
			h := w.Result().Header
			if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("X-Content-Type-Options %q, Referrer-Policy %q; want nosniff, no-referrer",
					h.Get("X-Content-Type-Options"), h.Get("Referrer-Policy"))
			}
			if got := h.Get("Strict-Transport-Security"); got != tc.wantHSTS {
				t.Errorf("Strict-Transport-Security %q, want %q", got, tc.wantHSTS)
			}
		})
	}
}

func TestLogNamesClientAndToken(t *testing.T) {
	const token = "ci-token-0123456789"
	tokens, err := auth.ParseTokens("name=ci:" + token)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name          string
		proxies       []netip.Prefix
		authorization string
		wantClient    string
		wantToken     any // nil: no token attribute
	}{
		{"behind a trusted proxy, with a token", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, "Bearer " + token, "198.51.100.7", "ci"},
		{"behind a trusted proxy, anonymous", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, "", "198.51.100.7", nil},
		{"an untrusted peer", nil, "Bearer " + token, "10.1.1.1", "ci"},
		{"a wrong token", nil, "Bearer not-the-token-at-all", "10.1.1.1", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			s := New(Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), TrustedProxies: auth.NewProxies(tc.proxies)})
			var seenIP string
			s.Handle("POST /things", tokens.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seenIP = auth.CallerFrom(r.Context()).IP
				w.WriteHeader(http.StatusCreated)
			})))
			r := httptest.NewRequest(http.MethodPost, "/things", nil)
			r.RemoteAddr = "10.1.1.1:40000"
			r.Header.Set("X-Forwarded-For", "198.51.100.7")
			if tc.authorization != "" {
				r.Header.Set("Authorization", tc.authorization)
			}
			s.Handler().ServeHTTP(httptest.NewRecorder(), r)
			if seenIP != tc.wantClient {
				t.Errorf("the handler's caller IP %q, want %q", seenIP, tc.wantClient)
			}
			var line map[string]any
			if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
				t.Fatalf("log %q: %v", logs.String(), err)
			}
			if line["client"] != tc.wantClient || line["remote"] != "10.1.1.1:40000" || line["token"] != tc.wantToken {
				t.Errorf("log line client %v, remote %v, token %v; want %s, 10.1.1.1:40000, %v",
					line["client"], line["remote"], line["token"], tc.wantClient, tc.wantToken)
			}
			if strings.Contains(logs.String(), token) {
				t.Errorf("the log shows the token: %s", logs.String())
			}
		})
	}
}

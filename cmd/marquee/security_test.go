package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"marquee/auth"
	"marquee/internal/testkit"
)

func TestTokenNew(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		wantRole auth.Role
		wantName string // "" for the default name
		prefix   string // of the entry
	}{
		{"a write token", nil, auth.RoleWrite, "", "sha256:"},
		{"a read-only token", []string{"--read"}, auth.RoleRead, "", "sha256:"},
		{"a named read-only token", []string{"--read", "--name", "dash.board-1"}, auth.RoleRead, "dash.board-1", "name=dash.board-1:sha256:"},
		{"a named write token", []string{"--name=ci"}, auth.RoleWrite, "ci", "name=ci:sha256:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t.Context(), nil, append([]string{"token", "new"}, tc.args...)...)
			lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
			if code != exitOK || len(lines) != 2 || stderr != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 0 and two lines", code, stdout, stderr)
			}
			token, entry := lines[0], lines[1]
			if !strings.HasPrefix(entry, tc.prefix) || strings.Contains(entry, token) {
				t.Errorf("entry %q: want it to start with %q and not to hold the token", entry, tc.prefix)
			}
			tokens, err := auth.ParseTokens(entry)
			if err != nil {
				t.Fatalf("the entry does not parse: %v", err)
			}
			role, name := tokens.Lookup(token)
			wantName := tc.wantName
			if wantName == "" {
				wantName = strings.TrimPrefix(entry, "sha256:")[:8]
				wantName = "sha256:" + wantName
			}
			if role != tc.wantRole || name != wantName {
				t.Errorf("the entry gives the token role %v, name %q; want %v, %q", role, name, tc.wantRole, wantName)
			}
			_, again, _ := runCLI(t.Context(), nil, append([]string{"token", "new"}, tc.args...)...)
			if strings.Split(again, "\n")[0] == token {
				t.Error("two runs printed the same token")
			}
		})
	}
}

func TestTokenNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a name with a colon", []string{"new", "--name", "a:b"}, "only letters, digits"},
		{"an empty name", []string{"new", "--name="}, ""},
		{"an argument", []string{"new", "extra"}, `unexpected argument "extra"`},
		{"no tool", nil, "no tool given"},
		{"an unknown tool", []string{"old"}, `unknown tool "old"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t.Context(), nil, append([]string{"token"}, tc.args...)...)
			if tc.want == "" {
				// An empty --name is the default name.
				if code != exitOK {
					t.Fatalf("exit %d, stderr %q", code, stderr)
				}
				return
			}
			if code != exitUsage || stdout != "" || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 2 and %q", code, stdout, stderr, tc.want)
			}
		})
	}
}

// TestEmbeddedToken covers `run` without --api-tokens: the token is printed
// once, the data dir keeps only its hash, and an older file holding the
// token itself is converted, with a warning that it can no longer be read.
func TestEmbeddedToken(t *testing.T) {
	const oldToken = "token-of-an-older-release-0123"
	for _, tc := range []struct {
		name        string
		fileBefore  string // "" for none
		wantPrinted bool
		wantLog     string
	}{
		{"first start", "", true, ""},
		{"a hashed file", auth.HashedEntry(oldToken, "embedded", auth.RoleWrite) + "\n", false, "API write token from the data dir"},
		{"a file of an older release", oldToken + "\n", false, "can no longer be read from it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.DataDir = t.TempDir()
			path := filepath.Join(cfg.DataDir, auth.TokenFile)
			if tc.fileBefore != "" {
				if err := os.WriteFile(path, []byte(tc.fileBefore), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var logs, stderr bytes.Buffer
			tokens, err := apiTokens(cfg, slog.New(slog.NewJSONHandler(&logs, nil)), environment{stderr: &stderr}, true)
			if err != nil {
				t.Fatal(err)
			}
			token := oldToken
			if tc.wantPrinted {
				fields := strings.Fields(stderr.String())
				for _, f := range fields {
					if len(f) == 43 {
						token = f
					}
				}
				if token == oldToken {
					t.Fatalf("stderr shows no token: %q", stderr.String())
				}
			} else if stderr.Len() > 0 {
				t.Errorf("stderr %q, want nothing", stderr.String())
			}
			if role, name := tokens.Lookup(token); role != auth.RoleWrite || name != auth.EmbeddedTokenName {
				t.Errorf("the token is %v %q, want write %q", role, name, auth.EmbeddedTokenName)
			}
			if !strings.Contains(logs.String(), tc.wantLog) || strings.Contains(logs.String(), token) {
				t.Errorf("log %q: want %q and never the token", logs.String(), tc.wantLog)
			}
			content, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if want := auth.HashedEntry(token, "embedded", auth.RoleWrite) + "\n"; string(content) != want {
				t.Errorf("the file holds %q, want %q", content, want)
			}
		})
	}
}

// TestRateLimitBehindProxies runs `marquee api` with a rate limit of one
// request per 100 s per client, so each client has exactly one request,
// and sends requests from 127.0.0.1 that claim other clients.
func TestRateLimitBehindProxies(t *testing.T) {
	type request struct {
		header, value string
		wantStatus    int
		wantClient    string
	}
	for _, tc := range []struct {
		name     string
		trusted  string
		requests []request
	}{
		{"an untrusted peer cannot spoof its way out", "", []request{
			{"X-Forwarded-For", "198.51.100.1", http.StatusOK, "127.0.0.1"},
			{"X-Forwarded-For", "198.51.100.2", http.StatusTooManyRequests, "127.0.0.1"},
			{"Forwarded", "for=198.51.100.3", http.StatusTooManyRequests, "127.0.0.1"},
			{"X-Real-Ip", "198.51.100.4", http.StatusTooManyRequests, "127.0.0.1"},
		}},
		{"behind a trusted proxy the client is limited", "127.0.0.0/8", []request{
			{"X-Forwarded-For", "198.51.100.1", http.StatusOK, "198.51.100.1"},
			{"X-Forwarded-For", "198.51.100.1", http.StatusTooManyRequests, "198.51.100.1"},
			// The client wrote its own X-Forwarded-For; the proxy appended.
			{"X-Forwarded-For", "203.0.113.7, 198.51.100.1", http.StatusTooManyRequests, "198.51.100.1"},
			{"X-Forwarded-For", "198.51.100.2", http.StatusOK, "198.51.100.2"},
			{"Forwarded", `for="[2001:db8::1]:4711";proto=https`, http.StatusOK, "2001:db8::1"},
			{"Forwarded", `for="[2001:db8::1]:5000", for=127.0.0.2`, http.StatusTooManyRequests, "2001:db8::1"},
			// Malformed: the proxy's own address, never a 500.
			{"Forwarded", `for="[2001:db8::1`, http.StatusOK, "127.0.0.1"},
			{"X-Forwarded-For", "not an address", http.StatusTooManyRequests, "127.0.0.1"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"--db", "sqlite://" + filepath.Join(t.TempDir(), "m.db"), "--api-rate-limit", "0.01", "--log-format", "json"}
			if tc.trusted != "" {
				args = append(args, "--trusted-proxies", tc.trusted)
			}
			base, logs := startAPILogging(t, args...)
			for i, rq := range tc.requests {
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/api/v1/pornstars", nil)
				req.Header.Set(rq.header, rq.value)
				id := fmt.Sprintf("rate-limit-request-%d", i)
				req.Header.Set("X-Request-Id", id)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != rq.wantStatus {
					t.Errorf("request %d (%s: %s): %d, want %d", i, rq.header, rq.value, res.StatusCode, rq.wantStatus)
				}
				if client := loggedClient(t, logs, id); client != rq.wantClient {
					t.Errorf("request %d (%s: %s): logged client %q, want %q", i, rq.header, rq.value, client, rq.wantClient)
				}
			}
		})
	}
}

// loggedClient is the client that the request log line of request id names.
func loggedClient(t *testing.T, logs *testkit.SyncBuffer, id string) string {
	t.Helper()
	for line := range strings.SplitSeq(logs.String(), "\n") {
		var entry struct {
			Msg       string `json:"msg"`
			RequestID string `json:"request_id"`
			Client    string `json:"client"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "http request" && entry.RequestID == id {
			return entry.Client
		}
	}
	t.Fatalf("no request log line for %s", id)
	return ""
}

func TestAPISecurityHeaders(t *testing.T) {
	for _, tc := range []struct {
		name      string
		publicURL string
		wantHSTS  string
	}{
		{"HTTPS public URL", "https://api.example.test", "max-age=31536000"},
		{"no public URL", "", ""},
		{"HTTP public URL", "http://api.example.test", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := startAPI(t, "--db", "sqlite://"+filepath.Join(t.TempDir(), "m.db"), "--public-url", tc.publicURL,
				"--graphql-introspection", "--cors-origins", "http://127.0.0.1:1")
			for _, rq := range []struct {
				method, path, body string
				header             map[string]string
				wantStatus         int
			}{
				{"GET", "/api/v1/pornstars", "", nil, http.StatusOK},
				{"GET", "/api/v1/pornstars/999", "", nil, http.StatusNotFound},
				{"POST", "/graphql", `{"query":"{ __typename }"}`, map[string]string{"Content-Type": "application/json"}, http.StatusOK},
				{"GET", "/playground/", "", nil, http.StatusOK},
				{"GET", "/images/" + strings.Repeat("ab", 32), "", nil, http.StatusNotFound},
				{"OPTIONS", "/api/v1/pornstars", "", map[string]string{"Origin": "http://127.0.0.1:1", "Access-Control-Request-Method": "POST"}, http.StatusNoContent},
				{"GET", "/healthz", "", nil, http.StatusOK},
				{"GET", "/", "", nil, http.StatusOK},
			} {
				req, _ := http.NewRequestWithContext(t.Context(), rq.method, base+rq.path, strings.NewReader(rq.body))
				for k, v := range rq.header {
					req.Header.Set(k, v)
				}
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				h := res.Header
				if res.StatusCode != rq.wantStatus || h.Get("X-Content-Type-Options") != "nosniff" ||
					h.Get("Referrer-Policy") != "no-referrer" || h.Get("Strict-Transport-Security") != tc.wantHSTS {
					t.Errorf("%s %s: %d, nosniff %q, Referrer-Policy %q, HSTS %q; want %d, nosniff, no-referrer, %q",
						rq.method, rq.path, res.StatusCode, h.Get("X-Content-Type-Options"), h.Get("Referrer-Policy"),
						h.Get("Strict-Transport-Security"), rq.wantStatus, tc.wantHSTS)
				}
				if rq.method == "OPTIONS" && h.Get("Access-Control-Allow-Origin") != "http://127.0.0.1:1" {
					t.Errorf("the preflight lost its CORS headers: %v", h)
				}
				if rq.path == "/playground/" && !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
					t.Errorf("playground CSP %q lacks frame-ancestors 'none'", h.Get("Content-Security-Policy"))
				}
			}
		})
	}
}

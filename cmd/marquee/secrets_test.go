package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"marquee/db/dbtest"
)

// TestSecretsFromFiles checks that each secret setting reads <NAME>_FILE
// (its trailing newline trimmed) and that setting both is a usage error.
func TestSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	dbFile := write("db", "mysql://u:db-pw@127.0.0.1:1/marquee\n")
	for _, tc := range []struct {
		name     string
		setting  string
		vars     map[string]string
		want     string // the value the setting holds, when wantCode is 0
		wantCode int
		wantErr  string
	}{
		{"DB from its file", "db", map[string]string{"MARQUEE_DB_FILE": dbFile}, "mysql://u:db-pw@127.0.0.1:1/marquee", exitOK, ""},
		{"replica from its file", "db-replica", map[string]string{"MARQUEE_DB_REPLICA_FILE": write("replica", "mysql://u:r-pw@127.0.0.1:2/marquee\r\n")}, "mysql://u:r-pw@127.0.0.1:2/marquee", exitOK, ""},
		{"tokens from their file", "api-tokens", map[string]string{"MARQUEE_API_TOKENS_FILE": write("tokens", "aaaaaaaaaaaaaaaaaaaa,bbbbbbbbbbbbbbbbbbbb:read\n\n")}, "aaaaaaaaaaaaaaaaaaaa,bbbbbbbbbbbbbbbbbbbb:read", exitOK, ""},
		{"SASL password from its file", "kafka-sasl-password", map[string]string{"MARQUEE_KAFKA_SASL_PASSWORD_FILE": write("sasl", "pw with spaces \n")}, "pw with spaces ", exitOK, ""},
		{"the variable alone", "db", map[string]string{"MARQUEE_DB": "sqlite://x.db"}, "sqlite://x.db", exitOK, ""},
		{"an empty _FILE counts as unset", "db", map[string]string{"MARQUEE_DB": "sqlite://x.db", "MARQUEE_DB_FILE": ""}, "sqlite://x.db", exitOK, ""},
		{"both set", "db", map[string]string{"MARQUEE_DB": "sqlite://x.db", "MARQUEE_DB_FILE": dbFile}, "", exitUsage, "MARQUEE_DB and MARQUEE_DB_FILE are both set"},
		{"both set for the password", "kafka-sasl-password", map[string]string{"MARQUEE_KAFKA_SASL_PASSWORD": "x", "MARQUEE_KAFKA_SASL_PASSWORD_FILE": dbFile}, "", exitUsage, "MARQUEE_KAFKA_SASL_PASSWORD and MARQUEE_KAFKA_SASL_PASSWORD_FILE are both set"},
		{"a missing file", "api-tokens", map[string]string{"MARQUEE_API_TOKENS_FILE": filepath.Join(dir, "missing")}, "", exitUsage, "MARQUEE_API_TOKENS_FILE: open " + filepath.Join(dir, "missing")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var value string
			f := newFlags("marquee test", "")
			f.String(&value, tc.setting, "")
			err := f.parse(nil, envFrom(tc.vars))
			if tc.wantCode == exitOK {
				if err != nil || value != tc.want {
					t.Errorf("--%s = %q, %v; want %q", tc.setting, value, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("parse: %v, want a usage error with %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "db-pw") {
				t.Errorf("the error quotes the file's secret: %v", err)
			}
			code, _, stderr := runCLI(t.Context(), tc.vars, "migrate", "status")
			if tc.setting == "db" && (code != exitUsage || !strings.Contains(stderr, tc.wantErr)) {
				t.Errorf("marquee migrate status: exit %d, want %d with %q\n%s", code, exitUsage, tc.wantErr, stderr)
			}
		})
	}
}

// TestNoSecretInOutput runs `marquee run` with a database password, API
// tokens and a Kafka SASL password (each from a file, as Docker secrets give
// them), uses it (a feed run, good and bad tokens, /readyz, /metrics), stops
// it, and looks for each secret in every log line and in the bodies.
func TestNoSecretInOutput(t *testing.T) {
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			dbURL := backend.URL(t)
			secrets := map[string]string{
				"API write token":   "write-token-7c1f0e5a9d3b",
				"API read token":    "read-token-2b8e4d6f1a0c",
				"Kafka password":    "sasl-pw-9f3a7e1c5b2d",
				"wrong token given": "wrong-token-4e6a8c0b2d1f",
			}
			if u, err := url.Parse(dbURL); err == nil && u.User != nil {
				if password, ok := u.User.Password(); ok {
					secrets["database password"] = password
				}
			}
			dir := t.TempDir()
			files := map[string]string{
				"MARQUEE_DB_FILE":                  dbURL,
				"MARQUEE_API_TOKENS_FILE":          secrets["API write token"] + "," + secrets["API read token"] + ":read",
				"MARQUEE_KAFKA_SASL_PASSWORD_FILE": secrets["Kafka password"],
			}
			vars := map[string]string{
				"MARQUEE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
				"MARQUEE_KAFKA_SASL_USERNAME":  "marquee",
				"MARQUEE_LOG_FORMAT":           "json",
				"MARQUEE_LOG_LEVEL":            "debug",
			}
			for variable, content := range files {
				path := filepath.Join(dir, variable)
				if err := os.WriteFile(path, []byte(content+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				vars[variable] = path
			}
			ctx, stop := context.WithCancel(t.Context())
			defer stop()
			r := startRunWith(t, ctx, nil, vars, "--data-dir", t.TempDir())

			var bodies []string
			for _, req := range []struct {
				method, path, token string
			}{
				{"POST", "/api/v1/feed-runs", secrets["API write token"]},
				{"POST", "/api/v1/feed-runs", secrets["API read token"]},
				{"POST", "/api/v1/feed-runs", secrets["wrong token given"]},
				{"GET", "/api/v1/pornstars?first=2", secrets["wrong token given"]},
				{"GET", "/readyz", ""},
				{"GET", "/metrics", ""},
			} {
				request, err := http.NewRequestWithContext(ctx, req.method, r.baseURL+req.path, strings.NewReader("{}"))
				if err != nil {
					t.Fatal(err)
				}
				request.Header.Set("Content-Type", "application/json")
				if req.token != "" {
					request.Header.Set("Authorization", "Bearer "+req.token)
				}
				resp, err := http.DefaultClient.Do(request)
				if err != nil {
					t.Fatal(err)
				}
				raw, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Fatal(err)
				}
				body := string(raw)
				bodies = append(bodies, req.method+" "+req.path+"\n"+body)
				if req.path == "/readyz" && resp.StatusCode != http.StatusOK {
					t.Errorf("GET /readyz = %d %s: want ready with the SASL broker", resp.StatusCode, body)
				}
			}
			// Let the feed run finish, so its log lines are in too.
			for deadline := time.Now().Add(waitLimit); !strings.Contains(r.stderr.String(), `"msg":"feed run finished"`); {
				if time.Now().After(deadline) {
					t.Fatalf("the feed run did not finish\n%s", tail(r.stderr.String()))
				}
				time.Sleep(50 * time.Millisecond)
			}
			stop()
			if code := <-r.exit; code != exitOK {
				t.Errorf("marquee run exited %d", code)
			}
			lines := strings.Split(r.stderr.String(), "\n")
			if len(lines) < 10 {
				t.Fatalf("only %d log lines: the scan would prove nothing\n%s", len(lines), r.stderr)
			}
			for what, secret := range secrets {
				for i, line := range lines {
					if strings.Contains(line, secret) {
						t.Errorf("log line %d contains the %s: %s", i+1, what, line)
					}
				}
				for _, body := range bodies {
					if strings.Contains(body, secret) {
						t.Errorf("a response contains the %s:\n%s", what, body)
					}
				}
			}
			t.Logf("scanned %d log lines and %d responses for %d secrets", len(lines), len(bodies), len(secrets))
		})
	}
}

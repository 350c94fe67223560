package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"marquee/db/dbtest"
	"marquee/internal/testkit"
	"marquee/internal/testpki"
	"marquee/server"
)

// TestAPICommandMySQLTLS runs `marquee api` as a secured production install configures it:
// a MariaDB whose account requires TLS, its URLs and the API tokens from files
// (MARQUEE_*_FILE), MARQUEE_DB_TLS with the CA of the server's certificate. With that CA it
// migrates, serves /readyz, takes a write and lists it; with another CA it exits 1 at start,
// naming the certificate failure and not the password.
func TestAPICommandMySQLTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a database server")
	}
	ca := testpki.NewCA(t, "mysql-ca")
	other := testpki.NewCA(t, "other-ca")
	srv := dbtest.StartTLSServer(t, ca)
	const password = "tls-only-secret"
	dbURL := srv.AddAccount(t, "tlsonly", password, "SSL")

	dir := t.TempDir()
	const token = "api-over-tls-test-token"
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	dbFile := write("db", dbURL)
	tokensFile := write("tokens", "name=tls-test:"+token)

	for _, tc := range []struct {
		name    string
		caFile  string
		wantErr string // "" when the API must serve
	}{
		{"the server's CA", ca.CertFile, ""},
		{"another CA", other.CertFile, "certificate signed by unknown authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
			defer cancel()
			var stderr testkit.SyncBuffer
			serving := make(chan net.Addr, 1)
			exit := make(chan int, 1)
			runCtx, stop := context.WithCancel(ctx)
			defer stop()
			env := environment{stdout: io.Discard, stderr: &stderr, serverStarting: func(srv *server.Server) { serving <- srv.Addr() },
				lookupEnv: envFrom(map[string]string{
					"MARQUEE_DB_FILE":         dbFile,
					"MARQUEE_DB_REPLICA_FILE": dbFile,
					"MARQUEE_API_TOKENS_FILE": tokensFile,
					"MARQUEE_DB_TLS":          "true",
					"MARQUEE_DB_TLS_CA_FILE":  tc.caFile,
				})}
			go func() {
				exit <- run(runCtx, []string{"api", "--data-dir", t.TempDir(), "--http-addr", "127.0.0.1:0", "--log-format", "json"}, env)
			}()

			if tc.wantErr != "" {
				select {
				case addr := <-serving:
					t.Fatalf("marquee api serves on %s with %s, want it to exit", addr, tc.name)
				case code := <-exit:
					if code != exitFailure || !strings.Contains(stderr.String(), tc.wantErr) {
						t.Errorf("marquee api exited %d, want 1 with %q; stderr:\n%s", code, tc.wantErr, tail(stderr.String()))
					}
				}
				if strings.Contains(stderr.String(), password) {
					t.Errorf("the output quotes the database password")
				}
				return
			}

			var base string
			select {
			case addr := <-serving:
				base = "http://" + addr.String()
			case code := <-exit:
				t.Fatalf("marquee api exited %d; stderr:\n%s", code, tail(stderr.String()))
			}
			if code, _, body := get(t, base+"/readyz"); code != http.StatusOK || !strings.Contains(body, `"database":"ok"`) {
				t.Errorf("/readyz = %d %s, want ready with the database ok", code, body)
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/pornstars", strings.NewReader(`{"name":"Served Over TLS"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			created, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusCreated {
				t.Fatalf("a write with the token from the file = %d %s, want 201", res.StatusCode, created)
			}
			if code, _, body := get(t, base+"/api/v1/pornstars"); code != http.StatusOK || !strings.Contains(body, "Served Over TLS") {
				t.Errorf("the list = %d %s, want the new record", code, body)
			}
			if strings.Contains(stderr.String(), password) || strings.Contains(stderr.String(), token) {
				t.Errorf("the log quotes the database password or the token")
			}

			stop()
			select {
			case code := <-exit:
				if code != exitOK {
					t.Fatalf("marquee api exited %d after its context ended; stderr:\n%s", code, tail(stderr.String()))
				}
			case <-time.After(waitLimit):
				t.Fatal("marquee api did not stop")
			}
		})
	}
}

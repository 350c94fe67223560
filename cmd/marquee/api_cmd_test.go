package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"marquee/db/dbtest"
	"marquee/internal/testkit"
	"marquee/server"
)

// TestAPICommand runs `marquee api` as production does: no Kafka it can
// reach (reported, still ready), introspection and the playground off by
// default, writes only with a configured token, and a clean stop.
func TestAPICommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	const token = "api-command-test-token"
	dbURL := dbtest.SQLiteURL(t)
	var stderr testkit.SyncBuffer
	serving := make(chan net.Addr, 1)
	exit := make(chan int, 1)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	env := environment{stdout: io.Discard, stderr: &stderr, lookupEnv: envFrom(nil),
		serverStarting: func(srv *server.Server) { serving <- srv.Addr() }}
	go func() {
		exit <- run(runCtx, []string{"api", "--db", dbURL, "--data-dir", t.TempDir(), "--http-addr", "127.0.0.1:0",
			"--api-tokens", token, "--kafka-brokers", "127.0.0.1:1", "--log-format", "json"}, env)
	}()
	var base string
	select {
	case addr := <-serving:
		base = "http://" + addr.String()
	case code := <-exit:
		t.Fatalf("marquee api exited %d; stderr:\n%s", code, stderr.String())
	}

	if code, _, body := get(t, base+"/readyz"); code != http.StatusOK || !strings.Contains(body, `"database":"ok"`) ||
		strings.Contains(body, `"kafka":"ok"`) {
		t.Errorf("/readyz without Kafka = %d %s, want ready, with Kafka's failure reported", code, body)
	}
	if code, _, _ := get(t, base+"/playground/"); code != http.StatusNotFound {
		t.Errorf("/playground/ = %d, want 404: api turns introspection off by default", code)
	}

	post := func(path, contentType, body, bearer string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := post("/api/v1/pornstars", "application/json", `{"name":"Made Through The API"}`, ""); code != http.StatusUnauthorized {
		t.Errorf("a write without a token = %d %s, want 401", code, body)
	}
	if code, body := post("/api/v1/pornstars", "application/json", `{"name":"Made Through The API"}`, token); code != http.StatusCreated {
		t.Fatalf("a write with the token = %d %s, want 201", code, body)
	}
	code, body := post("/graphql", "application/json", `{"query":"{ pornstars { totalCount edges { node { name } } } }"}`, "")
	if code != http.StatusOK || !strings.Contains(body, `"totalCount":1`) || !strings.Contains(body, "Made Through The API") {
		t.Errorf("GraphQL read = %d %s", code, body)
	}
	if code, body := post("/graphql", "application/json", `{"query":"{ __schema { types { name } } }"}`, ""); !strings.Contains(body, "GRAPHQL_VALIDATION_FAILED") {
		t.Errorf("introspection with it off = %d %s, want refused", code, body)
	}
	checkFanOutRefused(t, base)
	if _, _, metrics := get(t, base+"/metrics"); !strings.Contains(metrics, `route="/api/v1/pornstars"`) ||
		!strings.Contains(metrics, "marquee_graphql_operations_total") || !strings.Contains(metrics, `go_sql_open_connections{db_name="primary"}`) {
		t.Errorf("/metrics lacks the API's request, operation or pool metrics")
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
}

// checkFanOutRefused sends the fragment fan-out of 30 levels (each fragment
// spreading the next twice: 2^30 leaves from 1 KB of text), with a scalar
// and with a list at the leaf, and wants it refused as too complex. The
// graph package's tests count the work its refusal costs.
func checkFanOutRefused(t *testing.T, baseURL string) {
	t.Helper()
	for _, leaf := range []string{"__typename", "pornstars(first: 100) { nodes { name } }"} {
		var doc strings.Builder
		doc.WriteString("query { ...F0 }")
		for i := range 30 {
			fmt.Fprintf(&doc, " fragment F%d on Query { ...F%d ...F%d }", i, i+1, i+1)
		}
		fmt.Fprintf(&doc, " fragment F30 on Query { %s }", leaf)
		body, _ := json.Marshal(map[string]string{"query": doc.String()})
		res, err := http.Post(baseURL+"/graphql", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(answer), `"COMPLEXITY_LIMIT_EXCEEDED"`) {
			t.Errorf("the fan-out with %s at the leaf = %d %s, want 422 COMPLEXITY_LIMIT_EXCEEDED", leaf, res.StatusCode, answer)
		}
	}
}

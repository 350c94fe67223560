package rest

// The contract test: every request the suite sends and every answer it gets
// is checked against the OpenAPI document the API serves (kin-openapi), and
// TestZContractCoverage (zz_coverage_test.go, the last test to run) fails
// when a documented response of some operation was never produced by any
// test. A request the server accepted (2xx, 304) must
// be valid by the document; a request it refused need not be.

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"marquee/internal/compression"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"marquee/db/dbtest"
	"marquee/internal/testkit"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// fullRun says whether every test runs (no -run, -skip or -short), so that
// missing coverage means a missing test.
func fullRun() bool {
	for _, name := range []string{"test.run", "test.skip"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			return false
		}
	}
	return !testing.Short()
}

// contractState is the parsed document and what the suite has exercised.
type contractState struct {
	doc    *openapi3.T
	router routers.Router

	mu   sync.Mutex
	seen map[string]map[int]bool // operationId -> statuses answered
}

var (
	contractOnce sync.Once
	theContract  *contractState
	contractErr  error
)

// contract loads the document once per test process.
func contract() *contractState {
	contractOnce.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(openAPIDocument())
		if err != nil {
			contractErr = fmt.Errorf("load: %w", err)
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			contractErr = fmt.Errorf("validate: %w", err)
			return
		}
		router, err := gorillamux.NewRouter(doc)
		if err != nil {
			contractErr = fmt.Errorf("router: %w", err)
			return
		}
		theContract = &contractState{doc: doc, router: router, seen: map[string]map[int]bool{}}
	})
	if contractErr != nil {
		panic("contract: the OpenAPI document: " + contractErr.Error())
	}
	return theContract
}

func (c *contractState) record(operationID string, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen[operationID] == nil {
		c.seen[operationID] = map[int]bool{}
	}
	c.seen[operationID][status] = true
}

// missing lists "operationId status" for documented responses never seen.
func (c *contractState) missing() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, path := range c.doc.Paths.InMatchingOrder() {
		for method, op := range c.doc.Paths.Value(path).Operations() {
			for code := range op.Responses.Map() {
				status, err := strconv.Atoi(code)
				if err != nil {
					out = append(out, fmt.Sprintf("%s %s: response %q is not a status code", method, path, code))
					continue
				}
				if !c.seen[op.OperationID][status] {
					out = append(out, fmt.Sprintf("%s %d", op.OperationID, status))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

var validationOptions = &openapi3filter.Options{
	AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
	IncludeResponseStatus: true,
	MultiError:            true,
}

// checkExchange checks one request and its answer: the problem-document
// rules for errors, and the OpenAPI document for both.
func checkExchange(t testing.TB, rq req, out *resp) {
	t.Helper()
	if coding := out.header.Get("Content-Encoding"); coding != "" && rq.method != http.MethodHead {
		decoded := *out
		decoded.body = decodedBody(t, rq, coding, out.body)
		out = &decoded
	}
	if out.status >= 400 {
		checkProblem(t, rq, out)
	}
	c := contract()
	httpReq := buildRequest(rq)
	lookup := httpReq.Clone(context.Background())
	if lookup.Method == http.MethodHead {
		lookup.Method = http.MethodGet
	}
	route, pathParams, err := c.router.FindRoute(lookup)
	if err != nil {
		// Not a documented operation: only the router's own answers (and
		// the middleware's, which runs first) may come back.
		if !slices.Contains([]int{http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusUnauthorized, http.StatusTooManyRequests}, out.status) {
			t.Errorf("contract: %s %s is not in the document but was answered %d", rq.method, rq.path, out.status)
		}
		return
	}
	if _, fake := t.(*recordingTB); !fake { // TestContractCatchesDrift's answers are made up
		c.record(route.Operation.OperationID, out.status)
	}
	input := &openapi3filter.RequestValidationInput{Request: httpReq, PathParams: pathParams, Route: route, Options: validationOptions}
	if out.status < 400 {
		if err := openapi3filter.ValidateRequest(context.Background(), input); err != nil {
			t.Errorf("contract: the server accepted (%d) a request the document refuses: %s %s: %v", out.status, rq.method, rq.path, err)
		}
	}
	respInput := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: input,
		Status:                 out.status,
		Header:                 out.header,
		Body:                   io.NopCloser(bytes.NewReader(out.body)),
		Options:                validationOptions,
	}
	ndjson := out.header.Get("Content-Type") == NDJSONContentType
	if rq.method == http.MethodHead || ndjson {
		opts := *validationOptions
		opts.ExcludeResponseBody = true
		respInput.Options = &opts
	}
	if err := openapi3filter.ValidateResponse(context.Background(), respInput); err != nil {
		t.Errorf("contract: %s %s answered %d, which the document does not describe: %v\nbody: %s", rq.method, rq.path, out.status, err, out.body)
	}
	if ndjson && rq.method != http.MethodHead {
		checkNDJSON(t, rq, out, route.Operation)
	}
}

// decodedBody is a compressed answer's body as the client reads it.
func decodedBody(t testing.TB, rq req, coding string, body []byte) []byte {
	t.Helper()
	for _, c := range compression.Codings {
		if c.String() == coding {
			plain, err := compression.Decompress(c, body)
			if err != nil {
				t.Errorf("contract: %s %s: the %s body does not decode: %v", rq.method, rq.path, coding, err)
			}
			return plain
		}
	}
	t.Errorf("contract: %s %s: Content-Encoding %q is not one the API uses", rq.method, rq.path, coding)
	return body
}

// checkNDJSON checks an NDJSON body line by line against the schema the
// document gives its media type (each line's): every line, the last one
// included, ends with a newline.
func checkNDJSON(t testing.TB, rq req, out *resp, op *openapi3.Operation) {
	t.Helper()
	documented := op.Responses.Status(out.status)
	if documented == nil || documented.Value.Content.Get(NDJSONContentType) == nil {
		t.Errorf("contract: %s %s answered %d as %s, which the document does not describe", rq.method, rq.path, out.status, NDJSONContentType)
		return
	}
	schema := documented.Value.Content.Get(NDJSONContentType).Schema.Value
	if len(out.body) > 0 && out.body[len(out.body)-1] != '\n' {
		t.Errorf("contract: %s %s: the NDJSON body does not end with a newline", rq.method, rq.path)
	}
	for i, line := range bytes.Split(bytes.TrimSuffix(out.body, []byte("\n")), []byte("\n")) {
		if len(out.body) == 0 {
			break
		}
		var v any
		if err := json.Unmarshal(line, &v); err != nil {
			t.Errorf("contract: %s %s: NDJSON line %d is not JSON: %v: %s", rq.method, rq.path, i+1, err, line)
			continue
		}
		if err := schema.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
			t.Errorf("contract: %s %s: NDJSON line %d does not match its schema: %v\nline: %s", rq.method, rq.path, i+1, err, line)
		}
	}
}

// checkProblem checks the rules every error answer follows (RFC 9457).
func checkProblem(t testing.TB, rq req, out *resp) {
	t.Helper()
	if ct := out.header.Get("Content-Type"); ct != ProblemContentType {
		t.Errorf("%s %s: %d with Content-Type %q, want %s", rq.method, rq.path, out.status, ct, ProblemContentType)
	}
	if rq.method == http.MethodHead {
		return
	}
	var p map[string]any
	if err := json.Unmarshal(out.body, &p); err != nil {
		t.Errorf("%s %s: %d body is not JSON: %v: %s", rq.method, rq.path, out.status, err, out.body)
		return
	}
	if err := contract().doc.Components.Schemas["Problem"].Value.VisitJSON(p, openapi3.EnableJSONSchema2020()); err != nil {
		t.Errorf("%s %s: %d body is not a Problem: %v: %s", rq.method, rq.path, out.status, err, out.body)
	}
	if status, _ := p["status"].(float64); int(status) != out.status {
		t.Errorf("%s %s: problem status %v, HTTP status %d", rq.method, rq.path, p["status"], out.status)
	}
	if detail, _ := p["detail"].(string); detail == "" {
		t.Errorf("%s %s: problem without detail: %s", rq.method, rq.path, out.body)
	}
	for _, leak := range []string{"SELECT", "INSERT", "UPDATE ", "sql:", "goroutine ", ".go:"} {
		if bytes.Contains(out.body, []byte(leak)) {
			t.Errorf("%s %s: problem leaks %q: %s", rq.method, rq.path, leak, out.body)
		}
	}
	switch out.status {
	case http.StatusMethodNotAllowed:
		if out.header.Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", rq.method, rq.path)
		}
	case http.StatusUnauthorized:
		if !strings.HasPrefix(out.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s %s: 401 without a Bearer challenge", rq.method, rq.path)
		}
	case http.StatusTooManyRequests:
		if n, err := strconv.Atoi(out.header.Get("Retry-After")); err != nil || n < 1 {
			t.Errorf("%s %s: 429 with Retry-After %q", rq.method, rq.path, out.header.Get("Retry-After"))
		}
	}
}

// TestOpenAPIDocument checks that the document is valid OpenAPI 3.1 (it
// loads and validates in kin-openapi) and is served as it was built.
func TestOpenAPIDocument(t *testing.T) {
	c := contract()
	if !c.doc.IsOpenAPI31OrLater() || c.doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", c.doc.OpenAPI)
	}
	api := newTestAPI(t, testkit.OpenStore(t, dbtest.SQLiteURL(t)), apiOptions{})
	r := api.get("/api/v1/openapi.json").wantStatus(t, http.StatusOK)
	if !bytes.Equal(r.body, openAPIDocument()) {
		t.Error("the served document differs from openAPIDocument()")
	}
	api.do(req{method: http.MethodGet, path: "/api/v1/openapi.json", headers: map[string]string{"If-None-Match": r.header.Get("ETag")}}).
		wantStatus(t, http.StatusNotModified)
	api.get("/api/v1/openapi.json?x=1").wantParameter(t, "x")
	// Every problem kind the server can send is in the document's enum.
	var kinds []string
	for _, k := range problemKinds {
		kinds = append(kinds, k.typeURI())
	}
	for _, v := range c.doc.Components.Schemas["Problem"].Value.Properties["type"].Value.Enum {
		if !slices.Contains(kinds, v.(string)) {
			t.Errorf("the document names problem type %v, which the server never sends", v)
		}
	}
}

// TestRoutesMatchDocument checks both ways that the routes the router
// serves, and the image bytes beside them, are the operations of the
// document (HEAD is GET without a body and is not listed).
func TestRoutesMatchDocument(t *testing.T) {
	c := contract()
	documented := map[string]bool{}
	for _, path := range c.doc.Paths.InMatchingOrder() {
		for method := range c.doc.Paths.Value(path).Operations() {
			documented[method+" "+path] = true
		}
	}
	a := &api{}
	served := map[string]bool{FilesPattern: true, FilesPreflightPattern: true}
	for _, rt := range a.routes() {
		for method := range rt.handlers {
			served[method+" "+BasePath+rt.pattern] = true
		}
		// The server's CORS middleware answers the preflights.
		served[http.MethodOptions+" "+BasePath+rt.pattern] = true
	}
	for op := range served {
		if !documented[op] {
			t.Errorf("%s is served but not in the OpenAPI document", op)
		}
	}
	for op := range documented {
		if !served[op] {
			t.Errorf("%s is in the OpenAPI document but not served", op)
		}
	}
	if len(served) == 0 {
		t.Fatal("no routes")
	}

	// And the handler really answers each one (not 404/405), through the
	// real router.
	api := newTestAPI(t, testkit.OpenStore(t, dbtest.SQLiteURL(t)), apiOptions{})
	for op := range served {
		method, path, _ := strings.Cut(op, " ")
		path = strings.NewReplacer("{id}", "1", "{slug}", "a-slug", "{url_hash}", strings.Repeat("0", 64)).Replace(path)
		rq := req{method: method, path: path, token: "read"}
		if method == http.MethodOptions {
			rq.headers = map[string]string{"Origin": testOrigin, "Access-Control-Request-Method": http.MethodGet}
		}
		r := api.do(rq)
		if r.status == http.StatusMethodNotAllowed || r.status == http.StatusNotFound && strings.HasPrefix(r.problem(t).Detail, "no route") {
			t.Errorf("%s: the router does not serve it (%d)", op, r.status)
		}
	}
}

// recordingTB collects the errors checkExchange reports.
type recordingTB struct {
	testing.TB
	errs []string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestContractCatchesDrift checks that the contract check can fail: each
// exchange here breaks the document or the problem rules in one way.
func TestContractCatchesDrift(t *testing.T) {
	problemHeader := http.Header{"Content-Type": {ProblemContentType}}
	for _, tc := range []struct {
		name string
		rq   req
		out  resp
	}{
		{"a list without total", req{method: http.MethodGet, path: "/api/v1/feed-runs"},
			resp{status: 200, header: http.Header{"Content-Type": {JSONContentType}}, body: []byte(`{"data":[],"next_cursor":null}`)}},
		{"an undocumented status", req{method: http.MethodGet, path: "/api/v1/feed-runs"},
			resp{status: 201, header: http.Header{"Content-Type": {JSONContentType}}, body: []byte(`{"data":[],"next_cursor":null,"total":0}`)}},
		{"an accepted request the document refuses", req{method: http.MethodGet, path: "/api/v1/feed-runs?limit=500"},
			resp{status: 200, header: http.Header{"Content-Type": {JSONContentType}}, body: []byte(`{"data":[],"next_cursor":null,"total":0}`)}},
		{"an error that is not a problem", req{method: http.MethodGet, path: "/api/v1/feed-runs/1"},
			resp{status: 404, header: http.Header{"Content-Type": {"text/plain"}}, body: []byte("404 page not found")}},
		{"a problem with the wrong status", req{method: http.MethodGet, path: "/api/v1/feed-runs/1"},
			resp{status: 404, header: problemHeader, body: []byte(`{"type":"urn:marquee:problem:not-found","title":"Not found","status":400,"detail":"x"}`)}},
		{"an unknown problem type", req{method: http.MethodGet, path: "/api/v1/feed-runs/1"},
			resp{status: 404, header: problemHeader, body: []byte(`{"type":"about:blank","title":"Not found","status":404,"detail":"x"}`)}},
		{"a 405 without Allow", req{method: http.MethodPut, path: "/api/v1/feed-runs"},
			resp{status: 405, header: problemHeader, body: []byte(`{"type":"urn:marquee:problem:method-not-allowed","title":"x","status":405,"detail":"x"}`)}},
		{"a leaked query", req{method: http.MethodGet, path: "/api/v1/feed-runs/1"},
			resp{status: 500, header: problemHeader, body: []byte(`{"type":"urn:marquee:problem:internal","title":"x","status":500,"detail":"SELECT * FROM feed_runs"}`)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recordingTB{TB: t}
			checkExchange(rec, tc.rq, &tc.out)
			if len(rec.errs) == 0 {
				t.Error("the contract check passed it")
			}
		})
	}
}

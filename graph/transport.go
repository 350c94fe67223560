package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// The transports follow GraphQL over HTTP: GET carries a query in the URL
// (mutations are refused with 405, so a link or an image tag can never
// write), POST a JSON body. Every refusal is a GraphQL error body with an
// extensions.code, like the errors of execution.

// postTransport serves POST with a JSON body of at most maxBodyBytes.
type postTransport struct {
	maxBodyBytes int64
}

func (postTransport) Supports(r *http.Request) bool { return r.Method == http.MethodPost }

func (t postTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "application/json" {
		// Only JSON: a browser cannot send it across origins without a
		// CORS preflight, which only the origins of MARQUEE_CORS_ORIGINS
		// pass, so no other site's page can post a query or a mutation.
		writeError(w, http.StatusUnsupportedMediaType, CodeBadUserInput, "the request body must be application/json")
		return
	}
	if r.ContentLength > t.maxBodyBytes {
		writeError(w, http.StatusRequestEntityTooLarge, CodeBadUserInput, tooLargeMessage(t.maxBodyBytes))
		return
	}
	start := graphql.Now()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, t.maxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, CodeBadUserInput, tooLargeMessage(t.maxBodyBytes))
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, CodeParseFailed, "the request body could not be read")
		return
	}
	params := &graphql.RawParams{}
	if err := decodeJSON(body, params); err != nil {
		writeError(w, http.StatusBadRequest, CodeParseFailed,
			`the request body must be a JSON object {"query", "operationName", "variables", "extensions"}`)
		return
	}
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	execute(w, r, exec, params)
}

// getTransport serves GET with the request in the URL's query string.
type getTransport struct{}

func (getTransport) Supports(r *http.Request) bool { return r.Method == http.MethodGet }

func (getTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	start := graphql.Now()
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeParseFailed, "the URL's query string is malformed")
		return
	}
	params := &graphql.RawParams{Query: query.Get("query"), OperationName: query.Get("operationName")}
	for _, p := range []struct {
		name string
		dst  *map[string]any
	}{{"variables", &params.Variables}, {"extensions", &params.Extensions}} {
		if raw := query.Get(p.name); raw != "" {
			if err := decodeJSON([]byte(raw), p.dst); err != nil {
				writeError(w, http.StatusBadRequest, CodeParseFailed, p.name+" must be a JSON object")
				return
			}
		}
	}
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	execute(w, r, exec, params)
}

// execute parses, validates and runs one operation and writes its response.
func execute(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor, params *graphql.RawParams) {
	ctx := r.Context()
	params.Headers = r.Header
	opCtx, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, opCtx), errs)
		writeResponse(w, statusFor(errs), resp)
		return
	}
	if r.Method == http.MethodGet && opCtx.Operation.Operation != ast.Query {
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, CodeBadUserInput, "a "+string(opCtx.Operation.Operation)+" needs POST")
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, opCtx)
	writeResponse(w, http.StatusOK, responses(ctx))
}

// statusFor is the HTTP status of an operation refused before it ran: 422
// when the document is at fault (parse, validation, depth, complexity),
// else 200 (a persisted query the server does not know yet: the client
// sends it again with its text, as the protocol expects).
func statusFor(errs gqlerror.List) int {
	for _, e := range errs {
		switch e.Extensions["code"] {
		case CodeParseFailed, CodeValidationFailed, CodeComplexityLimitExceeded:
			return http.StatusUnprocessableEntity
		}
	}
	return http.StatusOK
}

// decodeJSON reads one JSON object into dst, numbers as json.Number so that
// 64-bit integers survive.
func decodeJSON(data []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

func tooLargeMessage(limit int64) string {
	return "the request body is larger than " + humanBytes(limit)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return itoa(n>>10) + " KiB"
	}
	return itoa(n) + " bytes"
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// writeResponse writes a GraphQL response. An UNAUTHENTICATED error adds
// WWW-Authenticate, as for any HTTP request that lacks credentials.
func writeResponse(w http.ResponseWriter, status int, resp *graphql.Response) {
	body, err := encodeResponse(resp)
	if err != nil {
		// The executor's output does not encode: a bug, never the client's.
		status = http.StatusInternalServerError
		body = []byte(`{"errors":[{"message":"` + internalMessage + `","extensions":{"code":"` + CodeInternal + `"}}]}`)
	}
	h := w.Header()
	for _, e := range resp.Errors {
		if e.Extensions["code"] == CodeUnauthenticated {
			h.Set("WWW-Authenticate", "Bearer")
			break
		}
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// encodeResponse writes {"errors", "data", "extensions"}. The data is JSON
// the executor already wrote; json.Marshal would scan and copy it again, a
// cost that grows with the page (README, "Speed layer").
func encodeResponse(resp *graphql.Response) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(resp.Data) + 64)
	buf.WriteByte('{')
	if len(resp.Errors) > 0 {
		errs, err := json.Marshal(resp.Errors)
		if err != nil {
			return nil, err
		}
		buf.WriteString(`"errors":`)
		buf.Write(errs)
		buf.WriteByte(',')
	}
	buf.WriteString(`"data":`)
	if len(resp.Data) == 0 {
		buf.WriteString("null")
	} else {
		buf.Write(resp.Data)
	}
	if len(resp.Extensions) > 0 {
		ext, err := json.Marshal(resp.Extensions)
		if err != nil {
			return nil, err
		}
		buf.WriteString(`,"extensions":`)
		buf.Write(ext)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// writeError writes a response with one error, for refusals outside the
// executor.
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeResponse(w, status, &graphql.Response{Errors: gqlerror.List{{
		Message:    message,
		Extensions: map[string]any{"code": code},
	}}})
}

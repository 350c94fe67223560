package rest

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"marquee/auth"
	"marquee/db"
	"marquee/server"
)

// ProblemContentType is the media type of every error response (RFC 9457).
const ProblemContentType = "application/problem+json"

// problemTypePrefix starts the type URI of every problem this API answers.
// The URIs are identifiers, not links: RFC 9457 lets a type be a URN, and
// clients must not dereference them.
const problemTypePrefix = "urn:marquee:problem:"

// problemKind is one kind of problem: its type URI suffix, fixed title and
// HTTP status. The OpenAPI document lists every kind (problemKinds).
type problemKind struct {
	slug   string
	title  string
	status int
}

var (
	kindInvalidParameter    = problemKind{"invalid-parameter", "Invalid query or path parameter", http.StatusBadRequest}
	kindMalformedBody       = problemKind{"malformed-body", "Malformed request body", http.StatusBadRequest}
	kindUnauthenticated     = problemKind{"unauthenticated", "Authentication required", http.StatusUnauthorized}
	kindForbidden           = problemKind{"forbidden", "Forbidden", http.StatusForbidden}
	kindNotFound            = problemKind{"not-found", "Not found", http.StatusNotFound}
	kindTakenDown           = problemKind{"taken-down", "Taken down", http.StatusGone}
	kindUnavailableLegal    = problemKind{"unavailable-for-legal-reasons", "Unavailable for legal reasons", http.StatusUnavailableForLegalReasons}
	kindMethodNotAllowed    = problemKind{"method-not-allowed", "Method not allowed", http.StatusMethodNotAllowed}
	kindConflict            = problemKind{"conflict", "Conflict", http.StatusConflict}
	kindFeedManaged         = problemKind{"feed-managed", "The record is managed by the feed", http.StatusConflict}
	kindFeedRunActive       = problemKind{"feed-run-active", "A feed run is already active", http.StatusConflict}
	kindPrecondition        = problemKind{"precondition-failed", "Precondition failed", http.StatusPreconditionFailed}
	kindBodyTooLarge        = problemKind{"body-too-large", "Request body too large", http.StatusRequestEntityTooLarge}
	kindUnsupportedMedia    = problemKind{"unsupported-media-type", "Unsupported media type", http.StatusUnsupportedMediaType}
	kindRangeNotSatisfiable = problemKind{"range-not-satisfiable", "Range not satisfiable", http.StatusRequestedRangeNotSatisfiable}
	kindValidation          = problemKind{"validation-failed", "Validation failed", http.StatusUnprocessableEntity}
	kindRateLimited         = problemKind{"rate-limited", "Too many requests", http.StatusTooManyRequests}
	kindInternal            = problemKind{"internal", "Internal server error", http.StatusInternalServerError}
	kindUnrenderable        = problemKind{"unrenderable-image", "The image cannot be rendered at another size", http.StatusUnprocessableEntity}
	kindRenderBusy          = problemKind{"render-busy", "The image variant is not rendered yet", http.StatusServiceUnavailable}
)

// problemKinds lists every kind, for the OpenAPI document.
var problemKinds = []problemKind{
	kindInvalidParameter, kindMalformedBody, kindUnauthenticated, kindForbidden, kindNotFound, kindTakenDown, kindUnavailableLegal,
	kindMethodNotAllowed, kindConflict, kindFeedManaged, kindFeedRunActive, kindPrecondition,
	kindBodyTooLarge, kindUnsupportedMedia, kindRangeNotSatisfiable, kindValidation, kindRateLimited, kindInternal,
	kindUnrenderable, kindRenderBusy,
}

func (k problemKind) typeURI() string { return problemTypePrefix + k.slug }

// problem is an RFC 9457 problem document. Errors lists what was wrong
// with a request: a query or path parameter (400) or a member of the JSON
// body, by JSON pointer (422).
type problem struct {
	Type     string         `json:"type"`
	Title    string         `json:"title"`
	Status   int            `json:"status"`
	Detail   string         `json:"detail"`
	Instance string         `json:"instance,omitempty"`
	Errors   []problemError `json:"errors,omitempty"`
	// ActiveRunID names the feed run that blocks a new one (feed-run-active).
	ActiveRunID *int64 `json:"active_run_id,omitempty"`
	// ActiveRun is the location of that run.
	ActiveRun string `json:"active_run,omitempty"`
}

// problemError is one thing wrong with a request. Exactly one of Pointer
// (a JSON pointer into the body, "" for the whole body) and Parameter is
// meaningful.
type problemError struct {
	Pointer   *string `json:"pointer,omitempty"`
	Parameter string  `json:"parameter,omitempty"`
	Detail    string  `json:"detail"`
}

func pointerError(pointer, detail string) problemError {
	return problemError{Pointer: &pointer, Detail: detail}
}

func parameterError(name, detail string) problemError {
	return problemError{Parameter: name, Detail: detail}
}

// newProblem starts a problem of kind k for request r.
func newProblem(k problemKind, r *http.Request, detail string) *problem {
	return &problem{Type: k.typeURI(), Title: k.title, Status: k.status, Detail: detail, Instance: r.URL.Path}
}

// writeProblem sends p; headers the caller set (Allow, Retry-After,
// WWW-Authenticate) are kept.
func writeProblem(w http.ResponseWriter, p *problem) {
	body, err := json.Marshal(p)
	if err != nil { // a problem of plain strings and ints always marshals
		body = []byte(`{"type":"` + kindInternal.typeURI() + `","title":"Internal server error","status":500,"detail":"encoding the error failed"}`)
		p.Status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", ProblemContentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Del("ETag")
	w.WriteHeader(p.Status)
	w.Write(body)
}

// fail answers a problem of kind k with detail.
func fail(w http.ResponseWriter, r *http.Request, k problemKind, detail string) {
	writeProblem(w, newProblem(k, r, detail))
}

// failParameters answers 400 naming the parameters that were wrong.
func failParameters(w http.ResponseWriter, r *http.Request, errs []problemError) {
	p := newProblem(kindInvalidParameter, r, summarize(errs))
	p.Errors = errs
	writeProblem(w, p)
}

// failValidation answers 422 naming the body members that were wrong.
func failValidation(w http.ResponseWriter, r *http.Request, errs []problemError) {
	p := newProblem(kindValidation, r, summarize(errs))
	p.Errors = errs
	writeProblem(w, p)
}

// summarize joins the first few errors into a detail sentence.
func summarize(errs []problemError) string {
	const shown = 3
	parts := make([]string, 0, shown)
	for i, e := range errs {
		if i == shown {
			parts = append(parts, "and "+strconv.Itoa(len(errs)-shown)+" more")
			break
		}
		switch {
		case e.Parameter != "":
			parts = append(parts, "parameter "+e.Parameter+": "+e.Detail)
		case e.Pointer != nil && *e.Pointer == "":
			parts = append(parts, "body: "+e.Detail)
		case e.Pointer != nil:
			parts = append(parts, *e.Pointer+": "+e.Detail)
		default:
			parts = append(parts, e.Detail)
		}
	}
	return strings.Join(parts, "; ")
}

// failAuth answers a write that the caller may not make: 401 with a
// WWW-Authenticate challenge (RFC 6750), or 403 for a read-only token.
func failAuth(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, auth.ErrForbidden) {
		w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope"`)
		fail(w, r, kindForbidden, "this token is read-only; writes need a write token")
		return
	}
	challenge := `Bearer realm="marquee"`
	detail := "this request needs Authorization: Bearer <token> with a write token"
	if auth.CallerFrom(r.Context()).BadToken {
		challenge = `Bearer realm="marquee", error="invalid_token"`
		detail = "the bearer token is missing, malformed or unknown"
	}
	w.Header().Set("WWW-Authenticate", challenge)
	fail(w, r, kindUnauthenticated, detail)
}

// failStore maps an error of the store to a problem. Field errors become
// 422 with a JSON pointer: callers that read query parameters map them
// themselves first. Anything unexpected is logged and answered 500 without
// its text, which may name the database's internals.
func (a *api) failStore(w http.ResponseWriter, r *http.Request, err error) {
	var (
		fieldErr *db.FieldError
		runErr   *db.ActiveRunError
	)
	switch {
	case errors.As(err, &runErr):
		p := newProblem(kindFeedRunActive, r, "feed run "+strconv.FormatInt(runErr.RunID, 10)+" is "+runErr.Status+"; wait until it finishes")
		p.ActiveRunID = &runErr.RunID
		p.ActiveRun = feedRunPath(runErr.RunID)
		writeProblem(w, p)
	case errors.Is(err, db.ErrFeedManaged):
		fail(w, r, kindFeedManaged, "this performer comes from the feed and cannot be deleted; it is removed when it leaves the feed")
	case errors.Is(err, db.ErrTakenDown):
		fail(w, r, kindTakenDown, "this performer was taken down")
	case errors.Is(err, db.ErrNotFound):
		fail(w, r, kindNotFound, "no such resource")
	case errors.Is(err, db.ErrVersionMismatch):
		fail(w, r, kindPrecondition, "the resource has changed since the version in If-Match")
	case errors.Is(err, db.ErrConflict):
		fail(w, r, kindConflict, "the request conflicts with the current state of the resource")
	case errors.As(err, &fieldErr):
		failValidation(w, r, []problemError{pointerError(fieldPointer(fieldErr.Field), fieldErr.Reason)})
	case errors.Is(err, db.ErrInvalid):
		failValidation(w, r, []problemError{pointerError("", "is invalid")})
	default:
		a.failInternal(w, r, err)
	}
}

// failInternal logs err with the request and answers 500. A request whose
// client went away is logged at debug level only: nobody reads the answer.
func (a *api) failInternal(w http.ResponseWriter, r *http.Request, err error) {
	level := slog.LevelError
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		level = slog.LevelDebug
	}
	attrs := []any{"request_id", server.RequestID(r.Context()), "method", r.Method, "path", r.URL.Path, "error", err}
	var dbErr *db.DatabaseError
	if errors.As(err, &dbErr) {
		attrs = append(attrs, "cause", dbErr.Cause()) // operators' log only
	}
	a.log.Log(r.Context(), level, "rest: request failed", attrs...)
	fail(w, r, kindInternal, "the server could not answer this request; the failure is logged under the id in the X-Request-Id header")
}

// fieldPointer turns a store field path ("aliases/3") into a JSON pointer
// ("/aliases/3"), escaping "~" and "/" inside segments is not needed: store
// paths are made of field names and indexes.
func fieldPointer(field string) string {
	if field == "" {
		return ""
	}
	return "/" + field
}

package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"marquee/auth"
	"marquee/db"
	"marquee/graph/model"
)

// Error codes in extensions.code (docs/errors.md), plus RATE_LIMITED for
// the per-client rate limit.
const (
	CodeUnauthenticated         = "UNAUTHENTICATED"
	CodeForbidden               = "FORBIDDEN"
	CodeBadUserInput            = "BAD_USER_INPUT"
	CodeNotFound                = "NOT_FOUND"
	CodeConflict                = "CONFLICT"
	CodeComplexityLimitExceeded = "COMPLEXITY_LIMIT_EXCEEDED"
	CodePersistedQueryNotFound  = "PERSISTED_QUERY_NOT_FOUND"
	CodeParseFailed             = "GRAPHQL_PARSE_FAILED"
	CodeValidationFailed        = "GRAPHQL_VALIDATION_FAILED"
	CodeInternal                = "INTERNAL"
	CodeRateLimited             = "RATE_LIMITED"
	// CodeTakenDown answers a lookup of a performer or image an operator
	// took down: the field is null, and this error says why.
	CodeTakenDown = "TAKEN_DOWN"
)

// internalMessage is all a client learns of a failure on our side.
const internalMessage = "internal server error"

var errLoaderPanicked = errors.New("graph: a batch load panicked")

// apiError is an error whose code and message are meant for the client.
type apiError struct {
	code    string
	message string
	ext     map[string]any
	cause   error
}

func (e *apiError) Error() string { return e.message }
func (e *apiError) Unwrap() error { return e.cause }

// badInput reports an argument value the API refuses; field is its path in
// the operation's arguments, such as "input.aliases.3".
func badInput(field, reason string) error {
	return &apiError{code: CodeBadUserInput, message: field + " " + reason, ext: map[string]any{"field": field}}
}

// inputError turns a store *db.FieldError into badInput, naming the field
// as GraphQL does: prefix plus the camel-cased path ("hair_colors/0" under
// "input." becomes "input.hairColors.0"). Other errors pass through.
func inputError(prefix string, err error) error {
	var fe *db.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	e := badInput(prefix+graphQLPath(fe.Field), fe.Reason).(*apiError)
	e.cause = err
	return e
}

// graphQLPath turns a store field path ("thumbnails/0/url_hash") into a
// GraphQL one ("thumbnails.0.urlHash").
func graphQLPath(field string) string {
	parts := strings.Split(field, "/")
	for i, p := range parts {
		parts[i] = camelCase(p)
	}
	return strings.Join(parts, ".")
}

func camelCase(snake string) string {
	words := strings.Split(snake, "_")
	for i := 1; i < len(words); i++ {
		if w := words[i]; w != "" {
			words[i] = strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return strings.Join(words, "")
}

func argumentPath(path ast.Path) string {
	parts := make([]string, len(path))
	for i, p := range path {
		parts[i] = fmt.Sprint(p)
	}
	return strings.Join(parts, ".")
}

// notFoundError answers a mutation on an id that names nothing.
func notFoundError(what, id string, cause error) error {
	return &apiError{code: CodeNotFound, message: fmt.Sprintf("no %s has the id %q", what, id), cause: cause}
}

// errorPresenter gives every error an extensions.code. Errors meant for the
// client keep their message; anything else is logged with its path and
// answered as INTERNAL, so no SQL or driver text ever leaves the server.
func errorPresenter(logger *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		if code, _ := gqlErr.Extensions["code"].(string); code != "" {
			return gqlErr // parse, validation, complexity, persisted query: gqlgen's codes
		}
		code, message, ext := classify(err)
		if code == CodeBadUserInput && ext == nil && len(gqlErr.Path) > 1 {
			// A scalar refused an argument: gqlgen's path is the field, then
			// the argument and input fields ("createPornstar.input.views").
			ext = map[string]any{"field": argumentPath(gqlErr.Path[1:])}
		}
		if code == "" && gqlErr.Err == nil && len(gqlErr.Path) == 0 {
			// An error of the request itself, raised before execution
			// (such as a malformed persisted-query extension).
			code, message = CodeBadUserInput, gqlErr.Message
		}
		if code == "" {
			code, message = CodeInternal, internalMessage
			if errors.Is(err, context.DeadlineExceeded) {
				message = "the request took longer than the server allows"
			}
			logInternal(ctx, logger, gqlErr, err)
		}
		presented := &gqlerror.Error{
			Message:    message,
			Path:       gqlErr.Path,
			Locations:  gqlErr.Locations,
			Extensions: map[string]any{"code": code},
			Err:        gqlErr.Err,
		}
		for k, v := range ext {
			presented.Extensions[k] = v
		}
		return presented
	}
}

// classify maps an error to its code and public message; an empty code means
// the error is internal.
func classify(err error) (code, message string, ext map[string]any) {
	var (
		apiErr    *apiError
		scalarErr *model.InputError
		runErr    *db.ActiveRunError
		fieldErr  *db.FieldError
	)
	switch {
	case errors.As(err, &apiErr):
		return apiErr.code, apiErr.message, apiErr.ext
	case errors.As(err, &scalarErr):
		return CodeBadUserInput, scalarErr.Message, nil
	case errors.Is(err, auth.ErrUnauthenticated):
		return CodeUnauthenticated, auth.ErrUnauthenticated.Error(), nil
	case errors.Is(err, auth.ErrForbidden):
		return CodeForbidden, auth.ErrForbidden.Error(), nil
	case errors.As(err, &runErr):
		return CodeConflict, fmt.Sprintf("feed run %d is %s: one run at a time", runErr.RunID, runErr.Status),
			map[string]any{"activeRunId": model.GlobalID(model.TypeFeedRun, runErr.RunID), "activeRunDatabaseId": runErr.RunID}
	case errors.Is(err, db.ErrFeedManaged):
		return CodeConflict, "the performer is managed by the feed: only performers created through the API can be deleted", nil
	case errors.Is(err, db.ErrVersionMismatch):
		return CodeConflict, "the performer changed since the version given in ifVersion: read it again", nil
	case errors.Is(err, db.ErrConflict):
		return CodeConflict, "the write conflicts with the stored data", nil
	case errors.Is(err, db.ErrTakenDown):
		return CodeTakenDown, "taken down", nil
	case errors.Is(err, db.ErrNotFound):
		return CodeNotFound, "not found", nil
	case errors.As(err, &fieldErr):
		field := graphQLPath(fieldErr.Field)
		return CodeBadUserInput, field + " " + fieldErr.Reason, map[string]any{"field": field}
	case errors.Is(err, db.ErrInvalid):
		return CodeBadUserInput, "invalid input", nil
	}
	return "", "", nil
}

func logInternal(ctx context.Context, logger *slog.Logger, gqlErr *gqlerror.Error, err error) {
	attrs := []any{slog.String("path", gqlErr.Path.String()), slog.Any("err", err)}
	if opCtx := graphql.GetOperationContext(ctx); opCtx != nil && opCtx.Operation != nil {
		attrs = append(attrs, slog.String("operation", opCtx.Operation.Name))
	}
	var dbErr *db.DatabaseError
	if errors.As(err, &dbErr) {
		attrs = append(attrs, slog.Any("cause", dbErr.Cause()))
	}
	switch {
	case errors.Is(err, context.Canceled):
		logger.DebugContext(ctx, "graphql: request canceled", attrs...)
	case errors.Is(err, context.DeadlineExceeded):
		logger.WarnContext(ctx, "graphql: request timed out", attrs...)
	default:
		logger.ErrorContext(ctx, "graphql: internal error", attrs...)
	}
}

// recoverFunc turns a panic in a resolver into an internal error, logging
// the stack for operators.
func recoverFunc(logger *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		logger.ErrorContext(ctx, "graphql: panic", slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
		return errPanic
	}
}

var errPanic = errors.New("graph: resolver panicked")

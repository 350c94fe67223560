// Package auth holds what the two APIs share about their callers: the bearer
// tokens that allow writes, and the per-client rate limit.
//
// Reads need no token. A write needs `Authorization: Bearer <token>` naming a
// configured write token: a missing or unknown token is ErrUnauthenticated, a
// read-only one ErrForbidden. The transports (graph, rest) turn those into
// their own error shapes.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// Role is what a token allows.
type Role int

const (
	// RoleNone is an anonymous caller, or one whose token is unknown.
	RoleNone Role = iota
	// RoleRead is a read-only token: it identifies the caller (for the rate
	// limit) but cannot write.
	RoleRead
	// RoleWrite may create, update and delete records and start feed runs.
	RoleWrite
)

func (r Role) String() string {
	switch r {
	case RoleRead:
		return "read"
	case RoleWrite:
		return "write"
	default:
		return "none"
	}
}

var (
	// ErrUnauthenticated: a write without a token, or with an unknown one.
	ErrUnauthenticated = errors.New("a write needs a valid bearer token")
	// ErrForbidden: a write with a read-only token.
	ErrForbidden = errors.New("this token is read-only")
)

// Tokens is the set of configured tokens. The zero value knows no token, so
// every write is refused.
type Tokens struct {
	entries []tokenEntry
}

type tokenEntry struct {
	digest [sha256.Size]byte
	role   Role
	id     string // a short fingerprint for logs and rate-limit keys
}

// ParseTokens reads MARQUEE_API_TOKENS: comma-separated tokens, each a write
// token unless it ends in ":read". Blanks around entries are ignored; an empty
// token, an unknown suffix or a token shorter than 16 characters is an error,
// so a typo cannot silently open the API.
func ParseTokens(spec string) (*Tokens, error) {
	t := &Tokens{}
	for _, field := range strings.Split(spec, ",") {
		field = strings.TrimSpace(field)
		if field == "" {
			continue
		}
		token, role := field, RoleWrite
		if i := strings.LastIndexByte(field, ':'); i >= 0 {
			switch suffix := field[i+1:]; suffix {
			case "read":
				role = RoleRead
			case "write":
			default:
				return nil, fmt.Errorf("API token %q: unknown role %q (use token or token:read)", redact(field[:i]), suffix)
			}
			token = field[:i]
		}
		if len(token) < MinTokenLength {
			return nil, fmt.Errorf("API token %q is shorter than %d characters", redact(token), MinTokenLength)
		}
		t.Add(token, role)
	}
	return t, nil
}

// MinTokenLength is the shortest token ParseTokens accepts.
const MinTokenLength = 16

// Add adds a token with its role.
func (t *Tokens) Add(token string, role Role) {
	digest := sha256.Sum256([]byte(token))
	t.entries = append(t.entries, tokenEntry{digest: digest, role: role, id: hex.EncodeToString(digest[:4])})
}

// Len is the number of tokens.
func (t *Tokens) Len() int { return len(t.entries) }

// Lookup finds token's role in constant time: it compares the SHA-256 of
// token with that of every configured token, so neither the length nor the
// position of a match leaks through timing.
func (t *Tokens) Lookup(token string) (Role, string) {
	digest := sha256.Sum256([]byte(token))
	role, id := RoleNone, ""
	for _, e := range t.entries {
		if subtle.ConstantTimeCompare(digest[:], e.digest[:]) == 1 {
			role, id = e.role, e.id
		}
	}
	return role, id
}

// Caller is who made a request, as far as the APIs care.
type Caller struct {
	// Role is what the caller's token allows (RoleNone without a valid one).
	Role Role
	// TokenID is a fingerprint of a valid token, empty otherwise.
	TokenID string
	// BadToken is set when the request carried an Authorization header that
	// is not a known bearer token.
	BadToken bool
	// IP is the client address the connection came from.
	IP string
}

// Key identifies the caller for the rate limit: its token, else its address.
func (c Caller) Key() string {
	if c.TokenID != "" {
		return "token:" + c.TokenID
	}
	return "ip:" + c.IP
}

// CanWrite says whether the caller may write, and why not.
func (c Caller) CanWrite() error {
	switch c.Role {
	case RoleWrite:
		return nil
	case RoleRead:
		return ErrForbidden
	default:
		return ErrUnauthenticated
	}
}

// Identify reads the caller of r.
func (t *Tokens) Identify(r *http.Request) Caller {
	c := Caller{IP: clientIP(r)}
	header := r.Header.Get("Authorization")
	if header == "" {
		return c
	}
	scheme, token, ok := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		c.BadToken = true
		return c
	}
	c.Role, c.TokenID = t.Lookup(token)
	c.BadToken = c.Role == RoleNone
	return c
}

// clientIP is the host part of the connection's remote address. Forwarded
// headers are not trusted: behind a proxy, configure the proxy to limit.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller that Middleware stored in ctx; without one,
// an anonymous caller.
func CallerFrom(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}

// Middleware identifies the caller of every request and stores it in the
// request's context for the handlers (CallerFrom).
func (t *Tokens) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(WithCaller(r.Context(), t.Identify(r))))
	})
}

// redact keeps the first four characters of a token for error messages.
func redact(token string) string {
	if len(token) <= 4 {
		return "****"
	}
	return token[:4] + "****"
}

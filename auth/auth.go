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
	name   string // what logs and audits show instead of the token
}

// HashPrefix marks a token given by its hash: "sha256:" and the lowercase
// hex SHA-256 of the token.
const HashPrefix = "sha256:"

// ParseTokens reads MARQUEE_API_TOKENS: comma-separated entries, each
//
//	[name=NAME:]TOKEN[:read|:write]
//	[name=NAME:]sha256:HEX[:read|:write]
//
// TOKEN is the token itself (at least MinTokenLength characters, no comma);
// sha256:HEX gives it by the hex SHA-256 of its bytes instead, so the
// configuration need not hold the secret. An entry is a write token unless
// it ends in ":read". NAME (ValidTokenName) is what logs and audits show for
// the token; without one, its name is its DefaultTokenName. Blanks around
// entries are ignored. An empty token, an unknown suffix, a short token, a
// malformed hash, two entries with the same name or the same token are
// errors, so a typo cannot silently open the API; the error texts never show
// a token.
func ParseTokens(spec string) (*Tokens, error) {
	t := &Tokens{}
	for field := range strings.SplitSeq(spec, ",") {
		field = strings.TrimSpace(field)
		if field == "" {
			continue
		}
		e, _, err := parseTokenEntry(field)
		if err != nil {
			return nil, err
		}
		if err := t.add(e); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// parseTokenEntry reads one entry of ParseTokens; hashed says whether it
// gave the token by its hash.
func parseTokenEntry(field string) (e tokenEntry, hashed bool, err error) {
	if rest, ok := strings.CutPrefix(field, "name="); ok {
		e.name, field, ok = strings.Cut(rest, ":")
		if !ok {
			return tokenEntry{}, false, fmt.Errorf("API token entry name=%s: the name is followed by ':' and the token", e.name)
		}
		if err := ValidTokenName(e.name); err != nil {
			return tokenEntry{}, false, err
		}
	}
	e.role = RoleWrite
	hexDigest, hashed := strings.CutPrefix(field, HashPrefix)
	if i := strings.LastIndexByte(field, ':'); i >= 0 && !(hashed && i == len(HashPrefix)-1) {
		switch suffix := field[i+1:]; suffix {
		case "read":
			e.role = RoleRead
		case "write":
		default:
			return tokenEntry{}, false, fmt.Errorf("API token %q: unknown role %q (use TOKEN, TOKEN:read or sha256:HEX:read)", redact(field[:i]), redact(suffix))
		}
		field = field[:i]
		hexDigest = strings.TrimPrefix(field, HashPrefix)
	}
	if hashed {
		digest, err := hex.DecodeString(hexDigest)
		if err != nil || len(digest) != sha256.Size {
			return tokenEntry{}, false, fmt.Errorf("API token %s%s: not a SHA-256 in hex (%d hex digits)", HashPrefix, redact(hexDigest), 2*sha256.Size)
		}
		copy(e.digest[:], digest)
	} else {
		if len(field) < MinTokenLength {
			return tokenEntry{}, false, fmt.Errorf("API token %q is shorter than %d characters", redact(field), MinTokenLength)
		}
		e.digest = sha256.Sum256([]byte(field))
	}
	if e.name == "" {
		e.name = DefaultTokenName(e.digest)
	}
	return e, hashed, nil
}

// MinTokenLength is the shortest token ParseTokens accepts.
const MinTokenLength = 16

// ValidTokenName accepts names of 1 to 64 letters, digits, '.', '_' and
// '-': they go into log lines and audit records as they are, and cannot be
// mistaken for a token's hash or for the entry syntax around them.
func ValidTokenName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("API token name %q: give 1 to 64 characters", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("API token name %q: use only letters, digits, '.', '_' and '-'", name)
		}
	}
	return nil
}

// DefaultTokenName is the name of a token configured without one: "sha256:"
// and the first 8 hex digits of its hash, which an operator finds in the
// token's hashed entry and which says nothing usable about the token.
func DefaultTokenName(digest [sha256.Size]byte) string {
	return HashPrefix + hex.EncodeToString(digest[:4])
}

// HashedEntry is the MARQUEE_API_TOKENS entry for token in the hash form:
// "name=NAME:" when name is not empty, "sha256:HEX", and ":read" for
// RoleRead.
func HashedEntry(token, name string, role Role) string {
	digest := sha256.Sum256([]byte(token))
	return tokenEntry{digest: digest, role: role, name: name}.hashedEntry()
}

func (e tokenEntry) hashedEntry() string {
	var b strings.Builder
	if e.name != "" && e.name != DefaultTokenName(e.digest) {
		b.WriteString("name=" + e.name + ":")
	}
	b.WriteString(HashPrefix + hex.EncodeToString(e.digest[:]))
	if e.role == RoleRead {
		b.WriteString(":read")
	}
	return b.String()
}

// Add adds a token with its role, named by its DefaultTokenName.
func (t *Tokens) Add(token string, role Role) {
	digest := sha256.Sum256([]byte(token))
	t.entries = append(t.entries, tokenEntry{digest: digest, role: role, name: DefaultTokenName(digest)})
}

// add adds e unless its name or its token is taken.
func (t *Tokens) add(e tokenEntry) error {
	for _, other := range t.entries {
		switch {
		case other.name == e.name:
			return fmt.Errorf("two API tokens are named %q", e.name)
		case other.digest == e.digest:
			return fmt.Errorf("API tokens %q and %q are the same token", other.name, e.name)
		}
	}
	t.entries = append(t.entries, e)
	return nil
}

// Len is the number of tokens.
func (t *Tokens) Len() int { return len(t.entries) }

// Lookup finds token's role and name in constant time: it compares the
// SHA-256 of token with that of every configured token, so neither the
// length nor the position of a match leaks through timing, and a token
// configured by its hash is checked exactly like one given in clear.
func (t *Tokens) Lookup(token string) (Role, string) {
	digest := sha256.Sum256([]byte(token))
	role, name := RoleNone, ""
	for _, e := range t.entries {
		if subtle.ConstantTimeCompare(digest[:], e.digest[:]) == 1 {
			role, name = e.role, e.name
		}
	}
	return role, name
}

// Caller is who made a request, as far as the APIs care.
type Caller struct {
	// Role is what the caller's token allows (RoleNone without a valid one).
	Role Role
	// TokenName is the name of a valid token (see ParseTokens), empty
	// otherwise. Logs and audits record it, never the token.
	TokenName string
	// BadToken is set when the request carried an Authorization header that
	// is not a known bearer token.
	BadToken bool
	// IP is the client's address: the connection's, or the one that trusted
	// proxies forwarded (see Proxies).
	IP string
}

// Key identifies the caller for the rate limit: its token, else its address.
func (c Caller) Key() string {
	if c.TokenName != "" {
		return "token:" + c.TokenName
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

// Identify reads the caller of r: its token from the Authorization header,
// its address from ClientFrom.
func (t *Tokens) Identify(r *http.Request) Caller {
	c := Caller{IP: ClientFrom(r).Addr}
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
	c.Role, c.TokenName = t.Lookup(token)
	c.BadToken = c.Role == RoleNone
	return c
}

type callerKey struct{}

type callerRecordKey struct{}

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

// TokenName is the name of the token that authenticated the request ctx
// belongs to, or "" for an anonymous caller: what logs and audits record
// about who made a change.
func TokenName(ctx context.Context) string {
	return CallerFrom(ctx).TokenName
}

// RecordCaller returns ctx with room for the caller that a Middleware
// further down the handler chain identifies, and that room: it stays the
// zero Caller when no Middleware ran. It lets a log line written after the
// handler returns name the token. Read it only once the handler returned.
func RecordCaller(ctx context.Context) (context.Context, *Caller) {
	record := new(Caller)
	return context.WithValue(ctx, callerRecordKey{}, record), record
}

// Middleware identifies the caller of every request and stores it in the
// request's context for the handlers (CallerFrom), and in the room that
// RecordCaller made, if any.
func (t *Tokens) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := t.Identify(r)
		if record, ok := r.Context().Value(callerRecordKey{}).(*Caller); ok {
			*record = c
		}
		next.ServeHTTP(w, r.WithContext(WithCaller(r.Context(), c)))
	})
}

// redact keeps the first four characters of a token for error messages.
func redact(token string) string {
	if len(token) <= 4 {
		return "****"
	}
	return token[:4] + "****"
}

package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	writeToken = "write-token-0123456789"
	readToken  = "read-token-0123456789"
)

// hashOf is the hex SHA-256 of token, as `marquee token new` prints it.
func hashOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func TestParseTokens(t *testing.T) {
	type found struct {
		role Role
		name string
	}
	for _, tc := range []struct {
		name string
		spec string
		want map[string]found // token presented -> what Lookup finds
	}{
		{"plain tokens, blanks and empty entries", " " + writeToken + " , " + readToken + ":read,,", map[string]found{
			writeToken:           {RoleWrite, DefaultTokenName(sha256.Sum256([]byte(writeToken)))},
			readToken:            {RoleRead, DefaultTokenName(sha256.Sum256([]byte(readToken)))},
			"":                   {RoleNone, ""},
			writeToken + "x":     {RoleNone, ""},
			readToken + ":read":  {RoleNone, ""},
			writeToken + ":read": {RoleNone, ""},
		}},
		{"explicit write role", writeToken + ":write", map[string]found{writeToken: {RoleWrite, "sha256:" + hashOf(writeToken)[:8]}}},
		{"hashed tokens", "sha256:" + hashOf(writeToken) + ",sha256:" + strings.ToUpper(hashOf(readToken)) + ":read", map[string]found{
			writeToken:                     {RoleWrite, "sha256:" + hashOf(writeToken)[:8]},
			readToken:                      {RoleRead, "sha256:" + hashOf(readToken)[:8]},
			hashOf(writeToken):             {RoleNone, ""},
			"sha256:" + hashOf(writeToken): {RoleNone, ""},
			writeToken[:len(writeToken)-1]: {RoleNone, ""},
		}},
		{"named tokens in both forms", "name=ci:sha256:" + hashOf(writeToken) + ", name=dash-board.2:" + readToken + ":read", map[string]found{
			writeToken: {RoleWrite, "ci"},
			readToken:  {RoleRead, "dash-board.2"},
		}},
		{"a plain token with a colon keeps it", "name=x:" + writeToken + ":colon:read", map[string]found{
			writeToken + ":colon": {RoleRead, "x"},
		}},
		{"empty", "", map[string]found{writeToken: {RoleNone, ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tokens, err := ParseTokens(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			for token, want := range tc.want {
				if role, name := tokens.Lookup(token); role != want.role || name != want.name {
					t.Errorf("Lookup(%q) = %v %q, want %v %q", token, role, name, want.role, want.name)
				}
			}
		})
	}
}

func TestParseTokensRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, spec, want string
	}{
		{"short token", "short", "shorter than 16"},
		{"unknown role", writeToken + ":admin", "unknown role"},
		{"role alone", ":read", "shorter than 16"},
		{"short hash", "sha256:" + hashOf(writeToken)[:62], "not a SHA-256 in hex"},
		{"hash that is not hex", "sha256:" + strings.Repeat("g", 64), "not a SHA-256 in hex"},
		{"hash with unknown role", "sha256:" + hashOf(writeToken) + ":admin", "unknown role"},
		{"bare hash prefix", "sha256:", "not a SHA-256 in hex"},
		{"name without a token", "name=ci", "followed by ':'"},
		{"empty name", "name=:" + writeToken, "1 to 64 characters"},
		{"name with a space", "name=my ci:" + writeToken, "only letters, digits"},
		{"name too long", "name=" + strings.Repeat("n", 65) + ":" + writeToken, "1 to 64 characters"},
		{"two tokens with one name", "name=ci:" + writeToken + ",name=ci:" + readToken, `two API tokens are named "ci"`},
		{"one token twice", "name=a:" + writeToken + ",name=b:sha256:" + hashOf(writeToken) + ":read", `"a" and "b" are the same token`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTokens(tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseTokens(%q) = %v, want an error saying %q", tc.spec, err, tc.want)
			}
			for _, secret := range []string{writeToken, readToken, hashOf(writeToken)} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error shows a token or its hash: %v", err)
				}
			}
		})
	}
}

func TestHashedEntry(t *testing.T) {
	for _, tc := range []struct {
		name, token, tokenName string
		role                   Role
		want                   string
	}{
		{"write, no name", writeToken, "", RoleWrite, "sha256:" + hashOf(writeToken)},
		{"read, named", readToken, "ci", RoleRead, "name=ci:sha256:" + hashOf(readToken) + ":read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entry := HashedEntry(tc.token, tc.tokenName, tc.role)
			if entry != tc.want {
				t.Fatalf("HashedEntry = %q, want %q", entry, tc.want)
			}
			tokens, err := ParseTokens(entry)
			if err != nil {
				t.Fatal(err)
			}
			if role, _ := tokens.Lookup(tc.token); role != tc.role {
				t.Errorf("the entry gives the token role %v, want %v", role, tc.role)
			}
		})
	}
}

func TestIdentify(t *testing.T) {
	tokens, err := ParseTokens("name=writer:sha256:" + hashOf(writeToken) + "," + readToken + ":read")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		header   string
		role     Role
		bad      bool
		writeErr error
	}{
		{"", RoleNone, false, ErrUnauthenticated},
		{"Bearer " + writeToken, RoleWrite, false, nil},
		{"bearer  " + writeToken, RoleWrite, false, nil},
		{"Bearer " + readToken, RoleRead, false, ErrForbidden},
		{"Bearer nope-nope-nope-nope", RoleNone, true, ErrUnauthenticated},
		{"Basic dXNlcjpwYXNz", RoleNone, true, ErrUnauthenticated},
		{"Bearer", RoleNone, true, ErrUnauthenticated},
		{"Bearer " + hashOf(writeToken), RoleNone, true, ErrUnauthenticated},
	} {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.RemoteAddr = "[::1]:4321"
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		var c Caller
		var name string
		ctx, record := RecordCaller(r.Context())
		tokens.Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			c, name = CallerFrom(r.Context()), TokenName(r.Context())
		})).ServeHTTP(httptest.NewRecorder(), r.WithContext(ctx))
		if c.Role != tc.role || c.BadToken != tc.bad || c.IP != "::1" {
			t.Errorf("%q: caller %+v, want role %v, bad %v, ip ::1", tc.header, c, tc.role, tc.bad)
		}
		if *record != c || name != c.TokenName {
			t.Errorf("%q: recorded %+v and name %q, want %+v", tc.header, *record, name, c)
		}
		if tc.role == RoleWrite && c.TokenName != "writer" {
			t.Errorf("%q: token name %q, want writer", tc.header, c.TokenName)
		}
		if err := c.CanWrite(); !errors.Is(err, tc.writeErr) {
			t.Errorf("%q: CanWrite = %v, want %v", tc.header, err, tc.writeErr)
		}
		wantKey := "ip:::1"
		if c.TokenName != "" {
			wantKey = "token:" + c.TokenName
		}
		if c.Key() != wantKey {
			t.Errorf("%q: Key = %q, want %q", tc.header, c.Key(), wantKey)
		}
	}
}

func TestLimiter(t *testing.T) {
	if ok, _ := (*Limiter)(nil).Allow("x"); !ok || NewLimiter(0) != nil {
		t.Fatal("a limit of 0 must allow everything")
	}
	l := NewLimiter(2)
	now := time.Unix(1_000_000, 0)
	l.now = func() time.Time { return now }

	for i := range 2 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, retry := l.Allow("a")
	if ok || retry <= 0 || retry > time.Second {
		t.Fatalf("third request: ok=%v retry=%v, want refused within 1s", ok, retry)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("another client shares the first one's budget")
	}
	now = now.Add(retry)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("refused after waiting Retry-After")
	}

	now = now.Add(2 * sweepEvery)
	l.Allow("c")
	if _, kept := l.buckets["a"]; kept || len(l.buckets) != 1 {
		t.Fatalf("idle buckets kept: %d", len(l.buckets))
	}
	if got := RetryAfterSeconds(1500 * time.Millisecond); got != 2 {
		t.Errorf("RetryAfterSeconds(1.5s) = %d, want 2", got)
	}
	if got := RetryAfterSeconds(time.Millisecond); got != 1 {
		t.Errorf("RetryAfterSeconds(1ms) = %d, want 1", got)
	}
}

func TestLoadOrCreateToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var wg sync.WaitGroup
	stored := make([]StoredToken, 8)
	for i := range stored {
		wg.Go(func() {
			var err error
			stored[i], err = LoadOrCreateToken(dir)
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	var token string
	for i, s := range stored {
		if s.Entry != stored[0].Entry || s.Converted {
			t.Fatalf("call %d found %+v, call 0 %+v", i, s, stored[0])
		}
		if s.Token != "" {
			if token != "" {
				t.Fatal("two callers created the token")
			}
			token = s.Token
		}
	}
	if len(token) < MinTokenLength {
		t.Fatalf("no caller created a token: %+v", stored)
	}
	path := filepath.Join(dir, TokenFile)
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "name=embedded:sha256:" + hashOf(token) + "\n"; string(content) != want {
		t.Errorf("the file holds %q, want %q", content, want)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", info.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("data dir holds %d entries, want only the token file", len(entries))
	}

	again, err := LoadOrCreateToken(dir)
	if err != nil || again != (StoredToken{Entry: stored[0].Entry}) {
		t.Fatalf("second start: %+v, %v", again, err)
	}
	tokens, err := ParseTokens(again.Entry)
	if err != nil {
		t.Fatal(err)
	}
	if role, name := tokens.Lookup(token); role != RoleWrite || name != EmbeddedTokenName {
		t.Errorf("the stored entry gives the token %v %q, want write %q", role, name, EmbeddedTokenName)
	}
}

func TestLoadOrCreateTokenConverts(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		wantEntry     string // "" when the file is refused
		wantError     string
	}{
		{"a plain token of an older release", writeToken + "\n", "name=embedded:sha256:" + hashOf(writeToken), ""},
		{"a named plain token", "name=laptop:" + writeToken + "\n", "name=laptop:sha256:" + hashOf(writeToken), ""},
		{"a hash kept as it is", "sha256:" + hashOf(writeToken) + ":read\n", "sha256:" + hashOf(writeToken) + ":read", ""},
		{"a short token", "short\n", "", "shorter than 16"},
		{"two tokens", writeToken + "," + readToken + "\n", "", "more than one token"},
		{"a malformed hash", "sha256:abc\n", "", "not a SHA-256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, TokenFile)
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			stored, err := LoadOrCreateToken(dir)
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantError) || !strings.Contains(err.Error(), "delete the file") {
					t.Fatalf("err = %v, want one saying %q and how to recover", err, tc.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			converted := !strings.Contains(tc.content, "sha256:")
			if stored.Entry != tc.wantEntry || stored.Converted != converted || stored.Token != "" {
				t.Fatalf("stored %+v, want entry %q, converted %v, no token", stored, tc.wantEntry, converted)
			}
			content, _ := os.ReadFile(path)
			if string(content) != tc.wantEntry+"\n" || strings.Contains(string(content), writeToken) {
				t.Errorf("the file holds %q, want %q", content, tc.wantEntry+"\n")
			}
			if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
				t.Errorf("token file: %v, %v; want mode 0600", info, err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("the dir holds %d entries, want only the token file", len(entries))
			}
		})
	}
}

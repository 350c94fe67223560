package auth

import (
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

func TestParseTokens(t *testing.T) {
	tokens, err := ParseTokens(" " + writeToken + " , " + readToken + ":read,,")
	if err != nil {
		t.Fatal(err)
	}
	if tokens.Len() != 2 {
		t.Fatalf("Len = %d, want 2", tokens.Len())
	}
	for token, want := range map[string]Role{
		writeToken: RoleWrite, readToken: RoleRead,
		"": RoleNone, writeToken + "x": RoleNone, readToken + ":read": RoleNone,
	} {
		if got, _ := tokens.Lookup(token); got != want {
			t.Errorf("Lookup(%q) = %v, want %v", token, got, want)
		}
	}

	for _, bad := range []string{"short", writeToken + ":admin", ":read"} {
		_, err := ParseTokens(bad)
		if err == nil {
			t.Errorf("ParseTokens(%q) = nil error", bad)
			continue
		}
		if strings.Contains(err.Error(), writeToken) {
			t.Errorf("ParseTokens(%q) error shows the token: %v", bad, err)
		}
	}
	if empty, err := ParseTokens(""); err != nil || empty.Len() != 0 {
		t.Errorf("ParseTokens(\"\") = %v, %v; want no tokens", empty, err)
	}
}

func TestIdentify(t *testing.T) {
	tokens, err := ParseTokens(writeToken + "," + readToken + ":read")
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
	} {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.RemoteAddr = "[::1]:4321"
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		var c Caller
		tokens.Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			c = CallerFrom(r.Context())
		})).ServeHTTP(httptest.NewRecorder(), r)
		if c.Role != tc.role || c.BadToken != tc.bad || c.IP != "::1" {
			t.Errorf("%q: caller %+v, want role %v, bad %v, ip ::1", tc.header, c, tc.role, tc.bad)
		}
		if err := c.CanWrite(); !errors.Is(err, tc.writeErr) {
			t.Errorf("%q: CanWrite = %v, want %v", tc.header, err, tc.writeErr)
		}
		wantKey := "ip:::1"
		if c.TokenID != "" {
			wantKey = "token:" + c.TokenID
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
	tokens := make([]string, 8)
	created := make([]bool, 8)
	for i := range tokens {
		wg.Go(func() {
			var err error
			tokens[i], created[i], err = LoadOrCreateToken(dir)
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	creators := 0
	for i, tok := range tokens {
		if tok != tokens[0] || len(tok) < MinTokenLength {
			t.Fatalf("token %d = %q, want %q", i, tok, tokens[0])
		}
		if created[i] {
			creators++
		}
	}
	if creators != 1 {
		t.Fatalf("%d callers created the token, want 1", creators)
	}
	info, err := os.Stat(filepath.Join(dir, TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", info.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("data dir holds %d entries, want only the token file", len(entries))
	}

	again, created2, err := LoadOrCreateToken(dir)
	if err != nil || again != tokens[0] || created2 {
		t.Fatalf("second start: %q, %v, %v", again, created2, err)
	}
	if err := os.WriteFile(filepath.Join(dir, TokenFile), []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateToken(dir); err == nil {
		t.Fatal("a short token in the file was accepted")
	}
}

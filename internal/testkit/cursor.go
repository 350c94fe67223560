package testkit

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

// ForgeCursor returns a page cursor as a hostile client would write it: the
// base64url of body, in which every SCOPE stands for the quoted scope of the
// real cursor like (a cursor of the same list, filter and order), so that
// the forgery reaches the checks of its values. body may be anything, JSON
// or not, valid UTF-8 or not.
func ForgeCursor(tb testing.TB, like, body string) string {
	tb.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(like)
	if err != nil {
		tb.Fatalf("cursor %q is not base64url: %v", like, err)
	}
	var c struct {
		Scope string `json:"s"`
	}
	if err := json.Unmarshal(raw, &c); err != nil || c.Scope == "" {
		tb.Fatalf("cursor %q holds no scope: %s (%v)", like, raw, err)
	}
	scope, _ := json.Marshal(c.Scope)
	return base64.RawURLEncoding.EncodeToString([]byte(strings.ReplaceAll(body, "SCOPE", string(scope))))
}

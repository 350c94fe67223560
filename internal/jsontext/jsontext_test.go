package jsontext

import (
	"bytes"
	"encoding/json"
	"testing"
)

var samples = []string{
	"", "plain", `quote " and \ backslash`, "tab\tnew\nline\rret\bbs\fff", "\x00\x01\x1f\x7f",
	"<html> & 'x'", "Ünïcödé 日本語 🎬", "line\u2028para\u2029end", "bad \xff byte", "\xc3", "cut \xe2\x82",
	"\xed\xa0\x80 surrogate", "mixed \xff\u2028\"\n\xfe",
}

// marshal is encoding/json with HTML escaping off.
func marshal(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func TestAppendStringIsEncodingJSON(t *testing.T) {
	for _, s := range samples {
		if got, want := AppendString(nil, s), marshal(t, s); !bytes.Equal(got, want) {
			t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
		}
	}
}

func TestAppendReencodedStringIsEncodingJSONTwice(t *testing.T) {
	for _, s := range samples {
		var once string
		if err := json.Unmarshal(marshal(t, s), &once); err != nil {
			t.Fatal(err)
		}
		if got, want := AppendReencodedString(nil, s), marshal(t, once); !bytes.Equal(got, want) {
			t.Errorf("AppendReencodedString(%q) = %s, want %s", s, got, want)
		}
	}
}

func TestAppendKeepsDst(t *testing.T) {
	if got := string(AppendString([]byte("x:"), "a")); got != `x:"a"` {
		t.Errorf("got %s", got)
	}
}

package responsecache

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestResponseCacheBound fills a small cache with many distinct answers:
// the bytes it holds stay within its bound, the most recently used answers
// are served again, the least recently used were dropped, and a new data
// version drops them all.
func TestResponseCacheBound(t *testing.T) {
	const maxBytes = 16 << 10
	version := int64(1)
	made := map[string]int{} // answers the API made, by path
	c := New(Options{MaxBytes: maxBytes, Version: func(context.Context) (int64, error) { return version, nil }})
	api := c.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		made[r.URL.Path]++
		w.Header().Set("ETag", fmt.Sprintf(`"%s-%d"`, r.URL.Path, version))
		w.Write([]byte(strings.Repeat("x", 300))) //nolint:errcheck // a recorder
	}), REST, 0)
	get := func(path string) {
		api.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
	const paths = 200
	for i := range paths {
		get(fmt.Sprintf("/p/%d", i))
		if c.Bytes() > maxBytes {
			t.Fatalf("after %d answers the cache holds %d bytes, over its bound of %d", i+1, c.Bytes(), maxBytes)
		}
	}
	if c.Len() == 0 || c.Len() >= paths {
		t.Fatalf("the cache holds %d of %d answers; want some, not all", c.Len(), paths)
	}
	tests := []struct {
		name      string
		path      string
		wantMades int
	}{
		{"most recent is kept", fmt.Sprintf("/p/%d", paths-1), 1},
		{"least recent was dropped", "/p/0", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			get(tt.path)
			if made[tt.path] != tt.wantMades {
				t.Errorf("the API made %s %d times; want %d", tt.path, made[tt.path], tt.wantMades)
			}
		})
	}
	version++
	get("/p/0")
	if c.Len() != 1 || made["/p/0"] != 3 {
		t.Errorf("after a write: %d answers held, /p/0 made %d times; want 1 and 3", c.Len(), made["/p/0"])
	}
}

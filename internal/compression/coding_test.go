package compression

import (
	"testing"
)

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		name            string
		header          []string
		want            Coding
		identityRefused bool
	}{
		{"no header", nil, Identity, false},
		{"empty header", []string{""}, Identity, false},
		{"browser order, zstd preferred on a tie", []string{"gzip, deflate, br, zstd"}, Zstd, false},
		{"br and gzip", []string{"gzip, br"}, Brotli, false},
		{"gzip only", []string{"gzip"}, Gzip, false},
		{"x-gzip is gzip", []string{"x-gzip"}, Gzip, false},
		{"q-values win over preference", []string{"zstd;q=0.5, br;q=0.8, gzip;q=0.9"}, Gzip, false},
		{"q=0 excludes", []string{"zstd;q=0, br;q=0, gzip"}, Gzip, false},
		{"case and spaces", []string{" ZSTD ; Q=0.3 , GZip;q=0.2"}, Zstd, false},
		{"several header lines", []string{"gzip;q=0.1", "br"}, Brotli, false},
		{"star names every coding", []string{"*"}, Zstd, false},
		{"star does not revive a coding named with q=0", []string{"zstd;q=0, *;q=0.5"}, Brotli, false},
		{"identity preferred", []string{"gzip;q=0.5, identity"}, Identity, false},
		{"identity refused", []string{"gzip, identity;q=0"}, Gzip, true},
		{"star;q=0 refuses identity", []string{"br, *;q=0"}, Brotli, true},
		{"nothing acceptable", []string{"identity;q=0"}, Identity, true},
		{"unknown codings only", []string{"deflate, compress"}, Identity, false},
		{"malformed q is ignored", []string{"zstd;q=abc, gzip;q=2, br;q=0.1"}, Brotli, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, refused := Negotiate(tc.header)
			if got != tc.want || refused != tc.identityRefused {
				t.Errorf("Negotiate(%q) = %s, identity refused %v; want %s, %v", tc.header, got, refused, tc.want, tc.identityRefused)
			}
		})
	}
}

func TestETag(t *testing.T) {
	for _, tc := range []struct {
		name   string
		etag   string
		coding Coding
		want   string
	}{
		{"strong", `"7-ab12"`, Zstd, `"7-ab12-zstd"`},
		{"weak", `W/"ab12"`, Brotli, `W/"ab12-br"`},
		{"gzip", `"ab12"`, Gzip, `"ab12-gzip"`},
		{"identity keeps it", `"ab12"`, Identity, `"ab12"`},
		{"none stays none", ``, Gzip, ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ETag(tc.etag, tc.coding)
			if got != tc.want {
				t.Fatalf("ETag(%s, %s) = %s, want %s", tc.etag, tc.coding, got, tc.want)
			}
			if plain, _ := plainETag(got); plain != tc.etag {
				t.Errorf("plainETag(%s) = %s, want %s", got, plain, tc.etag)
			}
		})
	}
}

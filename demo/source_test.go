package demo_test

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"marquee/db"
	"marquee/demo"
	"marquee/imaging"
	"marquee/ingest"
)

func startSource(t *testing.T, dataDir string) *demo.Source {
	t.Helper()
	s, err := demo.Start(dataDir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func do(t *testing.T, method, target string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, values := range header {
		req.Header[name] = values
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// TestSourceFeed: the feed has the demo's performers, every thumbnail URL
// points at the source itself, and an unchanged feed is answered 304.
func TestSourceFeed(t *testing.T) {
	s := startSource(t, t.TempDir())
	if got := s.Addr().Addr(); got != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("the source listens on %s, want 127.0.0.1", s.Addr())
	}
	resp, body := do(t, http.MethodGet, s.FeedURL(), nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("ETag") == "" {
		t.Fatalf("GET feed: %d %v", resp.StatusCode, resp.Header)
	}
	profiles, urls := 0, map[string]bool{}
	header, err := ingest.ParseFeed(bytes.NewReader(body), func(_ int, p db.Profile) error {
		profiles++
		for _, th := range p.Thumbnails {
			urls[th.URL] = true
		}
		return nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if header.ItemsCount == nil || *header.ItemsCount != demo.Items || profiles < demo.Items*9/10 {
		t.Errorf("the feed counts %v items and parses into %d profiles, want %d items, most of them valid", header.ItemsCount, profiles, demo.Items)
	}
	if len(urls) < demo.Items*9/10 {
		t.Errorf("the feed has %d distinct image URLs, want about one per performer", len(urls))
	}
	prefix := "http://" + s.Addr().String() + demo.ImagePrefix
	for u := range urls {
		if !strings.HasPrefix(u, prefix) {
			t.Fatalf("image URL %s is not under the source's %s", u, prefix)
		}
	}

	tests := []struct {
		name     string
		method   string
		header   http.Header
		wantCode int
		wantBody []byte
	}{
		{"unconditional", http.MethodGet, nil, http.StatusOK, body},
		{"same ETag", http.MethodGet, http.Header{"If-None-Match": {resp.Header.Get("ETag")}}, http.StatusNotModified, nil},
		{"other ETag", http.MethodGet, http.Header{"If-None-Match": {`"other"`}}, http.StatusOK, body},
		{"HEAD", http.MethodHead, nil, http.StatusOK, nil},
		{"POST", http.MethodPost, nil, http.StatusMethodNotAllowed, []byte("Method Not Allowed\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, gotBody := do(t, tt.method, s.FeedURL(), tt.header)
			if got.StatusCode != tt.wantCode || !bytes.Equal(gotBody, tt.wantBody) {
				t.Errorf("%s feed = %d with %d bytes, want %d with %d bytes", tt.method, got.StatusCode, len(gotBody), tt.wantCode, len(tt.wantBody))
			}
		})
	}
}

// TestSourceImages: every thumbnail path answers its own JPEG; nothing
// else is served.
func TestSourceImages(t *testing.T) {
	s := startSource(t, t.TempDir())
	base := "http://" + s.Addr().String()
	thumb := demo.ImagePrefix + "000/000/002/(m=lciuhScOb_c)(mh=5Lb6oqzf58Pdh9Wc)thumb_22561.jpg"
	tests := []struct {
		name     string
		path     string
		wantCode int
		wantType string
		wantBody []byte
	}{
		{"thumbnail", thumb, http.StatusOK, "image/jpeg", demo.Image(thumb)},
		{"another thumbnail", demo.ImagePrefix + "000/000/003/thumb_1.jpg", http.StatusOK, "image/jpeg", demo.Image(demo.ImagePrefix + "000/000/003/thumb_1.jpg")},
		{"not a jpg", demo.ImagePrefix + "000/000/002/notes.txt", http.StatusNotFound, "text/plain; charset=utf-8", []byte("404 page not found\n")},
		{"outside the images", "/etc/passwd", http.StatusNotFound, "text/plain; charset=utf-8", []byte("404 page not found\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, http.MethodGet, base+tt.path, nil)
			if resp.StatusCode != tt.wantCode || resp.Header.Get("Content-Type") != tt.wantType || !bytes.Equal(body, tt.wantBody) {
				t.Errorf("GET %s = %d %s (%d bytes), want %d %s (%d bytes)", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body),
					tt.wantCode, tt.wantType, len(tt.wantBody))
			}
		})
	}
}

// TestStartKeepsItsPort: a restarted source listens where the last one did,
// so the image URLs of its feed stay the same; when that port is taken, or
// the recorded address is not 127.0.0.1, it takes a free port of 127.0.0.1.
func TestStartKeepsItsPort(t *testing.T) {
	tests := []struct {
		name     string
		prepare  func(t *testing.T, dataDir string, previous netip.AddrPort)
		wantSame bool
	}{
		{"port free", func(*testing.T, string, netip.AddrPort) {}, true},
		{"port taken", func(t *testing.T, _ string, previous netip.AddrPort) {
			taken, err := net.Listen("tcp", previous.String())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { taken.Close() })
		}, false},
		{"recorded address not loopback", func(t *testing.T, dataDir string, previous netip.AddrPort) {
			recorded := "0.0.0.0:" + strconv.Itoa(int(previous.Port()))
			if err := os.WriteFile(filepath.Join(dataDir, demo.AddrFile), []byte(recorded), 0o644); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"recorded address unreadable", func(t *testing.T, dataDir string, _ netip.AddrPort) {
			if err := os.WriteFile(filepath.Join(dataDir, demo.AddrFile), []byte("not an address"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dataDir := t.TempDir()
			first, err := demo.Start(dataDir, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			previous := first.Addr()
			if err := first.Close(); err != nil {
				t.Fatal(err)
			}
			tt.prepare(t, dataDir, previous)
			second := startSource(t, dataDir)
			if (second.Addr() == previous) != tt.wantSame || second.Addr().Addr() != previous.Addr() {
				t.Errorf("restarted on %s after %s; want the same address: %v, on 127.0.0.1", second.Addr(), previous, tt.wantSame)
			}
			resp, _ := do(t, http.MethodGet, second.FeedURL(), nil)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s = %d", second.FeedURL(), resp.StatusCode)
			}
			recorded, err := os.ReadFile(filepath.Join(dataDir, demo.AddrFile))
			if err != nil || strings.TrimSpace(string(recorded)) != second.Addr().String() {
				t.Errorf("recorded %q (%v), want %s", recorded, err, second.Addr())
			}
		})
	}
}

// TestConfine: a compactor confined to the source reaches the source's
// address and nothing else, whatever networks were allowed before.
func TestConfine(t *testing.T) {
	s := startSource(t, t.TempDir())
	cfg := imaging.Config{
		AllowNetworks:        []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")},
		AllowPrivateNetworks: true,
		AllowAddrs:           []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:80")},
	}
	s.Confine(&cfg)
	if len(cfg.AllowNetworks) != 0 || cfg.AllowPrivateNetworks || len(cfg.AllowAddrs) != 1 || cfg.AllowAddrs[0] != s.Addr() || cfg.Resolver == nil {
		t.Fatalf("confined config allows networks %v, private %v, addresses %v; want only %s", cfg.AllowNetworks, cfg.AllowPrivateNetworks, cfg.AllowAddrs, s.Addr())
	}
	port := strconv.Itoa(int(s.Addr().Port()))
	otherPort := strconv.Itoa(int(s.Addr().Port()%65535) + 1)
	tests := []struct {
		name, host, port string
		allowed          bool
	}{
		{"the source", "127.0.0.1", port, true},
		{"the source as localhost", "localhost", port, true},
		{"another port of loopback", "127.0.0.1", otherPort, false},
		{"another loopback address", "127.0.0.2", port, false},
		{"IPv6 loopback", "::1", port, false},
		{"the real image host", "ei.phncdn.com", "443", false},
		{"a public address", "93.184.215.14", "80", false},
		{"the metadata service", "169.254.169.254", "80", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addrs, err := cfg.Resolver(context.Background(), tt.host, tt.port)
			if tt.allowed {
				if err != nil || len(addrs) != 1 || addrs[0] != s.Addr() {
					t.Errorf("resolve %s:%s = %v, %v; want %s", tt.host, tt.port, addrs, err, s.Addr())
				}
				return
			}
			if !errors.Is(err, imaging.ErrForbiddenAddress) || len(addrs) != 0 {
				t.Errorf("resolve %s:%s = %v, %v; want a forbidden address", tt.host, tt.port, addrs, err)
			}
		})
	}
}

// TestImage: every path has its own valid JPEG of the declared size, the
// same on every call.
func TestImage(t *testing.T) {
	paths := []string{
		demo.ImagePrefix + "000/000/002/(m=lciuhScOb_c)(mh=5Lb6oqzf58Pdh9Wc)thumb_22561.jpg",
		demo.ImagePrefix + "000/000/002/(m=lciuhScOb_c)(mh=5Lb6oqzf58Pdh9Wc)thumb_22562.jpg",
		demo.ImagePrefix + "000/000/003/thumb_1.jpg",
		"",
		"/" + strings.Repeat("x", 70_000),
	}
	seen := map[string]string{}
	for _, path := range paths {
		name := path
		if len(name) > 80 {
			name = name[:20] + "..."
		}
		t.Run(name, func(t *testing.T) {
			img := demo.Image(path)
			if again := demo.Image(path); !bytes.Equal(img, again) {
				t.Error("two calls gave different bytes")
			}
			decoded, err := jpeg.Decode(bytes.NewReader(img))
			if err != nil {
				t.Fatalf("not a JPEG: %v", err)
			}
			if b := decoded.Bounds(); b.Dx() != demo.ImageWidth || b.Dy() != demo.ImageHeight {
				t.Errorf("size %dx%d, want %dx%d", b.Dx(), b.Dy(), demo.ImageWidth, demo.ImageHeight)
			}
			if other, ok := seen[string(img)]; ok {
				t.Errorf("same bytes as the image of %q", other)
			}
			seen[string(img)] = path
		})
	}
	// Distinct pictures, not only distinct comments: the first two paths
	// differ in one digit.
	a, _ := jpeg.Decode(bytes.NewReader(demo.Image(paths[0])))
	b, _ := jpeg.Decode(bytes.NewReader(demo.Image(paths[1])))
	if a.At(0, 0) == b.At(0, 0) && a.At(0, demo.ImageHeight-1) == b.At(0, demo.ImageHeight-1) {
		t.Errorf("the images of %q and %q have the same background", paths[0], paths[1])
	}
}

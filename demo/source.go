// Package demo is the offline demo of `marquee run --demo`: a generated feed
// of performers (ingest/feedgen) and a thumbnail for each of its image URLs,
// both served from memory by a Source on a loopback listener. The image
// compactor, confined to that listener, fetches from nowhere else, so the
// demo runs without any request leaving 127.0.0.1.
package demo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"marquee/imaging"
	"marquee/ingest/feedgen"
)

// Items is how many performers the demo feed has: enough to page, filter
// and sort through, few enough that the pipeline loads them and caches
// their images within seconds.
const Items = 2000

// seed selects the demo's performers: the same ones in every demo.
const seed = 1

// Paths of the Source: the feed, and the prefix of the thumbnail URLs (the
// real feed's layout under the source's address).
const (
	FeedPath    = "/feed.json"
	ImagePrefix = "/pics/pornstars/"
)

// AddrFile is the file, in the data dir, that keeps the address the Source
// listened on last.
const AddrFile = "demo-source"

// loopback is the only address the Source listens on.
var loopback = netip.AddrFrom4([4]byte{127, 0, 0, 1})

// Source serves the demo feed at FeedPath (with a strong ETag, so an
// unchanged feed is answered 304) and a thumbnail, Image(path), at every
// path under ImagePrefix. It is safe for concurrent use.
type Source struct {
	addr   netip.AddrPort
	feed   []byte
	etag   string
	server *http.Server
	done   chan error
}

// Start serves the demo source on 127.0.0.1 until Close. It listens on the
// port recorded in dataDir by the last Start when that port is free, so that
// the feed's image URLs, and the image requests queued before a restart,
// keep pointing at it; else on a free port, which it records.
func Start(dataDir string, logger *slog.Logger) (*Source, error) {
	listener, err := listen(filepath.Join(dataDir, AddrFile), logger)
	if err != nil {
		return nil, err
	}
	addr := netip.MustParseAddrPort(listener.Addr().String())
	if err := os.WriteFile(filepath.Join(dataDir, AddrFile), []byte(addr.String()+"\n"), 0o644); err != nil {
		listener.Close()
		return nil, fmt.Errorf("demo: record the source's address: %w", err)
	}
	var feed bytes.Buffer
	if err := feedgen.Write(&feed, feedgen.Options{Items: Items, Seed: seed, ImageBase: baseURL(addr) + strings.TrimSuffix(ImagePrefix, "/")}); err != nil {
		listener.Close()
		return nil, fmt.Errorf("demo: generate the feed: %w", err)
	}
	sum := sha256.Sum256(feed.Bytes())
	s := &Source{addr: addr, feed: feed.Bytes(), etag: `"` + hex.EncodeToString(sum[:16]) + `"`, done: make(chan error, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+FeedPath, s.serveFeed)
	mux.HandleFunc("GET "+ImagePrefix, s.serveImage)
	s.server = &http.Server{
		Handler: mux,
		// Bounds for a listener that only this process talks to: generous
		// for the feed body, short enough that nothing hangs.
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      time.Minute,
		IdleTimeout:       time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	go func() { s.done <- s.server.Serve(listener) }()
	return s, nil
}

// listen listens on 127.0.0.1 at the address recorded in addrFile when it
// is one of 127.0.0.1 and free, else on a free port.
func listen(addrFile string, logger *slog.Logger) (net.Listener, error) {
	if recorded, err := os.ReadFile(addrFile); err == nil {
		addr, err := netip.ParseAddrPort(strings.TrimSpace(string(recorded)))
		if err == nil && addr.Addr() == loopback && addr.Port() != 0 {
			listener, err := net.Listen("tcp", addr.String())
			if err == nil {
				return listener, nil
			}
			logger.Warn("demo: the source's previous address is taken: the feed's image URLs name a new port", "previous", addr, "err", err)
		}
	}
	listener, err := net.Listen("tcp", netip.AddrPortFrom(loopback, 0).String())
	if err != nil {
		return nil, fmt.Errorf("demo: listen: %w", err)
	}
	return listener, nil
}

func baseURL(addr netip.AddrPort) string { return "http://" + addr.String() }

// Addr is the address the Source listens on.
func (s *Source) Addr() netip.AddrPort { return s.addr }

// FeedURL is the URL of the demo feed.
func (s *Source) FeedURL() string { return baseURL(s.addr) + FeedPath }

func (s *Source) serveFeed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("ETag", s.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(s.feed))
}

func (s *Source) serveImage(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, ".jpg") {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", imaging.TypeJPEG)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(Image(r.URL.Path)))
}

// Confine lets the image compactor configured by cfg fetch from this Source
// and from nowhere else: any other host, address or port is refused as a
// forbidden address, and no network allowed elsewhere applies.
func (s *Source) Confine(cfg *imaging.Config) {
	cfg.AllowNetworks = nil
	cfg.AllowPrivateNetworks = false
	cfg.AllowAddrs = []netip.AddrPort{s.addr}
	cfg.Resolver = s.resolve
}

// resolve answers the Source's own host and port (as 127.0.0.1 or
// localhost) with its address, and refuses every other.
func (s *Source) resolve(_ context.Context, host, port string) ([]netip.AddrPort, error) {
	if (host == "127.0.0.1" || host == "localhost") && port == strconv.Itoa(int(s.addr.Port())) {
		return []netip.AddrPort{s.addr}, nil
	}
	return nil, fmt.Errorf("%w: the demo fetches images only from its own source %s, not from %s",
		imaging.ErrForbiddenAddress, s.addr, net.JoinHostPort(host, port))
}

// Close stops serving at once; requests in flight are cut off.
func (s *Source) Close() error {
	err := s.server.Close()
	if served := <-s.done; !errors.Is(served, http.ErrServerClosed) {
		err = errors.Join(err, served)
	}
	return err
}

// Package imagingtest is a local image server for tests of the image
// compactor and of the commands that run it: it serves a distinct, valid
// image at every path (or what a test scripts for a path), counts the
// requests per path, and resolves any host name to itself, so that tests
// fetch the real feed's image URLs without leaving the machine.
package imagingtest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Server is an image server on 127.0.0.1 that counts requests per path.
// Paths without a handler of their own get Image(path). Latency, when set,
// delays every answer.
type Server struct {
	*httptest.Server

	latency  atomic.Int64 // time.Duration
	size     atomic.Int64 // bytes of the default images; 0: as encoded
	mu       sync.Mutex
	counts   map[string]int
	handlers map[string]http.Handler
	agents   map[string]bool
}

// NewServer starts a plain HTTP server, closed when the test ends.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	s := newServer()
	s.Server = httptest.NewServer(s)
	tb.Cleanup(s.Close)
	return s
}

// NewTLSServer starts an HTTPS server whose certificate is valid for hosts
// (for instance the real feed's image hosts) and returns it with a client
// configuration that trusts that certificate alone.
func NewTLSServer(tb testing.TB, hosts ...string) (*Server, *tls.Config) {
	tb.Helper()
	cert, pool := selfSignedCertificate(tb, hosts)
	s := newServer()
	s.Server = httptest.NewUnstartedServer(s)
	s.Server.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.Server.StartTLS()
	tb.Cleanup(s.Close)
	return s, &tls.Config{RootCAs: pool}
}

func newServer() *Server {
	return &Server{counts: map[string]int{}, handlers: map[string]http.Handler{}, agents: map[string]bool{}}
}

// SetLatency delays every later answer by d.
func (s *Server) SetLatency(d time.Duration) { s.latency.Store(int64(d)) }

// SetImageSize pads the default images to n bytes (after the PNG's end,
// where decoders never look), for tests that need realistic sizes.
func (s *Server) SetImageSize(n int) { s.size.Store(int64(n)) }

// Handle makes h answer requests for path (counted like any other).
func (s *Server) Handle(path string, h http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[path] = h
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.counts[r.URL.Path]++
	s.agents[r.UserAgent()] = true
	h := s.handlers[r.URL.Path]
	s.mu.Unlock()
	if d := time.Duration(s.latency.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	if h != nil {
		h.ServeHTTP(w, r)
		return
	}
	body := Image(r.URL.Path)
	if n := int(s.size.Load()); n > len(body) {
		body = append(body, make([]byte, n-len(body))...)
	}
	w.Header().Set("Content-Type", "image/png")
	w.Write(body)
}

// Requests returns how many requests reached path.
func (s *Server) Requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[path]
}

// Counts returns the requests per path so far.
func (s *Server) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.counts))
	for p, n := range s.counts {
		out[p] = n
	}
	return out
}

// Total returns the requests so far, over every path.
func (s *Server) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.counts {
		n += c
	}
	return n
}

// UserAgents returns the distinct User-Agent headers seen.
func (s *Server) UserAgents() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for a := range s.agents {
		out = append(out, a)
	}
	return out
}

// AddrPort is the server's address: allow exactly it, nothing else.
func (s *Server) AddrPort() netip.AddrPort {
	return netip.MustParseAddrPort(s.Listener.Addr().String())
}

// Resolve answers every host name with the server's address, whatever the
// port asked: assign it to imaging.Config.Resolver so that URLs of any host
// reach this server. Tests that need other hosts to fail write their own.
func (s *Server) Resolve(_ context.Context, _, _ string) ([]netip.AddrPort, error) {
	return []netip.AddrPort{s.AddrPort()}, nil
}

// Image returns a small valid PNG that differs for every path: an 8 x 8
// image with the path in a text chunk, so distinct URLs never serve identical
// bytes unless a test says so. It costs no compression, so a benchmark's
// server spends its time on latency, not on making images.
func Image(path string) []byte {
	base := basePNG()
	iend := len(base) - 12 // the IEND chunk closes every PNG
	text := append([]byte("path\x00"), path...)
	out := make([]byte, 0, len(base)+len(text)+12)
	out = append(out, base[:iend]...)
	out = appendChunk(out, "tEXt", text)
	return append(out, base[iend:]...)
}

// basePNG is the 8 x 8 image that Image labels.
var basePNG = sync.OnceValue(func() []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 8, 8))
	for i := range 64 {
		img.Set(i%8, i/8, color.NRGBA{R: byte(i * 4), G: byte(255 - i*4), B: byte(i), A: 255})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err) // encoding to memory cannot fail
	}
	return buf.Bytes()
})

// appendChunk appends a PNG chunk: length, type, data, CRC of type and data.
func appendChunk(b []byte, typ string, data []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	start := len(b)
	b = append(b, typ...)
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[start:]))
}

// PNGHeader returns a PNG that is only a signature and a valid IHDR chunk
// claiming width x height pixels: a decompression bomb's header in 33 bytes.
func PNGHeader(width, height uint32) []byte {
	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], width)
	binary.BigEndian.PutUint32(ihdr[4:], height)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	return appendChunk([]byte("\x89PNG\r\n\x1a\n"), "IHDR", ihdr[:])
}

// Bytes answers 200 with body, announced as contentType.
func Bytes(contentType string, body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Write(body)
	})
}

// Status answers with code and a short text body; headers are set first
// (for instance Retry-After), as key, value pairs.
func Status(code int, headers ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		http.Error(w, http.StatusText(code), code)
	})
}

// Sequence answers the nth request with the nth handler, and every request
// after the last with the last. A nil handler serves Image(path).
func Sequence(handlers ...http.Handler) http.Handler {
	var n atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		h := handlers[min(i, len(handlers)-1)]
		if h == nil {
			h = Bytes("image/png", Image(r.URL.Path))
		}
		h.ServeHTTP(w, r)
	})
}

// Hang answers nothing until the client gives up.
func Hang() http.Handler {
	return http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
}

// Drip sends the start of a valid PNG and then one byte per interval,
// forever: a body that never ends in time.
func Drip(interval time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(Image(r.URL.Path)[:16])
		flusher, _ := w.(http.Flusher)
		for {
			if flusher != nil {
				flusher.Flush()
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(interval):
			}
			if _, err := w.Write([]byte{0}); err != nil {
				return
			}
		}
	})
}

// Huge streams size bytes that start like a PNG, as fast as the client
// reads, with a Content-Length when announced says so.
func Huge(size int64, announced bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		if announced {
			w.Header().Set("Content-Length", big.NewInt(size).String())
		}
		chunk := make([]byte, 64<<10)
		copy(chunk, Image(r.URL.Path))
		for sent := int64(0); sent < size; {
			n := min(int64(len(chunk)), size-sent)
			if _, err := w.Write(chunk[:n]); err != nil {
				return
			}
			sent += n
		}
	})
}

// Redirect answers 302 to location.
func Redirect(location string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, location, http.StatusFound)
	})
}

// selfSignedCertificate makes a CA-signed-by-itself certificate for hosts
// and 127.0.0.1, and a pool that trusts only it.
func selfSignedCertificate(tb testing.TB, hosts []string) (tls.Certificate, *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "imagingtest"},
		DNSNames:              hosts,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(parsed)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: parsed}, pool
}

package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"marquee/internal/samples"
)

// sleepRecorder replaces Fetcher.sleep: it records each back-off delay and
// returns at once, so retry tests take milliseconds.
type sleepRecorder struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (s *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delays = append(s.delays, d)
	return ctx.Err()
}

func (s *sleepRecorder) recorded() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.delays...)
}

// newTestFetcher returns a Fetcher with test-sized timeouts and back-off and
// a recording sleep hook.
func newTestFetcher() (*Fetcher, *sleepRecorder) {
	f := NewFetcher("Marquee/test", slog.New(slog.DiscardHandler))
	f.MinBackoff = 10 * time.Millisecond
	f.MaxBackoff = 100 * time.Millisecond
	f.HeaderTimeout = 2 * time.Second
	f.IdleTimeout = 2 * time.Second
	recorder := &sleepRecorder{}
	f.sleep = recorder.sleep
	return f, recorder
}

// testServer is an httptest server on 127.0.0.1 that counts requests and
// keeps their headers. The handler gets the 1-based number of the request.
type testServer struct {
	*httptest.Server
	mu      sync.Mutex
	headers []http.Header
}

func newTestServer(t *testing.T, handler func(w http.ResponseWriter, r *http.Request, n int)) *testServer {
	t.Helper()
	s := &testServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.headers = append(s.headers, r.Header.Clone())
		n := len(s.headers)
		s.mu.Unlock()
		handler(w, r, n)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *testServer) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.headers)
}

func (s *testServer) header(i int) http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.headers[i]
}

// waitForClient blocks a handler until the client goes away (or a generous
// bound passes, so a broken fetcher fails the test instead of hanging it).
func waitForClient(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
}

func gzipBytes(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readFixture returns the head fixture: a feed in the real layout, served
// by the tests as the feed body.
func readFixture(t *testing.T) []byte {
	t.Helper()
	return samples.Head.Read(t)
}

// TestFetchHTTP covers what Fetch itself decides: statuses, conditional
// requests, retries and their delays, redirects and up-front caps.
func TestFetchHTTP(t *testing.T) {
	feedBody := readFixture(t)
	const lastModified = "Sun, 29 Oct 2023 04:15:03 GMT"
	type result struct {
		feed    *Feed
		body    []byte
		err     error
		delays  []time.Duration
		server  *testServer
		started time.Time
	}
	tests := []struct {
		name         string
		handler      func(w http.ResponseWriter, r *http.Request, n int)
		tweak        func(f *Fetcher)
		cond         Conditional
		wantRequests int
		wantErr      error  // a sentinel for errors.Is; nil: Fetch succeeds
		wantErrText  string // a part of the error message
		wantStatus   int    // the status in a *StatusError
		check        func(t *testing.T, got result)
	}{
		{
			name: "200 returns the body and captures ETag and Last-Modified",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("ETag", `"gen-2023-10-29"`)
				w.Header().Set("Last-Modified", lastModified)
				w.Header().Set("Content-Length", strconv.Itoa(len(feedBody)))
				w.Write(feedBody)
			},
			wantRequests: 1,
			check: func(t *testing.T, got result) {
				if !bytes.Equal(got.body, feedBody) {
					t.Errorf("body: got %d bytes, want the %d bytes of the fixture", len(got.body), len(feedBody))
				}
				if got.feed.StatusCode != 200 || got.feed.NotModified {
					t.Errorf("status %d, NotModified %v; want 200, false", got.feed.StatusCode, got.feed.NotModified)
				}
				if got.feed.ETag != `"gen-2023-10-29"` || got.feed.LastModified != lastModified {
					t.Errorf("validators = %q, %q", got.feed.ETag, got.feed.LastModified)
				}
				if got.feed.ContentLength != int64(len(feedBody)) || got.feed.BytesRead() != int64(len(feedBody)) {
					t.Errorf("ContentLength %d, BytesRead %d; want %d", got.feed.ContentLength, got.feed.BytesRead(), len(feedBody))
				}
				h := got.server.header(0)
				if ua := h.Get("User-Agent"); ua != "Marquee/test" {
					t.Errorf("User-Agent = %q", ua)
				}
				if h.Get("Accept-Encoding") != "gzip" {
					t.Errorf("Accept-Encoding = %q, want gzip", h.Get("Accept-Encoding"))
				}
				if h.Get("If-None-Match") != "" || h.Get("If-Modified-Since") != "" {
					t.Errorf("unconditional fetch sent validators: %v", h)
				}
			},
		},
		{
			name: "304 on a matching If-None-Match costs one request",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				if r.Header.Get("If-None-Match") == `"gen-2023-10-29"` {
					w.Header().Set("ETag", `"gen-2023-10-29"`)
					w.WriteHeader(http.StatusNotModified)
					return
				}
				w.Write(feedBody)
			},
			cond:         Conditional{ETag: `"gen-2023-10-29"`, LastModified: lastModified},
			wantRequests: 1,
			check: func(t *testing.T, got result) {
				if !got.feed.NotModified || got.feed.StatusCode != 304 || len(got.body) != 0 {
					t.Errorf("NotModified %v, status %d, %d body bytes; want true, 304, 0", got.feed.NotModified, got.feed.StatusCode, len(got.body))
				}
				if got.feed.ETag != `"gen-2023-10-29"` || got.feed.LastModified != lastModified {
					t.Errorf("validators = %q, %q; want the ones sent kept", got.feed.ETag, got.feed.LastModified)
				}
				if ims := got.server.header(0).Get("If-Modified-Since"); ims != lastModified {
					t.Errorf("If-Modified-Since = %q", ims)
				}
			},
		},
		{
			name: "304 to an unconditional request is an error",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.WriteHeader(http.StatusNotModified)
			},
			wantRequests: 1,
			wantErrText:  "304 Not Modified to an unconditional request",
		},
		{
			name: "429 with Retry-After 1 waits one second, then 200",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					w.Header().Set("Retry-After", "1")
					w.WriteHeader(http.StatusTooManyRequests)
					return
				}
				w.Write(feedBody)
			},
			tweak:        func(f *Fetcher) { f.MaxBackoff = 5 * time.Second },
			wantRequests: 2,
			check: func(t *testing.T, got result) {
				if len(got.delays) != 1 || got.delays[0] != time.Second {
					t.Errorf("delays = %v, want [1s]", got.delays)
				}
				if !bytes.Equal(got.body, feedBody) {
					t.Errorf("body after the retry: %d bytes", len(got.body))
				}
			},
		},
		{
			name: "503 with Retry-After as an HTTP date",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					w.Header().Set("Retry-After", time.Now().Add(3*time.Second).UTC().Format(http.TimeFormat))
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
				w.Write(feedBody)
			},
			tweak:        func(f *Fetcher) { f.MaxBackoff = 5 * time.Second },
			wantRequests: 2,
			check: func(t *testing.T, got result) {
				if len(got.delays) != 1 || got.delays[0] <= time.Second || got.delays[0] > 3*time.Second {
					t.Errorf("delays = %v, want one in (1s, 3s]", got.delays)
				}
			},
		},
		{
			name: "Retry-After beyond MaxBackoff gives up at once",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Retry-After", "3600")
				w.WriteHeader(http.StatusTooManyRequests)
			},
			wantRequests: 1,
			wantStatus:   429,
			wantErrText:  "retry after 1h0m0s, longer than the 100ms back-off cap",
		},
		{
			name: "5xx twice, then success after bounded back-off",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				if n <= 2 {
					w.WriteHeader([]int{http.StatusBadGateway, http.StatusInternalServerError}[n-1])
					return
				}
				w.Write(feedBody)
			},
			wantRequests: 3,
			check: func(t *testing.T, got result) {
				// Full jitter: attempt n waits at most MinBackoff*2^(n-1).
				if len(got.delays) != 2 || got.delays[0] > 10*time.Millisecond || got.delays[1] > 20*time.Millisecond ||
					got.delays[0] < 0 || got.delays[1] < 0 {
					t.Errorf("delays = %v, want two within [0, 10ms] and [0, 20ms]", got.delays)
				}
			},
		},
		{
			name: "500 on every attempt gives up after MaxAttempts",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.WriteHeader(http.StatusInternalServerError)
			},
			wantRequests: 5,
			wantStatus:   500,
			wantErrText:  "gave up after 5 attempts: HTTP 500 Internal Server Error",
			check: func(t *testing.T, got result) {
				if len(got.delays) != 4 {
					t.Errorf("delays = %v, want 4", got.delays)
				}
				for _, d := range got.delays {
					if d < 0 || d > 100*time.Millisecond {
						t.Errorf("delay %s outside [0, MaxBackoff]", d)
					}
				}
			},
		},
		{
			name: "408 is retried",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					w.WriteHeader(http.StatusRequestTimeout)
					return
				}
				w.Write(feedBody)
			},
			wantRequests: 2,
		},
		{
			name: "404 is ErrFeedNotFound after one request",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				http.NotFound(w, r)
			},
			wantRequests: 1,
			wantErr:      ErrFeedNotFound,
			wantStatus:   404,
			wantErrText:  "HTTP 404 Not Found",
		},
		{
			name: "410 is ErrFeedNotFound after one request",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.WriteHeader(http.StatusGone)
			},
			wantRequests: 1,
			wantErr:      ErrFeedNotFound,
			wantStatus:   410,
		},
		{
			name: "403 fails at once, naming the status",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.WriteHeader(http.StatusForbidden)
			},
			wantRequests: 1,
			wantStatus:   403,
			wantErrText:  "HTTP 403 Forbidden",
			check: func(t *testing.T, got result) {
				if errors.Is(got.err, ErrFeedNotFound) {
					t.Error("403 matched ErrFeedNotFound")
				}
			},
		},
		{
			name: "headers slower than HeaderTimeout time out and are retried",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					waitForClient(r)
					return
				}
				w.Write(feedBody)
			},
			tweak:        func(f *Fetcher) { f.HeaderTimeout = 100 * time.Millisecond },
			wantRequests: 2,
			check: func(t *testing.T, got result) {
				if len(got.delays) != 1 || !bytes.Equal(got.body, feedBody) {
					t.Errorf("delays %v, %d body bytes; want one retry and the feed", got.delays, len(got.body))
				}
			},
		},
		{
			name: "headers that never arrive give up naming the timeout",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				waitForClient(r)
			},
			tweak: func(f *Fetcher) {
				f.HeaderTimeout = 50 * time.Millisecond
				f.MaxAttempts = 2
			},
			wantRequests: 2,
			wantErr:      os.ErrDeadlineExceeded,
			wantErrText:  "gave up after 2 attempts: no response headers within 50ms",
		},
		{
			name: "connection closed before the headers is retried",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					conn, _, err := http.NewResponseController(w).Hijack()
					if err == nil {
						conn.Close()
					}
					return
				}
				w.Write(feedBody)
			},
			wantRequests: 2,
		},
		{
			name: "Content-Length over the cap fails without reading the body",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Content-Length", "1000")
				w.Write([]byte("{"))
				http.NewResponseController(w).Flush()
				waitForClient(r) // a fetcher that reads on would hang here
			},
			tweak:        func(f *Fetcher) { f.MaxBytes = 100 },
			wantRequests: 1,
			wantErr:      ErrFeedTooLarge,
			wantErrText:  "Content-Length 1000 exceeds the cap of 100 bytes",
			check: func(t *testing.T, got result) {
				if elapsed := time.Since(got.started); elapsed > 5*time.Second {
					t.Errorf("Fetch took %s: it waited for the body", elapsed)
				}
			},
		},
		{
			name: "unsupported Content-Encoding fails",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Content-Encoding", "br")
				w.Write([]byte("xx"))
			},
			wantRequests: 1,
			wantErrText:  `unsupported Content-Encoding "br"`,
		},
		{
			name: "a redirect is followed and the final validators kept",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				if r.URL.Path != "/moved" {
					http.Redirect(w, r, "/moved", http.StatusFound)
					return
				}
				w.Header().Set("ETag", `"moved"`)
				w.Write(feedBody)
			},
			wantRequests: 2,
			check: func(t *testing.T, got result) {
				if got.feed.ETag != `"moved"` || !bytes.Equal(got.body, feedBody) {
					t.Errorf("ETag %q, %d body bytes", got.feed.ETag, len(got.body))
				}
				if got.server.header(1).Get("User-Agent") != "Marquee/test" {
					t.Error("the redirected request lost the User-Agent")
				}
			},
		},
		{
			name: "a redirect loop stops after MaxRedirects without retries",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				http.Redirect(w, r, "/loop?n="+strconv.Itoa(n), http.StatusFound)
			},
			wantRequests: 1 + DefaultFeedMaxRedirects,
			wantErrText:  "stopped after 5 redirects",
			check: func(t *testing.T, got result) {
				if len(got.delays) != 0 {
					t.Errorf("redirect loop was retried: %v", got.delays)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := newTestServer(t, tt.handler)
			fetcher, recorder := newTestFetcher()
			if tt.tweak != nil {
				tt.tweak(fetcher)
			}
			got := result{server: server, started: time.Now()}
			got.feed, got.err = fetcher.Fetch(t.Context(), server.URL+"/feed.json", tt.cond)
			if got.err == nil {
				var readErr error
				got.body, readErr = io.ReadAll(got.feed.Body)
				if closeErr := got.feed.Body.Close(); readErr == nil {
					readErr = closeErr
				}
				if readErr != nil {
					t.Fatalf("reading the body: %v", readErr)
				}
			}
			got.delays = recorder.recorded()

			wantFail := tt.wantErr != nil || tt.wantErrText != "" || tt.wantStatus != 0
			switch {
			case wantFail && got.err == nil:
				t.Fatalf("Fetch succeeded, want an error")
			case !wantFail && got.err != nil:
				t.Fatalf("Fetch: %v", got.err)
			}
			if tt.wantErr != nil && !errors.Is(got.err, tt.wantErr) {
				t.Errorf("error %q does not match %q", got.err, tt.wantErr)
			}
			if got.err != nil && !strings.Contains(got.err.Error(), "fetch feed "+server.URL+"/feed.json") {
				t.Errorf("error %q does not name the source", got.err)
			}
			if tt.wantErrText != "" && !strings.Contains(got.err.Error(), tt.wantErrText) {
				t.Errorf("error %q does not contain %q", got.err, tt.wantErrText)
			}
			if tt.wantStatus != 0 {
				var statusErr *StatusError
				if !errors.As(got.err, &statusErr) || statusErr.StatusCode != tt.wantStatus {
					t.Errorf("error %q: want a *StatusError with %d", got.err, tt.wantStatus)
				}
			}
			if n := server.requests(); n != tt.wantRequests {
				t.Errorf("server saw %d requests, want %d", n, tt.wantRequests)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

// TestFetchBody covers what happens while the body streams: decoding, the
// byte cap on the decoded stream, and the idle timeout.
func TestFetchBody(t *testing.T) {
	fixture := readFixture(t)
	const maxBytes = 1 << 20
	var bomb bytes.Buffer // 8 MiB of zeros (8x the cap) in about 8 KiB
	zw := gzip.NewWriter(&bomb)
	zeros := make([]byte, 1<<20)
	for range 8 {
		zw.Write(zeros)
	}
	zw.Close()
	payload := bytes.Repeat([]byte("0123456789"), 30) // 300 bytes

	tests := []struct {
		name          string
		handler       http.HandlerFunc
		tweak         func(f *Fetcher)
		wantBody      []byte // the bytes read before EOF or the error
		wantErr       error  // from Body.Read; nil: read to EOF
		wantErrText   string
		wantLength    int64 // Feed.ContentLength
		wantBytesRead int64
	}{
		{
			name: "gzip-encoded body is decoded",
			handler: func(w http.ResponseWriter, r *http.Request) {
				if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
					t.Errorf("Accept-Encoding = %q", r.Header.Get("Accept-Encoding"))
				}
				w.Header().Set("Content-Encoding", "gzip")
				w.Write(gzipBytes(t, fixture))
			},
			wantBody:      fixture,
			wantLength:    -1,
			wantBytesRead: int64(len(fixture)),
		},
		{
			name: "gzip bomb is cut at MaxBytes of decoded data",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", "gzip")
				w.Write(bomb.Bytes())
			},
			tweak:         func(f *Fetcher) { f.MaxBytes = maxBytes },
			wantBody:      make([]byte, maxBytes),
			wantErr:       ErrFeedTooLarge,
			wantErrText:   "more than 1048576 bytes decoded",
			wantLength:    -1,
			wantBytesRead: maxBytes,
		},
		{
			name: "chunked body over the cap fails while reading, bytes capped",
			handler: func(w http.ResponseWriter, r *http.Request) {
				for i := 0; i < len(payload); i += 50 {
					w.Write(payload[i : i+50])
					http.NewResponseController(w).Flush()
				}
			},
			tweak:         func(f *Fetcher) { f.MaxBytes = 100 },
			wantBody:      payload[:100],
			wantErr:       ErrFeedTooLarge,
			wantErrText:   "read body after 100 bytes: feed too large: more than 100 bytes",
			wantLength:    -1,
			wantBytesRead: 100,
		},
		{
			name: "chunked body of exactly the cap is read whole",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Write(payload[:50])
				http.NewResponseController(w).Flush()
				w.Write(payload[50:100])
			},
			tweak:         func(f *Fetcher) { f.MaxBytes = 100 },
			wantBody:      payload[:100],
			wantLength:    -1,
			wantBytesRead: 100,
		},
		{
			name: "a body that stalls longer than IdleTimeout fails",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Write(payload[:10])
				http.NewResponseController(w).Flush()
				waitForClient(r)
			},
			tweak:         func(f *Fetcher) { f.IdleTimeout = 100 * time.Millisecond },
			wantBody:      payload[:10],
			wantErr:       os.ErrDeadlineExceeded,
			wantErrText:   "read body after 10 bytes: no body bytes for 100ms",
			wantLength:    -1,
			wantBytesRead: 10,
		},
		{
			name: "a steady drip slower in total than both timeouts succeeds",
			handler: func(w http.ResponseWriter, r *http.Request) {
				for i := 0; i < len(payload); i += 30 {
					w.Write(payload[i : i+30])
					http.NewResponseController(w).Flush()
					time.Sleep(40 * time.Millisecond)
				}
			},
			tweak: func(f *Fetcher) {
				f.HeaderTimeout = 300 * time.Millisecond
				f.IdleTimeout = 300 * time.Millisecond
			},
			wantBody:      payload,
			wantLength:    -1,
			wantBytesRead: int64(len(payload)),
		},
		{
			name: "a body cut short of its Content-Length fails",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "300")
				w.Write(payload[:120])
			},
			wantBody:      payload[:120],
			wantErr:       io.ErrUnexpectedEOF,
			wantLength:    300,
			wantBytesRead: 120,
		},
		{
			name: "corrupt gzip fails",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", "gzip")
				w.Write([]byte("this is not gzip at all"))
			},
			wantErr:     gzip.ErrHeader,
			wantLength:  -1,
			wantBody:    []byte{},
			wantErrText: "gzip: invalid header",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := newTestServer(t, func(w http.ResponseWriter, r *http.Request, n int) { tt.handler(w, r) })
			fetcher, _ := newTestFetcher()
			if tt.tweak != nil {
				tt.tweak(fetcher)
			}
			feed, err := fetcher.Fetch(t.Context(), server.URL+"/feed.json", Conditional{})
			if err != nil {
				t.Fatalf("Fetch: %v (want the failure, if any, from Body.Read)", err)
			}
			defer feed.Body.Close()
			if feed.ContentLength != tt.wantLength {
				t.Errorf("ContentLength = %d, want %d", feed.ContentLength, tt.wantLength)
			}
			body, err := io.ReadAll(feed.Body)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("reading: %v", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("reading: error %v, want %v", err, tt.wantErr)
			}
			if tt.wantErrText != "" && !strings.Contains(err.Error(), tt.wantErrText) {
				t.Errorf("error %q does not contain %q", err, tt.wantErrText)
			}
			if err != nil && !strings.Contains(err.Error(), "fetch feed "+server.URL+"/feed.json") {
				t.Errorf("error %q does not name the source", err)
			}
			if !bytes.Equal(body, tt.wantBody) {
				t.Errorf("read %d bytes, want %d", len(body), len(tt.wantBody))
			}
			if got := feed.BytesRead(); got != tt.wantBytesRead {
				t.Errorf("BytesRead = %d, want %d", got, tt.wantBytesRead)
			}
			if tt.wantErr != nil {
				if _, again := feed.Body.Read(make([]byte, 10)); again == nil || again == io.EOF {
					t.Errorf("a Read after the failure returned %v, want the failure again", again)
				}
			}
			if server.requests() != 1 {
				t.Errorf("server saw %d requests: a body failure must not be retried", server.requests())
			}
		})
	}
}

// The idle timeout measures the server, not the caller: pauses between Reads
// (a slow parser or broker) do not count.
func TestFetchIdleTimeoutIgnoresCallerPauses(t *testing.T) {
	fixture := readFixture(t)
	server := newTestServer(t, func(w http.ResponseWriter, r *http.Request, n int) { w.Write(fixture) })
	fetcher, _ := newTestFetcher()
	fetcher.IdleTimeout = 50 * time.Millisecond
	feed, err := fetcher.Fetch(t.Context(), server.URL, Conditional{})
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Body.Close()
	first := make([]byte, 1)
	if _, err := io.ReadFull(feed.Body, first); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	rest, err := io.ReadAll(feed.Body)
	if err != nil {
		t.Fatalf("after a pause between Reads: %v", err)
	}
	if got := append(first, rest...); !bytes.Equal(got, fixture) {
		t.Errorf("read %d bytes, want %d", len(got), len(fixture))
	}
}

// BytesRead is polled by a progress bar while the body is read (run with
// -race to check the claim).
func TestFetchBytesReadWhileReading(t *testing.T) {
	fixture := readFixture(t)
	server := newTestServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		for i := 0; i < len(fixture); i += 4096 {
			w.Write(fixture[i:min(i+4096, len(fixture))])
			http.NewResponseController(w).Flush()
		}
	})
	fetcher, _ := newTestFetcher()
	feed, err := fetcher.Fetch(t.Context(), server.URL, Conditional{})
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Body.Close()
	done := make(chan struct{})
	var last int64
	go func() {
		defer close(done)
		for last < int64(len(fixture)) {
			n := feed.BytesRead()
			if n < last {
				t.Errorf("BytesRead went back from %d to %d", last, n)
				return
			}
			last = n
			time.Sleep(time.Millisecond)
		}
	}()
	if _, err := io.Copy(io.Discard, feed.Body); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("BytesRead never reached the body length")
	}
}

// Cancelling the caller's context ends the back-off wait at once.
func TestFetchCancelDuringBackoff(t *testing.T) {
	server := newTestServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	fetcher := NewFetcher("Marquee/test", slog.New(slog.DiscardHandler))
	fetcher.MinBackoff = time.Minute // the real sleep: only cancellation ends it
	fetcher.MaxBackoff = time.Minute
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	started := time.Now()
	_, err := fetcher.Fetch(ctx, server.URL, Conditional{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if elapsed := time.Since(started); elapsed > 10*time.Second {
		t.Errorf("Fetch returned %s after cancellation", elapsed)
	}
	if !strings.Contains(err.Error(), "HTTP 503") {
		t.Errorf("error %q does not say what was being retried", err)
	}
}

// A refused connection is retried like any connection error, then reported.
func TestFetchConnectionRefused(t *testing.T) {
	server := httptest.NewServer(http.NotFoundHandler())
	source := server.URL + "/feed.json"
	server.Close() // nothing listens on the port any more
	fetcher, recorder := newTestFetcher()
	_, err := fetcher.Fetch(t.Context(), source, Conditional{})
	if err == nil {
		t.Fatal("Fetch succeeded against a closed port")
	}
	if !strings.Contains(err.Error(), "fetch feed "+source+": gave up after 5 attempts") {
		t.Errorf("error %q", err)
	}
	if delays := recorder.recorded(); len(delays) != 4 {
		t.Errorf("delays = %v, want 4 waits between 5 attempts", delays)
	}
}

// A caller-supplied client (here one that trusts the test CA) gets the
// fetcher's redirect policy: https is never downgraded to http.
func TestFetchHTTPSClient(t *testing.T) {
	fixture := readFixture(t)
	plain := newTestServer(t, func(w http.ResponseWriter, r *http.Request, n int) { w.Write(fixture) })
	tlsServer := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/downgrade" {
			http.Redirect(w, r, plain.URL+"/feed.json", http.StatusFound)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(gzipBytes(t, fixture))
	}))
	t.Cleanup(tlsServer.Close)

	tests := []struct {
		name    string
		path    string
		wantErr string
	}{
		{name: "https with gzip", path: "/feed.json"},
		{name: "redirect from https to http is refused", path: "/downgrade", wantErr: "https source redirected to http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fetcher, recorder := newTestFetcher()
			fetcher.Client = tlsServer.Client()
			feed, err := fetcher.Fetch(t.Context(), tlsServer.URL+tt.path, Conditional{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				if plain.requests() != 0 || len(recorder.recorded()) != 0 {
					t.Errorf("the refused redirect reached the http server or was retried")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer feed.Body.Close()
			body, err := io.ReadAll(feed.Body)
			if err != nil || !bytes.Equal(body, fixture) {
				t.Fatalf("read %d bytes, %v", len(body), err)
			}
		})
	}
}

// Credentials in the source never reach an error message or Feed.Source.
func TestFetchRedactsCredentials(t *testing.T) {
	server := newTestServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.URL.Query().Get("page") == "gone" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("{}"))
	})
	u, _ := url.Parse(server.URL)
	base := "http://feeduser:hunter2@" + u.Host + "/feed.json?sig=s3cr3t-signature&page="
	fetcher, _ := newTestFetcher()

	_, err := fetcher.Fetch(t.Context(), base+"gone", Conditional{})
	if !errors.Is(err, ErrFeedNotFound) {
		t.Fatalf("error %v, want ErrFeedNotFound", err)
	}
	feed, ferr := fetcher.Fetch(t.Context(), base+"ok", Conditional{})
	if ferr != nil {
		t.Fatal(ferr)
	}
	feed.Body.Close()
	for _, shown := range []string{err.Error(), feed.Source} {
		for _, secret := range []string{"hunter2", "feeduser", "s3cr3t"} {
			if strings.Contains(shown, secret) {
				t.Errorf("%q shows %q", shown, secret)
			}
		}
		if !strings.Contains(shown, "xxxxx@"+u.Host+"/feed.json?") || !strings.Contains(shown, "sig=xxxxx") {
			t.Errorf("%q does not name the source recognisably", shown)
		}
	}
}

// TestFetchLocal covers file:// URLs and plain paths.
func TestFetchLocal(t *testing.T) {
	fixture := readFixture(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "feed.json")
	if err := os.WriteFile(path, fixture, 0o644); err != nil {
		t.Fatal(err)
	}
	absFixture := samples.Head.Path(t)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	relFixture, err := filepath.Rel(wd, absFixture)
	if err != nil {
		t.Fatal(err)
	}
	fileURL := (&url.URL{Scheme: "file", Path: filepath.ToSlash(path)}).String()

	tests := []struct {
		name        string
		source      string
		tweak       func(f *Fetcher)
		wantErr     error
		wantErrText string
	}{
		{name: "file URL", source: fileURL},
		{name: "file URL with localhost", source: "file://localhost" + filepath.ToSlash(path)},
		{name: "absolute path", source: path},
		{name: "relative path", source: relFixture},
		{name: "absolute path of the fixture", source: absFixture},
		{name: "missing file", source: filepath.Join(dir, "missing.json"), wantErr: fs.ErrNotExist, wantErrText: "feed not found"},
		{name: "missing file URL", source: fileURL + ".missing", wantErr: ErrFeedNotFound},
		{name: "directory", source: dir, wantErrText: "is not a regular file"},
		{name: "file over the cap", source: path, tweak: func(f *Fetcher) { f.MaxBytes = 100 }, wantErr: ErrFeedTooLarge},
		{name: "file URL naming another host", source: "file://fileserver/feed.json", wantErrText: `names host "fileserver"`},
		{name: "unsupported scheme", source: "ftp://example.com/feed.json", wantErrText: `unsupported scheme "ftp"`},
		{name: "empty source", source: "", wantErrText: "no source given"},
		{name: "http URL without host", source: "http:///feed.json", wantErrText: "URL has no host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fetcher, _ := newTestFetcher()
			if tt.tweak != nil {
				tt.tweak(fetcher)
			}
			feed, err := fetcher.Fetch(t.Context(), tt.source, Conditional{})
			if tt.wantErr != nil || tt.wantErrText != "" {
				if err == nil {
					feed.Body.Close()
					t.Fatal("Fetch succeeded, want an error")
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("error %q does not match %q", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErrText) || !strings.HasPrefix(err.Error(), "fetch feed") {
					t.Errorf("error %q, want it to contain %q", err, tt.wantErrText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer feed.Body.Close()
			body, err := io.ReadAll(feed.Body)
			if err != nil || !bytes.Equal(body, fixture) {
				t.Fatalf("read %d bytes (%v), want the fixture's %d", len(body), err, len(fixture))
			}
			if feed.NotModified || feed.StatusCode != 0 || feed.ETag == "" || feed.LastModified == "" {
				t.Errorf("feed = %+v: want a local result with pseudo validators", feed)
			}
			if feed.ContentLength != int64(len(fixture)) || feed.BytesRead() != int64(len(fixture)) {
				t.Errorf("ContentLength %d, BytesRead %d, want %d", feed.ContentLength, feed.BytesRead(), len(fixture))
			}
			if feed.Source != tt.source {
				t.Errorf("Source = %q, want %q", feed.Source, tt.source)
			}
		})
	}
}

// An unchanged local file is not_modified on the next run, as an unchanged
// URL is; a changed one is read again.
func TestFetchLocalNotModified(t *testing.T) {
	fixture := readFixture(t)
	path := filepath.Join(t.TempDir(), "feed.json")
	if err := os.WriteFile(path, fixture, 0o644); err != nil {
		t.Fatal(err)
	}
	fetcher, _ := newTestFetcher()
	fetch := func(cond Conditional) (*Feed, []byte) {
		t.Helper()
		feed, err := fetcher.Fetch(t.Context(), path, cond)
		if err != nil {
			t.Fatal(err)
		}
		defer feed.Body.Close()
		body, err := io.ReadAll(feed.Body)
		if err != nil {
			t.Fatal(err)
		}
		return feed, body
	}

	first, _ := fetch(Conditional{})
	cond := Conditional{ETag: first.ETag, LastModified: first.LastModified}
	second, body := fetch(cond)
	if !second.NotModified || len(body) != 0 || second.ETag != first.ETag {
		t.Fatalf("unchanged file: NotModified %v, %d bytes, ETag %q; want true, 0, %q", second.NotModified, len(body), second.ETag, first.ETag)
	}

	changed := append(bytes.Clone(fixture), '\n')
	if err := os.WriteFile(path, changed, 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	third, body := fetch(cond)
	if third.NotModified || !bytes.Equal(body, changed) || third.ETag == first.ETag {
		t.Errorf("changed file: NotModified %v, %d bytes, ETag %q (was %q)", third.NotModified, len(body), third.ETag, first.ETag)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2023, 10, 29, 4, 15, 3, 0, time.UTC)
	tests := []struct {
		name  string
		value string
		want  time.Duration
		ok    bool
	}{
		{"absent", "", 0, false},
		{"seconds", "120", 2 * time.Minute, true},
		{"zero seconds", "0", 0, true},
		{"spaces", " 7 ", 7 * time.Second, true},
		{"negative", "-5", 0, false},
		{"huge seconds are clamped, not overflowed", "99999999999999999", 365 * 24 * time.Hour, true},
		{"HTTP date", "Sun, 29 Oct 2023 04:15:33 GMT", 30 * time.Second, true},
		{"HTTP date in the past", "Sun, 29 Oct 2023 04:00:00 GMT", 0, true},
		{"RFC 850 date", "Sunday, 29-Oct-23 04:16:03 GMT", time.Minute, true},
		{"garbage", "soon", 0, false},
		{"fraction", "1.5", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseRetryAfter(tt.value, now)
			if got != tt.want || ok != tt.ok {
				t.Errorf("parseRetryAfter(%q) = %s, %v; want %s, %v", tt.value, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestFetchBackoffBounds(t *testing.T) {
	tests := []struct {
		name        string
		fetcher     *Fetcher
		wantCeiling []time.Duration // per attempt, from 1
	}{
		{
			name:        "defaults: 1s doubling to 60s",
			fetcher:     &Fetcher{},
			wantCeiling: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute},
		},
		{
			name:        "huge attempt numbers stay at MaxBackoff",
			fetcher:     &Fetcher{MinBackoff: time.Second, MaxBackoff: time.Minute},
			wantCeiling: append(make([]time.Duration, 99), time.Minute), // only attempt 100 is checked
		},
		{
			name:        "MaxBackoff below MinBackoff waits MinBackoff at most",
			fetcher:     &Fetcher{MinBackoff: 2 * time.Second, MaxBackoff: time.Second},
			wantCeiling: []time.Duration{2 * time.Second, 2 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, ceiling := range tt.wantCeiling {
				if ceiling == 0 {
					continue
				}
				attempt := i + 1
				var longest time.Duration
				for range 2000 {
					d := tt.fetcher.withDefaults().backoff(attempt)
					if d < 0 || d > ceiling {
						t.Fatalf("attempt %d: back-off %s outside [0, %s]", attempt, d, ceiling)
					}
					longest = max(longest, d)
				}
				if longest < ceiling/2 { // full jitter spreads over the whole range
					t.Errorf("attempt %d: longest of 2000 back-offs %s, want near %s", attempt, longest, ceiling)
				}
			}
		})
	}
}

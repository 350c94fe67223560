package ingest

import (
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Sentinel errors of Fetch and of Feed.Body.Read, checked with errors.Is.
var (
	// ErrFeedTooLarge: the body is longer than Fetcher.MaxBytes, either by its
	// Content-Length or file size (Fetch fails before reading) or while it
	// streams (Body.Read fails once MaxBytes bytes have been returned).
	ErrFeedTooLarge = errors.New("feed too large")
	// ErrFeedNotFound: the server answered 404 or 410, or the local file does
	// not exist. It is never retried.
	ErrFeedNotFound = errors.New("feed not found")
)

// Defaults of the Fetcher fields; the field comments say why each value.
const (
	DefaultFeedMaxBytes      int64 = 512 << 20
	DefaultFeedMaxAttempts         = 5
	DefaultFeedMinBackoff          = 1 * time.Second
	DefaultFeedMaxBackoff          = 60 * time.Second
	DefaultFeedHeaderTimeout       = 30 * time.Second
	DefaultFeedIdleTimeout         = 60 * time.Second
	DefaultFeedMaxRedirects        = 5
)

// Fetcher opens the feed document for one run: an http(s) URL with a
// conditional GET, retries and caps, or a local file (a file:// URL or a
// plain path). A zero or negative field means its default, so a zero Fetcher
// is usable and still bounded; NewFetcher spells the defaults out. Fetch
// only reads the fields: a Fetcher may be used by several goroutines once
// they are set.
//
// The source is operator configuration (MARQUEE_FEED_URL, --feed), never a
// caller-supplied URL, so loopback and private addresses are allowed on
// purpose: local test servers and mirrors are legitimate sources.
type Fetcher struct {
	// Client sends the requests. Nil means a client built on a clone of
	// http.DefaultTransport (proxy from the environment, 30 s dial, 10 s TLS
	// handshake). Its Timeout should be zero: the body is a stream that may
	// take minutes, and HeaderTimeout / IdleTimeout bound it instead. When its
	// CheckRedirect is nil, the fetcher's redirect policy (MaxRedirects, no
	// https-to-http downgrade) is used.
	Client *http.Client
	// MaxBytes caps the feed body (MARQUEE_FEED_MAX_BYTES), both the decoded
	// bytes and the bytes on the wire. Default 512 MiB: the real feed is about
	// 21 MB, so this leaves room for twenty-fold growth while stopping a
	// runaway or hostile body (a gzip bomb) long before it exhausts memory,
	// disk or the broker.
	MaxBytes int64
	// MaxAttempts is how many requests one Fetch makes at most. Default 5,
	// the same as image fetches: with the back-off below, a few minutes of
	// patience for a CDN hiccup, and still a bounded run.
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the exponential back-off with full
	// jitter between attempts: before attempt n+1 the fetcher waits a random
	// time in [0, min(MaxBackoff, MinBackoff*2^(n-1))]. Defaults 1 s and 60 s,
	// as for images: the first retry is quick, and no wait is long enough to
	// matter for a daily run. A Retry-After of at most MaxBackoff replaces the
	// random wait; a longer one ends the retries at once (the server asked us
	// to stay away longer than this run is willing to wait, so more requests
	// now would only be refused again; the next scheduled run tries again).
	MinBackoff, MaxBackoff time.Duration
	// HeaderTimeout bounds each attempt from sending the request to receiving
	// the response headers (dial, TLS and redirects included). Default 30 s,
	// the per-request bound of image fetches: a CDN that has not started
	// answering by then is better retried.
	HeaderTimeout time.Duration
	// IdleTimeout bounds how long one Body.Read may wait for the next bytes.
	// The body is a stream that may legitimately take minutes (a slow link, a
	// 500 MB feed), so the fetcher caps the gap between bytes, not the total;
	// time the caller spends between Reads does not count. Default 60 s: far
	// above any healthy pause, short enough that a stalled connection fails
	// the run within a minute instead of hanging it.
	IdleTimeout time.Duration
	// MaxRedirects is how many redirects one request follows. Default 5: a
	// CDN or storage front needs one or two; more is a loop or a misconfig.
	MaxRedirects int
	// UserAgent is sent with every request: "Marquee/<version>" (docs/images.md).
	// Empty means "Marquee/dev".
	UserAgent string
	// Logger receives a warning for every retried attempt. Nil means
	// slog.Default().
	Logger *slog.Logger

	// sleep waits between attempts; tests replace it to record the delays
	// without waiting. Nil means a timer that returns early when ctx ends.
	sleep func(ctx context.Context, d time.Duration) error
}

// withDefaults returns what one Fetch uses: a copy of f with the default of
// every zero or negative field, and a client that follows the fetcher's
// redirect policy unless the Client given has a policy of its own (the copy
// of the client shares its transport).
func (f *Fetcher) withDefaults() *Fetcher {
	c := *f
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultFeedMaxBytes
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultFeedMaxAttempts
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = DefaultFeedMinBackoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultFeedMaxBackoff
	}
	if c.HeaderTimeout <= 0 {
		c.HeaderTimeout = DefaultFeedHeaderTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultFeedIdleTimeout
	}
	if c.MaxRedirects <= 0 {
		c.MaxRedirects = DefaultFeedMaxRedirects
	}
	if c.UserAgent == "" {
		c.UserAgent = "Marquee/dev"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.sleep == nil {
		c.sleep = sleepContext
	}
	base := c.Client
	if base == nil {
		base = defaultFeedClient()
	}
	client := *base
	if client.CheckRedirect == nil {
		client.CheckRedirect = c.checkRedirect
	}
	c.Client = &client
	return &c
}

// NewFetcher returns a Fetcher with every default set and its own HTTP client.
// userAgent is "Marquee/<version>"; logger may be nil (slog.Default()).
// Adjust fields (MaxBytes from MARQUEE_FEED_MAX_BYTES) before the first Fetch.
func NewFetcher(userAgent string, logger *slog.Logger) *Fetcher {
	f := &Fetcher{
		MaxBytes:      DefaultFeedMaxBytes,
		MaxAttempts:   DefaultFeedMaxAttempts,
		MinBackoff:    DefaultFeedMinBackoff,
		MaxBackoff:    DefaultFeedMaxBackoff,
		HeaderTimeout: DefaultFeedHeaderTimeout,
		IdleTimeout:   DefaultFeedIdleTimeout,
		MaxRedirects:  DefaultFeedMaxRedirects,
		UserAgent:     userAgent,
		Logger:        logger,
	}
	f.Client = &http.Client{Transport: newFeedTransport()}
	return f
}

// Conditional holds the validators of the last completed run, sent as
// If-None-Match and If-Modified-Since. Empty fields are not sent.
type Conditional struct {
	ETag, LastModified string
}

// Feed is the opened feed document of one Fetch.
//
// The caller owns Body and must Close it, also when NotModified (then Body is
// empty). Body.Read fails (no resume, the run fails) when the body stalls for
// longer than IdleTimeout, the connection breaks, gzip data is corrupt, or the
// body passes MaxBytes (an error wrapping ErrFeedTooLarge); it returns io.EOF
// only at the true end. Close may be called from another goroutine to abort a
// Read in progress.
type Feed struct {
	Body io.ReadCloser
	// Source is the source as given, with credentials (user info, secret
	// query parameters) replaced by "xxxxx": safe to log and to record.
	Source string
	// StatusCode is the final HTTP status (200 or 304), 0 for a local file.
	StatusCode int
	// ETag and LastModified are the validators to keep for the next run's
	// Conditional. A 304 that carries none keeps the ones sent.
	// A local file has pseudo validators: ETag W/"file-<size>-<mtime ns>"
	// and its mtime as an HTTP date; a second Fetch with that ETag is
	// NotModified while the file keeps its size and modification time (only
	// the ETag is compared: the date alone has one-second resolution).
	ETag, LastModified string
	// NotModified: the source matches the Conditional; Body is empty.
	NotModified bool
	// ContentLength is the length of the decoded body when known (the
	// Content-Length of an unencoded response, a file's size), else -1.
	ContentLength int64

	bytesRead *atomic.Int64
}

// BytesRead is the number of decoded body bytes returned by Body.Read so far.
// It is safe to call from any goroutine (a progress bar) while Body is read.
func (f *Feed) BytesRead() int64 {
	if f.bytesRead == nil {
		return 0
	}
	return f.bytesRead.Load()
}

// StatusError is a response status that Fetch does not accept. errors.As
// gives the status to record; 404 and 410 also match ErrFeedNotFound.
type StatusError struct {
	StatusCode int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
}

// Is makes errors.Is(err, ErrFeedNotFound) true for 404 and 410.
func (e *StatusError) Is(target error) bool {
	return target == ErrFeedNotFound &&
		(e.StatusCode == http.StatusNotFound || e.StatusCode == http.StatusGone)
}

// Fetch opens source: an http:// or https:// URL, a file:// URL, or a plain
// path to a local file. With cond from the last completed run, an unchanged
// source costs one conditional request (or one stat) and yields a Feed with
// NotModified set. Failures before the body (connection errors, timeouts,
// 408, 429, 5xx) are retried with back-off up to MaxAttempts; other statuses
// fail at once. Errors name the source without credentials and, for a status,
// wrap a *StatusError.
func (f *Fetcher) Fetch(ctx context.Context, source string, cond Conditional) (*Feed, error) {
	return f.withDefaults().fetch(ctx, source, cond)
}

// fetch is Fetch on a Fetcher with its defaults set.
func (f *Fetcher) fetch(ctx context.Context, source string, cond Conditional) (*Feed, error) {
	display := redactSource(source)
	if source == "" {
		return nil, errors.New("fetch feed: no source given")
	}
	if !strings.Contains(source, "://") {
		feed, err := f.openFile(source, display, cond)
		if err != nil {
			return nil, fmt.Errorf("fetch feed %s: %w", display, err)
		}
		return feed, nil
	}
	u, err := url.Parse(source)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err // url.Error repeats the URL, credentials and all
		}
		return nil, fmt.Errorf("fetch feed %s: invalid URL: %w", display, err)
	}
	var feed *Feed
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		if u.Host == "" {
			return nil, fmt.Errorf("fetch feed %s: URL has no host", display)
		}
		feed, err = f.fetchHTTP(ctx, u, display, cond)
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("fetch feed %s: file URL names host %q; only local files are supported", display, u.Host)
		}
		feed, err = f.openFile(u.Path, display, cond)
	default:
		return nil, fmt.Errorf("fetch feed %s: unsupported scheme %q (want http, https, file or a path)", display, u.Scheme)
	}
	if err != nil {
		return nil, fmt.Errorf("fetch feed %s: %w", display, err)
	}
	return feed, nil
}

// fetchHTTP runs the attempts of one HTTP fetch. Its errors are not yet
// prefixed with the source.
func (f *Fetcher) fetchHTTP(ctx context.Context, u *url.URL, display string, cond Conditional) (*Feed, error) {
	for attempt := 1; ; attempt++ {
		feed, retryAfter, err := f.tryHTTP(ctx, u, display, cond)
		if err == nil {
			return feed, nil
		}
		if ctx.Err() != nil {
			return nil, err // the caller gave up; err wraps the context's error
		}
		if retryAfter == noRetry {
			return nil, err
		}
		if attempt >= f.MaxAttempts {
			return nil, fmt.Errorf("gave up after %d attempts: %w", attempt, err)
		}
		delay := f.backoff(attempt)
		if retryAfter > 0 {
			if retryAfter > f.MaxBackoff {
				return nil, fmt.Errorf("server asked to retry after %s, longer than the %s back-off cap: %w", retryAfter, f.MaxBackoff, err)
			}
			delay = retryAfter
		}
		f.Logger.LogAttrs(ctx, slog.LevelWarn, "feed fetch failed, retrying",
			slog.String("source", display), slog.Int("attempt", attempt), slog.Int("max_attempts", f.MaxAttempts),
			slog.Duration("delay", delay), slog.String("error", err.Error()))
		if serr := f.sleep(ctx, delay); serr != nil {
			return nil, fmt.Errorf("%w (while waiting to retry after: %w)", serr, err)
		}
	}
}

// noRetry is the retryAfter of an attempt whose error is final.
const noRetry time.Duration = -1

// tryHTTP makes one attempt. retryAfter is noRetry when err is final; 0 means
// retry after the back-off; > 0 means retry after that long (Retry-After).
func (f *Fetcher) tryHTTP(ctx context.Context, u *url.URL, display string, cond Conditional) (feed *Feed, retryAfter time.Duration, err error) {
	// The attempt's context lives on in the body of a 200, which streams
	// after tryHTTP returns; every other way out of the attempt ends it.
	attemptCtx, cancel := context.WithCancelCause(ctx)
	defer func() {
		if err != nil {
			cancel(nil)
		}
	}()
	req, err := f.newRequest(attemptCtx, u, cond)
	if err != nil {
		return nil, noRetry, err
	}
	resp, retryAfter, err := f.awaitHeaders(ctx, req, cancel)
	if err != nil {
		return nil, retryAfter, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return f.streamBody(ctx, attemptCtx, cancel, resp, display)
	case http.StatusNotModified:
		resp.Body.Close()
		notModified, condErr := notModifiedFeed(resp, display, cond)
		if condErr != nil {
			return nil, noRetry, condErr
		}
		cancel(nil) // nothing left to read
		return notModified, 0, nil
	default:
		resp.Body.Close()
		return nil, retryAfterStatus(resp), &StatusError{StatusCode: resp.StatusCode}
	}
}

// newRequest is the GET of one attempt at u, within ctx, conditional on cond.
func (f *Fetcher) newRequest(ctx context.Context, u *url.URL, cond Conditional) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("User-Agent", f.UserAgent)
	req.Header.Set("Accept", "application/json")
	// Asked for explicitly, so the transport leaves the body encoded and
	// feedBody decodes it, with the cap on both the wire and decoded bytes,
	// whatever Client the caller supplied.
	req.Header.Set("Accept-Encoding", "gzip")
	if cond.ETag != "" {
		req.Header.Set("If-None-Match", cond.ETag)
	}
	if cond.LastModified != "" {
		req.Header.Set("If-Modified-Since", cond.LastModified)
	}
	return req, nil
}

// awaitHeaders sends req and waits for the response headers for at most
// HeaderTimeout, which cancels the attempt (cancel is that of req's context)
// only until they arrive: the body then streams under the idle timeout.
// retryAfter is as tryHTTP's.
func (f *Fetcher) awaitHeaders(ctx context.Context, req *http.Request, cancel context.CancelCauseFunc) (resp *http.Response, retryAfter time.Duration, err error) {
	errHeaderTimeout := fmt.Errorf("no response headers within %s: %w", f.HeaderTimeout, os.ErrDeadlineExceeded)
	headerTimer := time.AfterFunc(f.HeaderTimeout, func() { cancel(errHeaderTimeout) })
	resp, err = f.Client.Do(req)
	headerTimerStopped := headerTimer.Stop()
	if err != nil {
		if cause := context.Cause(req.Context()); cause == errHeaderTimeout {
			return nil, 0, cause
		}
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err // url.Error repeats the URL with its query
		}
		if ctx.Err() != nil || errors.Is(err, errRedirectPolicy) || isCertificateError(err) {
			return nil, noRetry, err
		}
		return nil, 0, err
	}
	if !headerTimerStopped { // fired while Do was returning: the body is cut
		resp.Body.Close()
		return nil, 0, errHeaderTimeout
	}
	return resp, 0, nil
}

// notModifiedFeed is the Feed of a 304 answer to a request conditional on
// cond: no body, and the validators the response carries, else those sent.
func notModifiedFeed(resp *http.Response, display string, cond Conditional) (*Feed, error) {
	if cond.ETag == "" && cond.LastModified == "" {
		return nil, errors.New("HTTP 304 Not Modified to an unconditional request")
	}
	feed := &Feed{
		Body: http.NoBody, Source: display, StatusCode: resp.StatusCode, NotModified: true,
		ETag: cond.ETag, LastModified: cond.LastModified, ContentLength: 0,
	}
	if v := resp.Header.Get("ETag"); v != "" {
		feed.ETag = v
	}
	if v := resp.Header.Get("Last-Modified"); v != "" {
		feed.LastModified = v
	}
	return feed, nil
}

// retryAfterStatus is the retryAfter (as tryHTTP's) of a response status
// Fetch does not accept: a server error, 408 and 429 are retried, after the
// Retry-After they ask for if any; every other status is final.
func retryAfterStatus(resp *http.Response) time.Duration {
	switch code := resp.StatusCode; {
	case code >= 500, code == http.StatusRequestTimeout, code == http.StatusTooManyRequests:
		retryAfter, _ := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		return retryAfter
	}
	return noRetry
}

// streamBody returns the Feed of a 200 response, whose body streams, decoded
// and capped, within the attempt's context (attemptCtx, ended by cancel),
// under the idle timeout. A Content-Length over MaxBytes or an encoding that
// was not offered is final.
func (f *Fetcher) streamBody(ctx, attemptCtx context.Context, cancel context.CancelCauseFunc, resp *http.Response, display string) (*Feed, time.Duration, error) {
	if resp.ContentLength > f.MaxBytes {
		resp.Body.Close()
		return nil, noRetry, fmt.Errorf("%w: Content-Length %d exceeds the cap of %d bytes", ErrFeedTooLarge, resp.ContentLength, f.MaxBytes)
	}
	gzipped, err := gzipEncoded(resp.Header)
	if err != nil {
		resp.Body.Close()
		return nil, noRetry, err
	}
	body := &feedBody{
		source:   display,
		wire:     resp.Body,
		gzipped:  gzipped,
		maxBytes: f.MaxBytes,
		ctx:      attemptCtx,
		cancel:   cancel,
		idle:     f.IdleTimeout,
		idleErr:  fmt.Errorf("no body bytes for %s: %w", f.IdleTimeout, os.ErrDeadlineExceeded),
	}
	body.idleTimer = time.AfterFunc(time.Hour, func() { cancel(body.idleErr) })
	body.idleTimer.Stop() // armed only inside Read
	contentLength := resp.ContentLength
	if gzipped || contentLength < 0 {
		contentLength = -1
	}
	f.Logger.LogAttrs(ctx, slog.LevelDebug, "feed response",
		slog.String("source", display), slog.Int("status", resp.StatusCode),
		slog.Int64("content_length", resp.ContentLength), slog.Bool("gzip", gzipped))
	return &Feed{
		Body:          body,
		Source:        display,
		StatusCode:    resp.StatusCode,
		ETag:          resp.Header.Get("ETag"),
		LastModified:  resp.Header.Get("Last-Modified"),
		ContentLength: contentLength,
		bytesRead:     &body.read,
	}, 0, nil
}

// gzipEncoded reports whether a response's Content-Encoding is gzip. Any
// encoding but gzip and identity is an error: only gzip was offered.
func gzipEncoded(header http.Header) (bool, error) {
	switch enc := strings.ToLower(strings.TrimSpace(header.Get("Content-Encoding"))); enc {
	case "", "identity":
		return false, nil
	case "gzip", "x-gzip":
		return true, nil
	default:
		return false, fmt.Errorf("unsupported Content-Encoding %q (only gzip was offered)", enc)
	}
}

// openFile opens a local feed file. Its validators are derived from the
// file's size and modification time (see Feed.ETag): a file rewritten with
// the same size within the same nanosecond of mtime would be missed, which
// no real writer does. There are no retries: local errors are not transient.
func (f *Fetcher) openFile(path, display string, cond Conditional) (*Feed, error) {
	file, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %w", ErrFeedNotFound, err)
		}
		return nil, err
	}
	info, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, err
	}
	if !info.Mode().IsRegular() {
		file.Close()
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	etag := fmt.Sprintf(`W/"file-%d-%d"`, info.Size(), info.ModTime().UnixNano())
	lastModified := info.ModTime().UTC().Format(http.TimeFormat)
	if cond.ETag == etag {
		file.Close()
		return &Feed{Body: http.NoBody, Source: display, ETag: etag, LastModified: lastModified, NotModified: true}, nil
	}
	if info.Size() > f.MaxBytes {
		file.Close()
		return nil, fmt.Errorf("%w: the file has %d bytes, over the cap of %d", ErrFeedTooLarge, info.Size(), f.MaxBytes)
	}
	body := &feedBody{source: display, wire: file, maxBytes: f.MaxBytes}
	return &Feed{
		Body:          body,
		Source:        display,
		ETag:          etag,
		LastModified:  lastModified,
		ContentLength: info.Size(),
		bytesRead:     &body.read,
	}, nil
}

// feedBody is Feed.Body: it decodes gzip, caps the wire and decoded bytes,
// counts what it returns, and (for HTTP) arms the idle timeout during each
// Read. Read is for one goroutine; read and Close are safe from any.
type feedBody struct {
	source   string        // redacted, for errors
	wire     io.ReadCloser // the response body or the file
	gzipped  bool
	maxBytes int64

	// HTTP only: the attempt's context, cancelled by the idle timer with
	// idleErr as its cause, and by Close.
	ctx       context.Context
	cancel    context.CancelCauseFunc
	idle      time.Duration
	idleErr   error
	idleTimer *time.Timer

	decoded   io.Reader // the capped (and gunzipped) wire, set by the first Read
	err       error     // sticky: once failed or at EOF, always
	read      atomic.Int64
	closeOnce sync.Once
}

func (b *feedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if b.idleTimer != nil {
		b.idleTimer.Reset(b.idle)
	}
	n, err := b.readDecoded(p)
	if b.idleTimer != nil {
		b.idleTimer.Stop()
	}
	b.read.Add(int64(n))
	if err == nil {
		return n, nil
	}
	if err == io.EOF {
		b.err = io.EOF
		return n, io.EOF
	}
	if b.ctx != nil {
		// A cancelled request surfaces as a bland "context canceled" or
		// "use of closed connection"; the cause says what happened.
		if cause := context.Cause(b.ctx); cause != nil {
			err = cause
		}
	}
	b.err = fmt.Errorf("fetch feed %s: read body after %d bytes: %w", b.source, b.read.Load(), err)
	return n, b.err
}

func (b *feedBody) readDecoded(p []byte) (int, error) {
	if b.decoded == nil {
		wire := &capReader{r: b.wire, max: b.maxBytes, what: "on the wire"}
		if !b.gzipped {
			wire.what = ""
			b.decoded = wire
		} else {
			zr, err := gzip.NewReader(wire)
			if err != nil {
				return 0, err // io.EOF for an empty body
			}
			b.decoded = &capReader{r: zr, max: b.maxBytes, what: "decoded"}
		}
	}
	return b.decoded.Read(p)
}

// Close releases the connection or file, also before the body was read to
// the end. It is safe to call more than once and concurrently with Read,
// which it aborts.
func (b *feedBody) Close() error {
	var err error
	b.closeOnce.Do(func() {
		if b.idleTimer != nil {
			b.idleTimer.Stop()
		}
		if b.cancel != nil {
			b.cancel(nil)
		}
		err = b.wire.Close()
	})
	return err
}

// capReader returns at most max bytes of r; asked for more, it fails with
// ErrFeedTooLarge if r has more, io.EOF if not.
type capReader struct {
	r    io.Reader
	max  int64
	n    int64
	what string // which bytes are capped, for the message
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.n >= c.max {
		var probe [1]byte
		for {
			k, err := c.r.Read(probe[:])
			if k > 0 {
				what := ""
				if c.what != "" {
					what = " " + c.what
				}
				return 0, fmt.Errorf("%w: more than %d bytes%s", ErrFeedTooLarge, c.max, what)
			}
			if err != nil {
				return 0, err
			}
		}
	}
	if remaining := c.max - c.n; int64(len(p)) > remaining {
		p = p[:remaining]
	}
	k, err := c.r.Read(p)
	c.n += int64(k)
	return k, err
}

// errRedirectPolicy marks a redirect the fetcher refuses; it is not retried.
var errRedirectPolicy = errors.New("redirect refused")

// checkRedirect is the fetcher's redirect policy, for a Fetcher with its
// defaults set.
func (f *Fetcher) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > f.MaxRedirects {
		return fmt.Errorf("%w: stopped after %d redirects", errRedirectPolicy, f.MaxRedirects)
	}
	// The feed's content becomes published data: an https source must not be
	// handed to a plain-text hop that anyone on the path could rewrite.
	if prev := via[len(via)-1]; prev.URL.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("%w: https source redirected to %s", errRedirectPolicy, req.URL.Scheme)
	}
	return nil
}

// defaultFeedClient serves Fetchers built without NewFetcher, sharing one
// connection pool.
var defaultFeedClient = sync.OnceValue(func() *http.Client {
	return &http.Client{Transport: newFeedTransport()}
})

func newFeedTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	// A feed run makes one request a day; keeping idle connections would
	// only hold sockets.
	t.MaxIdleConnsPerHost = 1
	t.IdleConnTimeout = 30 * time.Second
	return t
}

// backoff is the full-jitter wait after the given failed attempt (1-based):
// uniform in [0, min(max(MaxBackoff, MinBackoff), MinBackoff*2^(attempt-1))],
// for a Fetcher with its defaults set.
func (f *Fetcher) backoff(attempt int) time.Duration {
	minBackoff := f.MinBackoff
	maxBackoff := max(f.MaxBackoff, minBackoff)
	ceiling := maxBackoff
	if shift := attempt - 1; shift < 62 {
		if c := minBackoff << shift; c > 0 && c < maxBackoff && c>>shift == minBackoff {
			ceiling = c
		}
	}
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date,
// relative to now. A date in the past gives 0; absent or malformed gives
// false.
func parseRetryAfter(value string, now time.Time) (time.Duration, bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}
	if seconds, err := strconv.ParseInt(value, 10, 64); err == nil {
		if seconds < 0 {
			return 0, false
		}
		if seconds > int64(365*24*time.Hour/time.Second) { // would overflow; any cap catches it
			seconds = int64(365 * 24 * time.Hour / time.Second)
		}
		return time.Duration(seconds) * time.Second, true
	}
	when, err := http.ParseTime(value)
	if err != nil {
		return 0, false
	}
	return max(when.Sub(now), 0), true
}

func sleepContext(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-timer.C:
		return nil
	}
}

func isCertificateError(err error) bool {
	var verifyErr *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &verifyErr) || errors.As(err, &unknownAuthority) ||
		errors.As(err, &hostname) || errors.As(err, &invalid)
}

// secretQueryKeys are query parameter names (lower-case substrings) whose
// values are credentials, such as an Azure SAS "sig" or an "access_token".
var secretQueryKeys = []string{"sig", "token", "key", "secret", "pass", "auth", "credential"}

// redactSource is source fit for logs, errors and the feed_runs table: user
// info and secret-looking query values become "xxxxx".
func redactSource(source string) string {
	scheme, _, isURL := strings.Cut(source, "://")
	if !isURL {
		return source
	}
	u, err := url.Parse(source)
	if err != nil {
		return scheme + "://(unparseable URL)"
	}
	if u.User != nil {
		u.User = url.User("xxxxx")
	}
	if u.RawQuery != "" {
		query := u.Query()
		redacted := false
		for key, values := range query {
			lower := strings.ToLower(key)
			for _, secret := range secretQueryKeys {
				if strings.Contains(lower, secret) {
					for i := range values {
						values[i] = "xxxxx"
					}
					redacted = true
					break
				}
			}
		}
		if redacted {
			u.RawQuery = query.Encode()
		}
	}
	return u.String()
}

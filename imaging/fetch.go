package imaging

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Failure reasons: the label of marquee_imaging_failures_total and the class
// of a FetchError. docs/images.md lists which are retried.
const (
	// Failed at the first attempt.
	ReasonNotFound         = "not_found"          // 404, 410
	ReasonClientError      = "client_error"       // other 4xx but 408 and 429
	ReasonUnexpectedStatus = "unexpected_status"  // 1xx, 2xx but 200, 3xx that is no redirect
	ReasonTooLarge         = "too_large"          // over MaxBytes
	ReasonUnsupportedType  = "unsupported_type"   // not JPEG, PNG, GIF or WebP by its bytes
	ReasonBadImage         = "bad_image"          // a malformed or truncated header
	ReasonTooManyPixels    = "too_many_pixels"    // over MaxPixels
	ReasonForbiddenAddress = "forbidden_address"  // a private, loopback, ... address
	ReasonTooManyRedirects = "too_many_redirects" // over MaxRedirects
	ReasonInvalidURL       = "invalid_url"        // not an http(s) URL, also as a redirect target
	ReasonTLS              = "tls"                // a certificate that does not verify
	// Retried with back-off.
	ReasonServerError = "server_error" // 5xx, 408
	ReasonRateLimited = "rate_limited" // 429
	ReasonTimeout     = "timeout"      // no complete answer within AttemptTimeout
	ReasonConnection  = "connection"   // DNS, refused, reset, truncated body
)

// FetchError is why fetching an image failed: its reason, whether another
// attempt may succeed, and the cause, whose text is what the image's error
// says on marquee.images.
type FetchError struct {
	Reason    string
	Retryable bool
	// RetryAfter is what a 429 or 5xx answer's Retry-After asked for.
	RetryAfter time.Duration
	Err        error
}

func (e *FetchError) Error() string { return e.Err.Error() }
func (e *FetchError) Unwrap() error { return e.Err }

func fail(reason string, format string, args ...any) *FetchError {
	return &FetchError{Reason: reason, Err: fmt.Errorf(format, args...)}
}

func retry(reason string, err error) *FetchError {
	return &FetchError{Reason: reason, Retryable: true, Err: err}
}

var (
	errTooManyRedirects = errors.New("too many redirects")
	errRedirectScheme   = errors.New("redirect to a URL that is not http or https")
	// errStopped: the compactor is stopping; the fetch was given up, to be
	// done by whoever handles the request next.
	errStopped = errors.New("imaging: stopping")
)

// download is a fetched image that passed every check, in memory or a
// temporary file: store it with commit, or discard it.
type download struct {
	file          *pendingFile
	contentType   string
	bytes         int64
	width, height int
}

// fetcher downloads images: one GET per attempt through the guarded dialer,
// retried as docs/images.md says, validated, and kept in memory or
// temporary files.
type fetcher struct {
	client      *http.Client
	dialer      *guardedDialer // the client's
	tempDir     string
	memory      *memoryBudget
	userAgent   string
	timeout     time.Duration
	maxBytes    int64
	maxPixels   int64
	maxAttempts int
	backoffBase time.Duration
	backoffMax  time.Duration
	// jitter returns a random duration in [0, n]; full jitter.
	jitter func(n time.Duration) time.Duration
	stats  *stats
}

func newFetcher(cfg *Config, stats *stats, policy addressPolicy) *fetcher {
	dialer := newGuardedDialer(policy, cfg.Resolver, min(cfg.AttemptTimeout, 10*time.Second))
	var tlsConfig *tls.Config
	if cfg.TLSConfig != nil {
		tlsConfig = cfg.TLSConfig.Clone()
	}
	transport := &http.Transport{
		// Never a proxy from the environment: the dialer's address check
		// would then see only the proxy, and the image host could be anything.
		Proxy:             nil,
		DialContext:       dialer.DialContext,
		TLSClientConfig:   tlsConfig,
		ForceAttemptHTTP2: true,
		// Keep a connection per concurrent fetch of a host for the next one.
		MaxIdleConns:          2 * cfg.Workers,
		MaxIdleConnsPerHost:   cfg.PerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Response headers are small; a hostile server must not stream them.
		MaxResponseHeaderBytes: 64 << 10,
		// Images are compressed already; asking for gzip would only let a
		// server send a small body that inflates past the byte cap's intent.
		DisableCompression: true,
	}
	maxRedirects := cfg.MaxRedirects
	client := &http.Client{
		Transport: transport,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return fmt.Errorf("%w: more than %d", errTooManyRedirects, maxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("%w: %s", errRedirectScheme, req.URL.Redacted())
			}
			return nil
		},
	}
	return &fetcher{
		client:      client,
		dialer:      dialer,
		tempDir:     cfg.TempDir,
		memory:      newMemoryBudget(downloadMemory),
		userAgent:   cfg.UserAgent,
		timeout:     cfg.AttemptTimeout,
		maxBytes:    cfg.MaxBytes,
		maxPixels:   cfg.MaxPixels,
		maxAttempts: cfg.MaxAttempts,
		backoffBase: cfg.BackoffBase,
		backoffMax:  cfg.BackoffMax,
		jitter:      func(n time.Duration) time.Duration { return rand.N(n + 1) },
		stats:       stats,
	}
}

// close releases idle connections.
func (f *fetcher) close() { f.client.CloseIdleConnections() }

// fetch downloads rawURL (see createPending), with up to
// maxAttempts attempts. beforeAttempt runs before each one (it keeps the
// claim on the URL) and its error ends the fetch. It returns the download and
// the attempts made, or a *FetchError once the image has failed for good, or
// another error when the fetch was given up for a reason that is not the
// image's: stop was closed or ctx ended (errStopped, ctx.Err()), the
// temporary file failed, or beforeAttempt failed.
func (f *fetcher) fetch(ctx context.Context, stop <-chan struct{}, rawURL string, beforeAttempt func(context.Context) error) (download, int, error) {
	if err := checkURL(rawURL); err != nil {
		return download{}, 0, err
	}
	for attempt := 1; ; attempt++ {
		select {
		case <-stop:
			return download{}, attempt - 1, errStopped
		default:
		}
		if err := beforeAttempt(ctx); err != nil {
			return download{}, attempt - 1, err
		}
		content, err := f.attempt(ctx, rawURL)
		if err == nil {
			return content, attempt, nil
		}
		var fetchErr *FetchError
		if !errors.As(err, &fetchErr) {
			return download{}, attempt, err
		}
		if !fetchErr.Retryable {
			return download{}, attempt, fetchErr
		}
		if attempt >= f.maxAttempts {
			return download{}, attempt, &FetchError{Reason: fetchErr.Reason,
				Err: fmt.Errorf("%w (after %d attempts)", fetchErr.Err, attempt)}
		}
		delay, ok := f.backoff(attempt, fetchErr.RetryAfter)
		if !ok {
			return download{}, attempt, &FetchError{Reason: fetchErr.Reason,
				Err: fmt.Errorf("%w; Retry-After %v is longer than the %v the compactor waits", fetchErr.Err, fetchErr.RetryAfter, f.backoffMax)}
		}
		if err := sleep(ctx, stop, delay); err != nil {
			return download{}, attempt, err
		}
	}
}

// backoff is the wait after failed attempt number attempt (from 1): full
// jitter, uniformly random up to min(backoffMax, backoffBase * 2^(attempt-1)),
// so that many failed fetches do not come back in step; never less than a
// Retry-After, and false when Retry-After asks for more than backoffMax.
func (f *fetcher) backoff(attempt int, retryAfter time.Duration) (time.Duration, bool) {
	ceiling := f.backoffMax
	if shift := attempt - 1; shift < 30 {
		ceiling = min(f.backoffBase<<shift, f.backoffMax)
	}
	delay := f.jitter(ceiling)
	if retryAfter > f.backoffMax {
		return 0, false
	}
	return max(delay, retryAfter), true
}

// sleep waits for d unless ctx ends or stop closes first.
func sleep(ctx context.Context, stop <-chan struct{}, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-stop:
		return errStopped
	}
}

// checkURL refuses what is not an absolute http(s) URL with a host.
func checkURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fail(ReasonInvalidURL, "invalid URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fail(ReasonInvalidURL, "invalid URL: scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" {
		return fail(ReasonInvalidURL, "invalid URL: no host")
	}
	return nil
}

// attempt is one GET of rawURL, bounded by timeout from request to the last
// body byte. The body streams into memory or a temporary file, hashed on the
// way, which is returned only once its bytes proved to be an image within the
// caps.
func (f *fetcher) attempt(ctx context.Context, rawURL string) (download, error) {
	attemptCtx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(attemptCtx, http.MethodGet, rawURL, nil)
	if err != nil {
		return download{}, fail(ReasonInvalidURL, "invalid URL: %v", err)
	}
	req.Header.Set("User-Agent", f.userAgent)
	req.Header.Set("Accept", "image/webp,image/png,image/jpeg,image/gif")
	f.stats.attempts.Add(1)
	resp, err := f.client.Do(req)
	if err != nil {
		return download{}, classifyTransportError(ctx, err)
	}
	defer resp.Body.Close()
	if err := checkStatus(resp); err != nil {
		return download{}, err
	}
	if resp.ContentLength > f.maxBytes {
		return download{}, fail(ReasonTooLarge, "too large: Content-Length %d exceeds the cap of %d bytes", resp.ContentLength, f.maxBytes)
	}

	pending := createPending(f.tempDir, f.memory)
	body := &readTracker{r: io.LimitReader(resp.Body, f.maxBytes+1)}
	n, err := io.Copy(pending, body)
	f.stats.bytes.Add(n)
	if err != nil {
		pending.discard()
		if body.err != nil {
			return download{}, classifyTransportError(ctx, fmt.Errorf("read body: %w", body.err))
		}
		return download{}, fmt.Errorf("imaging: write temporary file: %w", err)
	}
	if n > f.maxBytes {
		pending.discard()
		return download{}, fail(ReasonTooLarge, "too large: the body exceeds the cap of %d bytes", f.maxBytes)
	}
	contentType := sniffType(pending.head)
	if contentType == "" {
		pending.discard()
		return download{}, fail(ReasonUnsupportedType, "unsupported type: the body (served as %q) starts with %q, not a JPEG, PNG, GIF or WebP image",
			resp.Header.Get("Content-Type"), pending.head)
	}
	file, err := pending.rewind()
	if err != nil {
		pending.discard()
		return download{}, err
	}
	width, height, err := dimensions(file, contentType)
	if err != nil {
		pending.discard()
		return download{}, fail(ReasonBadImage, "bad %s image: %v", contentType, err)
	}
	if pixels := int64(width) * int64(height); pixels > f.maxPixels {
		pending.discard()
		return download{}, fail(ReasonTooManyPixels, "too many pixels: %d x %d is over the cap of %d", width, height, f.maxPixels)
	}
	return download{file: pending, contentType: contentType, bytes: n, width: width, height: height}, nil
}

// readTracker remembers the error of the reader it wraps, so that a failed
// copy tells reading the body (the network) from writing the file (the disk).
type readTracker struct {
	r   io.Reader
	err error
}

func (t *readTracker) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

// checkStatus classifies a response that is not 200 OK.
func checkStatus(resp *http.Response) error {
	code := resp.StatusCode
	status := fmt.Errorf("HTTP %s", resp.Status)
	switch {
	case code == http.StatusOK:
		return nil
	case code == http.StatusNotFound || code == http.StatusGone:
		return &FetchError{Reason: ReasonNotFound, Err: status}
	case code == http.StatusTooManyRequests:
		return &FetchError{Reason: ReasonRateLimited, Retryable: true, RetryAfter: retryAfter(resp), Err: status}
	case code == http.StatusRequestTimeout || code >= 500:
		return &FetchError{Reason: ReasonServerError, Retryable: true, RetryAfter: retryAfter(resp), Err: status}
	case code >= 400:
		return &FetchError{Reason: ReasonClientError, Err: status}
	}
	return &FetchError{Reason: ReasonUnexpectedStatus, Err: status}
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date.
// Absent or unreadable is 0.
func retryAfter(resp *http.Response) time.Duration {
	value := resp.Header.Get("Retry-After")
	if value == "" {
		return 0
	}
	if seconds, err := strconv.ParseInt(value, 10, 32); err == nil {
		return time.Duration(max(seconds, 0)) * time.Second
	}
	if at, err := http.ParseTime(value); err == nil {
		return max(time.Until(at), 0)
	}
	return 0
}

// classifyTransportError classifies an error of sending the request or
// reading the body. An error because ctx (not the attempt's own timeout)
// ended is returned as ctx.Err(): the fetch was cut off, not failed.
func classifyTransportError(ctx context.Context, err error) error {
	var (
		netErr     net.Error
		certErr    *tls.CertificateVerificationError
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalidErr x509.CertificateInvalidError
	)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, ErrForbiddenAddress):
		return &FetchError{Reason: ReasonForbiddenAddress, Err: err}
	case errors.Is(err, errTooManyRedirects):
		return &FetchError{Reason: ReasonTooManyRedirects, Err: err}
	case errors.Is(err, errRedirectScheme):
		return &FetchError{Reason: ReasonInvalidURL, Err: err}
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalidErr):
		// A certificate does not start verifying within a minute: no retry.
		return &FetchError{Reason: ReasonTLS, Err: err}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return retry(ReasonTimeout, err)
	}
	return retry(ReasonConnection, err)
}

package imaging_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"marquee/bus"
	"marquee/db"
	"marquee/db/dbtest"
	"marquee/imaging"
	"marquee/imaging/imagingtest"
	"marquee/internal/testkit"
)

// faultCase is one way an image server can answer, and what the compactor
// must make of it.
type faultCase struct {
	name    string
	handler http.Handler // at the case's path; nil serves a distinct PNG
	// url, when set, is the URL requested instead of the case's path.
	url    func(path string) string
	config func(cfg *imaging.Config)
	// want is the outcome: status, reason (failed), attempts; for cached,
	// the content type and size.
	wantStatus    string
	wantReason    string
	wantAttempts  int32
	wantType      string
	wantSize      [2]int32
	wantErrorText string
	// wantRequests are the requests per path of the main server, when not
	// wantAttempts at the case's path.
	wantRequests map[string]int
}

func TestCompactorOutcomes(t *testing.T) {
	main := imagingtest.NewServer(t)
	other := imagingtest.NewServer(t) // a second loopback port, never allowed
	closedPort := freeAddr(t)

	jpegBytes := encodeJPEG(t, 20, 10)
	gifBytes := encodeGIF(t, 3, 4)
	html := []byte("<!doctype html><html><head><title>Not found</title></head><body>gone</body></html>")
	pngAsJPEG := imagingtest.Image("/served-as-jpeg")

	cases := []faultCase{
		{name: "a PNG", wantStatus: db.ImageCached, wantAttempts: 1, wantType: imaging.TypePNG, wantSize: [2]int32{8, 8}},
		{name: "a JPEG", handler: imagingtest.Bytes("image/jpeg", jpegBytes), wantStatus: db.ImageCached, wantAttempts: 1,
			wantType: imaging.TypeJPEG, wantSize: [2]int32{20, 10}},
		{name: "a GIF", handler: imagingtest.Bytes("image/gif", gifBytes), wantStatus: db.ImageCached, wantAttempts: 1,
			wantType: imaging.TypeGIF, wantSize: [2]int32{3, 4}},
		{name: "a lossy WebP", handler: imagingtest.Bytes("image/webp", webpVP8(234, 344)), wantStatus: db.ImageCached, wantAttempts: 1,
			wantType: imaging.TypeWebP, wantSize: [2]int32{234, 344}},
		{name: "a lossless WebP", handler: imagingtest.Bytes("image/webp", webpVP8L(1000, 16384)), wantStatus: db.ImageCached, wantAttempts: 1,
			wantType: imaging.TypeWebP, wantSize: [2]int32{1000, 16384}},
		{name: "an extended WebP", handler: imagingtest.Bytes("image/webp", webpVP8X(640, 480)), wantStatus: db.ImageCached, wantAttempts: 1,
			wantType: imaging.TypeWebP, wantSize: [2]int32{640, 480}},
		{name: "a PNG served as image/jpeg is a PNG", handler: imagingtest.Bytes("image/jpeg", pngAsJPEG), wantStatus: db.ImageCached,
			wantAttempts: 1, wantType: imaging.TypePNG, wantSize: [2]int32{8, 8}},

		{name: "500, then 200", handler: imagingtest.Sequence(imagingtest.Status(500), nil), wantStatus: db.ImageCached, wantAttempts: 2,
			wantType: imaging.TypePNG, wantSize: [2]int32{8, 8}},
		{name: "503 every time", handler: imagingtest.Status(503), wantStatus: db.ImageFailed, wantReason: imaging.ReasonServerError,
			wantAttempts: 5, wantErrorText: "HTTP 503 Service Unavailable (after 5 attempts)"},
		{name: "408, then 200", handler: imagingtest.Sequence(imagingtest.Status(408), nil), wantStatus: db.ImageCached, wantAttempts: 2,
			wantType: imaging.TypePNG, wantSize: [2]int32{8, 8}},
		{name: "429 with Retry-After 0, then 200", handler: imagingtest.Sequence(imagingtest.Status(429, "Retry-After", "0"), nil),
			wantStatus: db.ImageCached, wantAttempts: 2, wantType: imaging.TypePNG, wantSize: [2]int32{8, 8}},
		{name: "429 asking for an hour", handler: imagingtest.Status(429, "Retry-After", "3600"), wantStatus: db.ImageFailed,
			wantReason: imaging.ReasonRateLimited, wantAttempts: 1, wantErrorText: "Retry-After 1h0m0s is longer than"},
		{name: "a timeout, then 200", handler: imagingtest.Sequence(imagingtest.Hang(), nil), wantStatus: db.ImageCached, wantAttempts: 2,
			wantType: imaging.TypePNG, wantSize: [2]int32{8, 8}},
		{name: "a slow drip", handler: imagingtest.Drip(50 * time.Millisecond), wantStatus: db.ImageFailed, wantReason: imaging.ReasonTimeout,
			wantAttempts: 5},
		{name: "a body cut short, every time", handler: truncatedBody(), wantStatus: db.ImageFailed, wantReason: imaging.ReasonConnection,
			wantAttempts: 5},

		{name: "an HTML page served as image/jpeg", handler: imagingtest.Bytes("image/jpeg", html), wantStatus: db.ImageFailed,
			wantReason: imaging.ReasonUnsupportedType, wantAttempts: 1, wantErrorText: `starts with "<!doctype html><"`},
		{name: "an empty body", handler: imagingtest.Bytes("image/png", nil), wantStatus: db.ImageFailed,
			wantReason: imaging.ReasonUnsupportedType, wantAttempts: 1},
		{name: "a 50 MiB body", handler: imagingtest.Huge(50<<20, false), wantStatus: db.ImageFailed, wantReason: imaging.ReasonTooLarge,
			wantAttempts: 1, wantErrorText: "exceeds the cap of 10485760 bytes"},
		{name: "a 50 MiB body with its Content-Length", handler: imagingtest.Huge(50<<20, true), wantStatus: db.ImageFailed,
			wantReason: imaging.ReasonTooLarge, wantAttempts: 1, wantErrorText: "Content-Length 52428800 exceeds"},
		{name: "a decompression bomb header", handler: imagingtest.Bytes("image/png", imagingtest.PNGHeader(100_000, 100_000)),
			wantStatus: db.ImageFailed, wantReason: imaging.ReasonTooManyPixels, wantAttempts: 1, wantErrorText: "100000 x 100000"},
		{name: "a truncated PNG header", handler: imagingtest.Bytes("image/png", imagingtest.PNGHeader(10, 10)[:20]),
			wantStatus: db.ImageFailed, wantReason: imaging.ReasonBadImage, wantAttempts: 1},

		{name: "404", handler: imagingtest.Status(404), wantStatus: db.ImageFailed, wantReason: imaging.ReasonNotFound, wantAttempts: 1,
			wantErrorText: "HTTP 404 Not Found"},
		{name: "410", handler: imagingtest.Status(410), wantStatus: db.ImageFailed, wantReason: imaging.ReasonNotFound, wantAttempts: 1},
		{name: "403", handler: imagingtest.Status(403), wantStatus: db.ImageFailed, wantReason: imaging.ReasonClientError, wantAttempts: 1},
		{name: "204", handler: imagingtest.Status(204), wantStatus: db.ImageFailed, wantReason: imaging.ReasonUnexpectedStatus, wantAttempts: 1},
		{name: "a status line that is not UTF-8", handler: rawResponse("HTTP/1.1 404 Not \xff\xfe Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
			wantStatus: db.ImageFailed, wantReason: imaging.ReasonNotFound, wantAttempts: 1, wantErrorText: "HTTP 404 Not \ufffd Found"},

		{name: "a redirect to a second loopback port", handler: imagingtest.Redirect(other.URL + "/elsewhere.png"), wantStatus: db.ImageFailed,
			wantReason: imaging.ReasonForbiddenAddress, wantAttempts: 1,
			wantErrorText: other.Listener.Addr().String() + " is not a public internet address"},
		{name: "a redirect on the allowed server", handler: imagingtest.Redirect("/redirect-target.png"), wantStatus: db.ImageCached,
			wantAttempts: 1, wantType: imaging.TypePNG, wantSize: [2]int32{8, 8},
			wantRequests: map[string]int{"/redirect-target.png": 1}},
		{name: "a redirect loop", handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, r.URL.Path, http.StatusFound)
		}), wantStatus: db.ImageFailed, wantReason: imaging.ReasonTooManyRedirects, wantAttempts: 1,
			wantRequests: map[string]int{}}, // 6 requests at the case's path: the first and 5 redirects
		{name: "a redirect to a file URL", handler: imagingtest.Redirect("file:///etc/passwd"), wantStatus: db.ImageFailed,
			wantReason: imaging.ReasonInvalidURL, wantAttempts: 1},

		{name: "a server that is not allowed", url: func(path string) string { return other.URL + path }, wantStatus: db.ImageFailed,
			wantReason: imaging.ReasonForbiddenAddress, wantAttempts: 1, wantRequests: map[string]int{}},
		{name: "a closed port", url: func(path string) string { return "http://" + closedPort.String() + path },
			config:     func(cfg *imaging.Config) { cfg.AllowAddrs = append(cfg.AllowAddrs, closedPort) },
			wantStatus: db.ImageFailed, wantReason: imaging.ReasonConnection, wantAttempts: 5, wantRequests: map[string]int{}},
		{name: "a host that does not resolve", url: func(path string) string { return "https://no-such-host.invalid" + path },
			config: func(cfg *imaging.Config) {
				cfg.Resolver = func(context.Context, string, string) ([]netip.AddrPort, error) {
					return nil, &net.DNSError{Err: "no such host", Name: "no-such-host.invalid", IsNotFound: true}
				}
			},
			wantStatus: db.ImageFailed, wantReason: imaging.ReasonConnection, wantAttempts: 5, wantRequests: map[string]int{}},
		{name: "not an http URL", url: func(path string) string { return "ftp://127.0.0.1" + path }, wantStatus: db.ImageFailed,
			wantReason: imaging.ReasonInvalidURL, wantAttempts: 0, wantRequests: map[string]int{}},
	}

	store := testkit.OpenStore(t, dbtest.SQLiteURL(t))
	t.Run("cases", func(t *testing.T) {
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				testOutcome(t, i, tc, store, main, other)
			})
		}
	})
	if agents := main.UserAgents(); !slices.Equal(agents, []string{"Marquee/test"}) {
		t.Errorf("User-Agent headers %q, want only Marquee/test", agents)
	}
}

// testOutcome requests the URL of case i, checks the outcome, what was
// recorded, stored and requested, then requests it again.
func testOutcome(t *testing.T, i int, tc faultCase, store *db.Store, main, other *imagingtest.Server) {
	path := fmt.Sprintf("/pics/(m=case%d)(mh=X_y=)thumb_%d.jpg", i, i)
	if tc.handler != nil {
		main.Handle(path, tc.handler)
	}
	url := main.URL + path
	if tc.url != nil {
		url = tc.url(path)
	}
	files := openFiles(t)
	pub := &recordingPublisher{}
	cfg := fastConfig(store, files, pub, main)
	if tc.config != nil {
		tc.config(&cfg)
	}
	c := newCompactor(t, cfg)

	dead, err := c.Handle(context.Background(), []bus.Message{requestMessage(t, url, time.Now())})
	if err != nil || len(dead) != 0 {
		t.Fatalf("Handle = %v, %v; want the request settled", dead, err)
	}
	outcomes := pub.outcomes(t)
	if len(outcomes) != 1 {
		t.Fatalf("published %d outcomes, want 1", len(outcomes))
	}
	got := outcomes[0]
	checkOutcome(t, tc, got, url)
	checkRecorded(t, store, got)
	checkFiles(t, files, got)

	wantRequests := tc.wantRequests
	if wantRequests == nil {
		wantRequests = map[string]int{}
	}
	if _, set := wantRequests[path]; !set && tc.url == nil {
		wantRequests[path] = int(tc.wantAttempts)
		if tc.wantReason == imaging.ReasonTooManyRedirects {
			wantRequests[path] = 6
		}
	}
	for p, want := range wantRequests {
		if n := main.Requests(p); n != want {
			t.Errorf("%d requests for %s, want %d", n, p, want)
		}
	}
	if n := other.Total(); n != 0 {
		t.Errorf("%d requests reached the server that is not allowed, want none", n)
	}
	stats := c.Stats()
	if stats.Requests != 1 || stats.CacheHits != 0 || stats.InFlight != 0 {
		t.Errorf("stats %+v, want 1 request, no cache hit, nothing in flight", stats)
	}
	if tc.wantStatus == db.ImageFailed && (stats.Failed != 1 || stats.Failures[tc.wantReason] != 1) {
		t.Errorf("stats %+v, want one failure for %s", stats, tc.wantReason)
	}

	// Asked again, the compactor answers from its record.
	before := main.Requests(path)
	if _, err := c.Handle(context.Background(), []bus.Message{requestMessage(t, url, time.Now())}); err != nil {
		t.Fatal(err)
	}
	if again := pub.outcomes(t); len(again) != 2 || imageStateDiff(got, again[1]) != "" {
		t.Errorf("the repeated request published %+v, want the same outcome again", again)
	}
	if n := main.Requests(path); n != before {
		t.Errorf("the repeated request made %d requests and %d cache hits, want 0 and 1", n-before, c.Stats().CacheHits)
	}
	if c.Stats().CacheHits != 1 {
		t.Errorf("%d cache hits for the repeated request, want 1", c.Stats().CacheHits)
	}
}

func checkOutcome(t *testing.T, tc faultCase, got db.ImageState, url string) {
	t.Helper()
	if got.URLHash != db.URLHash(url) || got.URL != url || got.Status != tc.wantStatus || got.Attempts != tc.wantAttempts || got.FetchedAt == nil {
		t.Fatalf("outcome %s (%d attempts, error %q), want %s after %d attempts, with its URL and fetched_at",
			got.Status, got.Attempts, deref(got.Error), tc.wantStatus, tc.wantAttempts)
	}
	if tc.wantStatus == db.ImageCached {
		if got.Error != nil || got.ContentSHA256 == nil || deref(got.ContentType) != tc.wantType || got.Bytes == nil ||
			got.Width == nil || got.Height == nil || [2]int32{*got.Width, *got.Height} != tc.wantSize {
			t.Errorf("cached outcome %s, want %s of %v pixels with its content hash", describe(got), tc.wantType, tc.wantSize)
		}
		return
	}
	if got.Error == nil || got.ContentSHA256 != nil || got.ContentType != nil || got.Bytes != nil || got.Width != nil {
		t.Errorf("failed outcome %s, want an error and no content", describe(got))
	}
	if !strings.Contains(deref(got.Error), tc.wantErrorText) {
		t.Errorf("error %q, want it to contain %q", deref(got.Error), tc.wantErrorText)
	}
}

// checkRecorded: the record in the database is what was published.
func checkRecorded(t *testing.T, store *db.Store, published db.ImageState) {
	t.Helper()
	records, err := store.ImageFetches(context.Background(), []string{published.URLHash})
	if err != nil {
		t.Fatal(err)
	}
	rec, ok := records[published.URLHash]
	if !ok || rec.LeaseUntil != nil || rec.Claims != 1 {
		t.Fatalf("record %+v, want one finished claim", rec)
	}
	if diff := imageStateDiff(published, rec.ImageState); diff != "" {
		t.Errorf("the record differs from what was published: %s", diff)
	}
}

// checkFiles: a cached image's bytes are stored under their hash; nothing
// else is left in the store, temporary files included.
func checkFiles(t *testing.T, files *imaging.FileStore, outcome db.ImageState) {
	t.Helper()
	var stored []string
	err := filepath.WalkDir(files.Dir(), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			stored = append(stored, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if outcome.Status != db.ImageCached {
		if len(stored) != 0 {
			t.Errorf("a failed fetch left files: %v", stored)
		}
		return
	}
	want, _ := files.Path(*outcome.ContentSHA256)
	if len(stored) != 1 || stored[0] != want {
		t.Fatalf("stored files %v, want only %s", stored, want)
	}
	body, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != *outcome.ContentSHA256 || int64(len(body)) != *outcome.Bytes {
		t.Errorf("the stored file does not hash to %s or is not %d bytes", *outcome.ContentSHA256, *outcome.Bytes)
	}
}

// TestIdenticalBytesStoredOnce: the same image under two URLs (the di. ->
// ei. host change) is fetched twice, once per URL, and stored once.
func TestIdenticalBytesStoredOnce(t *testing.T) {
	server := imagingtest.NewServer(t)
	body := imagingtest.Image("/shared")
	server.Handle("/di/thumb.jpg", imagingtest.Bytes("image/jpeg", body))
	server.Handle("/ei/thumb.jpg", imagingtest.Bytes("image/jpeg", body))
	files := openFiles(t)
	pub := &recordingPublisher{}
	c := newCompactor(t, fastConfig(testkit.OpenStore(t, dbtest.SQLiteURL(t)), files, pub, server))
	for _, url := range []string{server.URL + "/di/thumb.jpg", server.URL + "/ei/thumb.jpg"} {
		if _, err := c.Handle(context.Background(), []bus.Message{requestMessage(t, url, time.Now())}); err != nil {
			t.Fatal(err)
		}
	}
	outcomes := pub.outcomes(t)
	if len(outcomes) != 2 || deref(outcomes[0].ContentSHA256) == "" || deref(outcomes[0].ContentSHA256) != deref(outcomes[1].ContentSHA256) {
		t.Fatalf("outcomes %s and %s, want both cached with one content hash", describe(outcomes[0]), describe(outcomes[1]))
	}
	checkFiles(t, files, outcomes[0])
	if s := c.Stats(); s.Cached != 2 || s.DuplicateContent != 1 || server.Total() != 2 {
		t.Errorf("stats %+v after %d requests, want 2 cached, 1 duplicate, 2 requests", s, server.Total())
	}
}

// TestBatchDuplicatesAndDeadLetters: requests repeated in one batch cost one
// fetch and one outcome; requests that can never be handled are dead letters.
func TestBatchDuplicatesAndDeadLetters(t *testing.T) {
	server := imagingtest.NewServer(t)
	pub := &recordingPublisher{}
	c := newCompactor(t, fastConfig(testkit.OpenStore(t, dbtest.SQLiteURL(t)), openFiles(t), pub, server))
	url := server.URL + "/pics/(m=a)(mh=b)thumb.jpg"
	good := requestMessage(t, url, time.Now())
	wrongKey := requestMessage(t, url, time.Now())
	wrongKey.Key = strings.Repeat("0", 64)
	wrongHash := requestMessage(t, server.URL+"/other.jpg", time.Now())
	wrongHash.Value = bytes.Replace(wrongHash.Value, []byte("other.jpg"), []byte("third.jpg"), 1)
	msgs := []bus.Message{
		good, good, good,
		{Key: good.Key, Value: []byte("{not json")},
		{Key: good.Key}, // a tombstone
		wrongKey,
		wrongHash,
		requestMessage(t, "https://x/\xff", time.Now()),
		requestMessage(t, "https://x/a\x00b", time.Now()),
	}
	dead, err := c.Handle(context.Background(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 6 {
		t.Errorf("%d dead letters, want 6: %v", len(dead), dead)
	}
	for _, d := range dead {
		if d.Err == nil || d.Message.Key == "" {
			t.Errorf("dead letter %+v without its message or reason", d)
		}
	}
	if outcomes := pub.outcomes(t); len(outcomes) != 1 || outcomes[0].Status != db.ImageCached {
		t.Errorf("outcomes %v, want one cached", outcomes)
	}
	if n := server.Total(); n != 1 {
		t.Errorf("%d requests for one URL asked three times in one batch, want 1", n)
	}
}

// TestFailedImageRetriedOnlyAfterCooldown: a failed URL is fetched again
// only for a request made after the failure and after the cool-down.
func TestFailedImageRetriedOnlyAfterCooldown(t *testing.T) {
	server := imagingtest.NewServer(t)
	path := "/pics/flaky.jpg"
	server.Handle(path, imagingtest.Sequence(imagingtest.Status(404), nil))
	store := testkit.OpenStore(t, dbtest.SQLiteURL(t))
	pub := &recordingPublisher{}
	cfg := fastConfig(store, openFiles(t), pub, server)
	cfg.RetryCooldown = time.Hour
	c := newCompactor(t, cfg)
	url := server.URL + path
	requestedAt := time.Now().UTC()
	handle := func(at time.Time) db.ImageState {
		t.Helper()
		if _, err := c.Handle(context.Background(), []bus.Message{requestMessage(t, url, at)}); err != nil {
			t.Fatal(err)
		}
		outcomes := pub.outcomes(t)
		return outcomes[len(outcomes)-1]
	}
	if got := handle(requestedAt); got.Status != db.ImageFailed || server.Requests(path) != 1 {
		t.Fatalf("first request: %s after %d requests, want failed after 1", describe(got), server.Requests(path))
	}
	// The same request again (a redelivery), and a new one within the
	// cool-down: the failure stands.
	for _, at := range []time.Time{requestedAt, time.Now()} {
		if got := handle(at); got.Status != db.ImageFailed || server.Requests(path) != 1 {
			t.Fatalf("request at %v: %s after %d requests, want the failure, no new request", at, describe(got), server.Requests(path))
		}
	}
	// After the cool-down (the records say the failure is two hours old).
	records, err := store.ImageFetches(context.Background(), []string{db.URLHash(url)})
	if err != nil {
		t.Fatal(err)
	}
	aged := records[db.URLHash(url)].ImageState
	old := aged.FetchedAt.Add(-2 * time.Hour)
	forceFailedAt(t, store, url, old)
	if got := handle(time.Now()); got.Status != db.ImageCached || server.Requests(path) != 2 {
		t.Fatalf("after the cool-down: %s after %d requests, want cached after 2", describe(got), server.Requests(path))
	}
}

// forceFailedAt rewrites when the failed fetch of url finished: claims by a
// stand-in owner and finishes it again at that time.
func forceFailedAt(t *testing.T, store *db.Store, url string, at time.Time) {
	t.Helper()
	ctx := context.Background()
	hash := db.URLHash(url)
	now := time.Now()
	records, err := store.ClaimImageFetches(ctx, "test", now, now.Add(time.Minute),
		[]db.ImageClaim{{URLHash: hash, URL: url, RetryFailedBefore: now.Add(time.Hour)}})
	if err != nil || !records[hash].HeldBy("test") {
		t.Fatalf("claim for rewriting: %v, %+v", err, records[hash])
	}
	st := records[hash].ImageState
	msg := "HTTP 404 Not Found"
	st.Status, st.Error, st.Attempts, st.FetchedAt = db.ImageFailed, &msg, 1, &at
	if lost, err := store.FinishImageFetches(ctx, "test", []db.ImageState{st}); err != nil || len(lost) != 0 {
		t.Fatalf("rewrite: lost %v, %v", lost, err)
	}
}

// TestClaimedElsewhereIsWaitedFor: a hash another compactor holds is not
// fetched; its outcome is published once the holder records it, and a holder
// that gives up (or dies) has its hash taken over.
func TestClaimedElsewhereIsWaitedFor(t *testing.T) {
	server := imagingtest.NewServer(t)
	store := testkit.OpenStore(t, dbtest.SQLiteURL(t))
	ctx := context.Background()
	urls := []string{server.URL + "/settled-by-holder.jpg", server.URL + "/given-up-by-holder.jpg"}
	now := time.Now()
	claims := []db.ImageClaim{{URLHash: db.URLHash(urls[0]), URL: urls[0]}, {URLHash: db.URLHash(urls[1]), URL: urls[1]}}
	if _, err := store.ClaimImageFetches(ctx, "holder", now, now.Add(time.Hour), claims); err != nil {
		t.Fatal(err)
	}
	pub := &recordingPublisher{}
	c := newCompactor(t, fastConfig(store, openFiles(t), pub, server))
	done := make(chan error, 1)
	go func() {
		_, err := c.Handle(ctx, []bus.Message{requestMessage(t, urls[0], now), requestMessage(t, urls[1], now)})
		done <- err
	}()
	// The holder finishes the first and gives the second up.
	fetchedAt := time.Now().UTC()
	settled := db.ImageState{URLHash: claims[0].URLHash, URL: urls[0], Status: db.ImageFailed, Attempts: 5,
		Error: ptr("HTTP 503 Service Unavailable (after 5 attempts)"), FetchedAt: &fetchedAt}
	if lost, err := store.FinishImageFetches(ctx, "holder", []db.ImageState{settled}); err != nil || len(lost) != 0 {
		t.Fatalf("the holder's outcome: lost %v, %v", lost, err)
	}
	if err := store.ExtendImageClaim(ctx, claims[1].URLHash, "holder", time.Now()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Handle did not return")
	}
	outcomes := pub.outcomes(t)
	if len(outcomes) != 2 || outcomes[0].Status != db.ImageFailed || outcomes[1].Status != db.ImageCached {
		t.Fatalf("outcomes %v, want the holder's failure and a cached image", outcomes)
	}
	if server.Requests("/settled-by-holder.jpg") != 0 || server.Requests("/given-up-by-holder.jpg") != 1 {
		t.Errorf("requests %v, want none for the hash the holder settled, one for the one it gave up", server.Counts())
	}
}

func TestNewRefusesIncompleteConfig(t *testing.T) {
	files := openFiles(t)
	store := testkit.OpenStore(t, dbtest.SQLiteURL(t))
	pub := &recordingPublisher{}
	for _, tc := range []struct {
		name string
		cfg  imaging.Config
	}{
		{"no store", imaging.Config{Publisher: pub, Files: files}},
		{"no publisher", imaging.Config{Store: store, Files: files}},
		{"no file store", imaging.Config{Store: store, Publisher: pub}},
		{"a lease shorter than an attempt", imaging.Config{Store: store, Publisher: pub, Files: files, ClaimLease: time.Minute, AttemptTimeout: time.Minute}},
	} {
		if _, err := imaging.New(tc.cfg); err == nil {
			t.Errorf("%s: New succeeded", tc.name)
		}
	}
}

func freeAddr(t *testing.T) netip.AddrPort {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort(l.Addr().String())
	l.Close()
	return addr
}

// rawResponse writes response as is on the connection, and closes it.
func rawResponse(response string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		defer conn.Close()
		buf.WriteString(response)
		buf.Flush()
	})
}

// truncatedBody promises 1,000 bytes and sends 100.
func truncatedBody() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.Write(imagingtest.Image(r.URL.Path)[:100])
	})
}

func encodeJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encodeGIF(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.Black, color.White})
	var buf bytes.Buffer
	if err := gif.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// webpVP8, webpVP8L and webpVP8X are WebP headers in each of the three forms,
// followed by filler: the compactor reads only the header.
func webpVP8(w, h uint16) []byte {
	chunk := []byte{0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a}
	chunk = binary.LittleEndian.AppendUint16(chunk, w)
	chunk = binary.LittleEndian.AppendUint16(chunk, h)
	return riff("VP8 ", chunk)
}

func webpVP8L(w, h uint32) []byte {
	bits := (w - 1) | (h-1)<<14
	return riff("VP8L", binary.LittleEndian.AppendUint32([]byte{0x2f}, bits))
}

func webpVP8X(w, h uint32) []byte {
	chunk := []byte{0x10, 0, 0, 0, byte(w - 1), byte((w - 1) >> 8), byte((w - 1) >> 16), byte(h - 1), byte((h - 1) >> 8), byte((h - 1) >> 16)}
	return riff("VP8X", chunk)
}

func riff(fourCC string, chunk []byte) []byte {
	body := append([]byte("WEBP"+fourCC), binary.LittleEndian.AppendUint32(nil, uint32(len(chunk)+64))...)
	body = append(body, chunk...)
	body = append(body, make([]byte, 64)...)
	return append(binary.LittleEndian.AppendUint32([]byte("RIFF"), uint32(len(body))), body...)
}

func ptr[T any](v T) *T { return &v }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// describe shows an outcome in failure messages.
func describe(st db.ImageState) string {
	show := func(p *string) string {
		if p == nil {
			return "-"
		}
		return *p
	}
	size := "-"
	if st.Width != nil && st.Height != nil {
		size = fmt.Sprintf("%dx%d", *st.Width, *st.Height)
	}
	return fmt.Sprintf("%s attempts=%d type=%s size=%s sha=%.8s error=%q", st.Status, st.Attempts, show(st.ContentType), size, show(st.ContentSHA256), show(st.Error))
}

// imageStateDiff describes how two outcomes differ; "" when equal.
func imageStateDiff(want, got db.ImageState) string {
	same := func(a, b *time.Time) bool { return (a == nil) == (b == nil) && (a == nil || a.Equal(*b)) }
	wantAt, gotAt := want.FetchedAt, got.FetchedAt
	want.FetchedAt, got.FetchedAt = nil, nil
	if describe(want) != describe(got) || want.URL != got.URL || want.URLHash != got.URLHash || deref(want.ContentSHA256) != deref(got.ContentSHA256) ||
		!equalInt64(want.Bytes, got.Bytes) || !same(wantAt, gotAt) {
		return fmt.Sprintf("got %s at %v, want %s at %v", describe(got), gotAt, describe(want), wantAt)
	}
	return ""
}

func equalInt64(a, b *int64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

package imaging_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"marquee/bus"
	"marquee/db"
	"marquee/db/dbtest"
	"marquee/imaging"
	"marquee/imaging/imagingtest"
	"marquee/ingest"
	"marquee/internal/samples"
	"marquee/internal/testkit"
)

// feedImageURLs returns every thumbnail URL of the feed file, in feed order,
// repeated as often as the feed repeats it.
func feedImageURLs(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var urls []string
	_, err = ingest.ParseFeed(f, func(_ int, p db.Profile) error {
		for _, th := range p.Thumbnails {
			urls = append(urls, th.URL)
		}
		return nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return urls
}

// realHostServer serves the feed's real image hosts over TLS from 127.0.0.1:
// the compactor resolves every host to it and trusts its certificate, and is
// allowed to connect to its address and no other.
func realHostServer(t testing.TB) (*imagingtest.Server, func(*imaging.Config)) {
	t.Helper()
	server, tlsConfig := imagingtest.NewTLSServer(t, "ei.phncdn.com", "di.phncdn.com")
	return server, func(cfg *imaging.Config) {
		cfg.Resolver = server.Resolve
		cfg.TLSConfig = tlsConfig
	}
}

// kafkaConfig is fastConfig for compactors that consume from k.
func kafkaConfig(k *kafkaEnv, store imaging.Store, files imaging.ObjectStore, pub imaging.Publisher, server *imagingtest.Server, group string) imaging.Config {
	cfg := fastConfig(store, files, pub, server)
	cfg.Kafka = bus.Cluster{Brokers: k.brokers}
	cfg.GroupID = group
	cfg.FetchWait = 100 * time.Millisecond
	cfg.SessionTimeout = 6 * time.Second
	cfg.ShutdownGrace = 2 * time.Second
	return cfg
}

// distinctPaths returns the URL paths of urls, each once.
func distinctPaths(t testing.TB, urls []string) map[string]bool {
	t.Helper()
	paths := map[string]bool{}
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		paths[u.Path] = true
	}
	return paths
}

// checkOnePerURL fails unless the server saw exactly one request for each
// of paths and none for anything else.
func checkOnePerURL(t *testing.T, server *imagingtest.Server, paths map[string]bool, when string) {
	t.Helper()
	counts := server.Counts()
	for p := range paths {
		if counts[p] != 1 {
			t.Errorf("%s: %d requests for %s, want 1", when, counts[p], p)
		}
	}
	for p, n := range counts {
		if !paths[p] {
			t.Errorf("%s: %d requests for %s, which no request asked for", when, n, p)
		}
	}
	if total := server.Total(); total != len(paths) {
		t.Errorf("%s: %d requests in all for %d distinct URLs", when, total, len(paths))
	}
}

// checkAllCached fails unless every URL has a cached record.
func checkAllCached(t *testing.T, store *db.Store, urls []string) {
	t.Helper()
	hashes := make([]string, len(urls))
	for i, u := range urls {
		hashes[i] = db.URLHash(u)
	}
	records, err := store.ImageFetches(context.Background(), hashes)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range urls {
		if r := records[db.URLHash(u)]; r.Status != db.ImageCached || r.Claims != 1 {
			t.Errorf("%s: %s with %d claims, want cached, claimed once", u, describe(r.ImageState), r.Claims)
		}
	}
}

// headReferences is what a head sample holds: thumbnail URL references
// and distinct URLs.
var headReferences = map[string]struct{ references, distinct int }{
	samples.Head.Name:     {291, 96},
	samples.RealHead.Name: {288, 96},
}

// TestHeadFetchedOnce publishes a head sample's URL references (three per
// performer, as a naive producer would; the fixture, and the real head when
// MARQUEE_TEST_SAMPLES names it) and checks that each distinct URL is
// requested exactly once: then again after a second run of the feed, and
// again after a restart of the compactor.
func TestHeadFetchedOnce(t *testing.T) {
	for _, sample := range samples.Head.WithReal() {
		t.Run(sample.Name, func(t *testing.T) { testHeadFetchedOnce(t, sample) })
	}
}

func testHeadFetchedOnce(t *testing.T, sample samples.Sample) {
	urls := feedImageURLs(t, sample.Path(t))
	paths := distinctPaths(t, urls)
	want := headReferences[sample.Name]
	if len(urls) != want.references || len(paths) != want.distinct {
		t.Fatalf("the sample has %d URL references and %d distinct URLs, want %d and %d", len(urls), len(paths), want.references, want.distinct)
	}
	distinct := int64(want.distinct)
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			t.Parallel()
			k := startKafka(t)
			store := testkit.OpenStore(t, backend.URL(t))
			files := openFiles(t)
			server, realHosts := realHostServer(t)
			pub := &recordingPublisher{next: k.writer}
			cfg := kafkaConfig(k, store, files, pub, server, imaging.GroupID)
			realHosts(&cfg)

			first := runCompactor(t, newCompactor(t, cfg))
			k.request(t, urls)
			k.waitSettled(t, imaging.GroupID)
			checkOnePerURL(t, server, paths, "first run")
			checkAllCached(t, store, urls)
			if got := len(pub.outcomes(t)); got < want.distinct {
				t.Errorf("%d outcomes published, want one per distinct URL at least", got)
			}

			// The feed again: every request is answered from the record.
			k.request(t, urls)
			k.waitSettled(t, imaging.GroupID)
			checkOnePerURL(t, server, paths, "second run of the feed")
			if s := first.compactor.Stats(); s.CacheHits < distinct || s.Cached != distinct {
				t.Errorf("stats after two runs %+v, want %d fetched and at least as many cache hits", s, distinct)
			}

			// A new compactor process (another owner) on the same records.
			first.stop(t)
			second := runCompactor(t, newCompactor(t, cfg))
			k.request(t, urls)
			k.waitSettled(t, imaging.GroupID)
			checkOnePerURL(t, server, paths, "after a restart")
			if s := second.compactor.Stats(); s.Cached != 0 || s.Attempts != 0 || s.CacheHits < distinct {
				t.Errorf("the restarted compactor's stats %+v, want no fetch", s)
			}
			checkAllCached(t, store, urls)
		})
	}
}

// TestCompactorsAtOnce runs three compactors at once on one database: two
// share a consumer group, the third is in a group of its own, so every
// request reaches at least two of them at the same time. Each URL is still
// requested once.
func TestCompactorsAtOnce(t *testing.T) {
	urls := feedImageURLs(t, samples.Head.Path(t))
	paths := distinctPaths(t, urls)
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			t.Parallel()
			k := startKafka(t)
			store := testkit.OpenStore(t, backend.URL(t))
			files := openFiles(t)
			server, realHosts := realHostServer(t)
			server.SetLatency(20 * time.Millisecond) // fetches overlap
			var compactors []*running
			for _, group := range []string{"imaging-a", "imaging-a", "imaging-b"} {
				cfg := kafkaConfig(k, store, files, k.writer, server, group)
				realHosts(&cfg)
				compactors = append(compactors, runCompactor(t, newCompactor(t, cfg)))
			}
			k.request(t, urls)
			k.waitSettled(t, "imaging-a")
			k.waitSettled(t, "imaging-b")
			checkOnePerURL(t, server, paths, "three compactors")
			checkAllCached(t, store, urls)
			if fetched := totalCached(compactors); fetched != int64(len(paths)) {
				t.Errorf("the compactors fetched %d images between them, want %d", fetched, len(paths))
			}
		})
	}
}

// totalCached is how many images the compactors fetched and stored between
// them.
func totalCached(compactors []*running) int64 {
	var n int64
	for _, r := range compactors {
		n += r.compactor.Stats().Cached
	}
	return n
}

// TestClaimsGatheredWhileWorkersBusy runs two compactors in groups of their
// own, so both get every request, with one worker each: the requests that
// arrive while a claimed fetch waits for the worker are claimed together in
// one statement, and still each URL is requested once between the two.
func TestClaimsGatheredWhileWorkersBusy(t *testing.T) {
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			t.Parallel()
			k := startKafka(t)
			dbStore := testkit.OpenStore(t, backend.URL(t))
			store := &claimCountingStore{Store: dbStore}
			files := openFiles(t)
			server := imagingtest.NewServer(t)
			server.SetLatency(10 * time.Millisecond) // the worker stays busy while requests arrive
			var urls []string
			paths := map[string]bool{}
			for i := range 40 {
				path := fmt.Sprintf("/pics/gathered-%02d.jpg", i)
				urls = append(urls, server.URL+path)
				paths[path] = true
			}
			var compactors []*running
			for _, group := range []string{"imaging-a", "imaging-b"} {
				cfg := kafkaConfig(k, store, files, k.writer, server, group)
				cfg.Workers = 1
				compactors = append(compactors, runCompactor(t, newCompactor(t, cfg)))
			}
			k.request(t, urls)
			k.waitSettled(t, "imaging-a")
			k.waitSettled(t, "imaging-b")
			checkOnePerURL(t, server, paths, "two compactors with one worker each")
			checkAllCached(t, dbStore, urls)
			if fetched := totalCached(compactors); fetched != int64(len(urls)) {
				t.Errorf("the compactors fetched %d images between them, want %d", fetched, len(urls))
			}
			if largest := store.largestClaim(); largest < 2 {
				t.Errorf("the largest claim statement claimed %d hashes, want the requests waiting for the busy worker together", largest)
			}
		})
	}
}

// claimCountingStore is a real store that remembers the most hashes one
// ClaimImageFetches call claimed.
type claimCountingStore struct {
	imaging.Store
	mu      sync.Mutex
	largest int
}

func (s *claimCountingStore) ClaimImageFetches(ctx context.Context, owner string, now, leaseUntil time.Time, claims []db.ImageClaim) (map[string]db.ImageFetch, error) {
	s.mu.Lock()
	s.largest = max(s.largest, len(claims))
	s.mu.Unlock()
	return s.Store.ClaimImageFetches(ctx, owner, now, leaseUntil, claims)
}

func (s *claimCountingStore) largestClaim() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.largest
}

// TestStopDuringFetches stops a compactor while fetches hang in the server,
// then starts another: the second settles everything, and no URL has more
// than one complete response.
func TestStopDuringFetches(t *testing.T) {
	k := startKafka(t)
	store := testkit.OpenStore(t, dbtest.SQLiteURL(t))
	files := openFiles(t)
	server := imagingtest.NewServer(t)
	release := make(chan struct{})
	var started sync.WaitGroup
	var complete sync.Map // path -> *atomic.Int64: responses sent whole
	var urls []string
	for i := range 20 {
		path := "/pics/slow-" + string(rune('a'+i)) + ".jpg"
		urls = append(urls, server.URL+path)
		if i < 4 { // the first four hang until released
			started.Add(1)
			var once sync.Once
			server.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				once.Do(started.Done)
				select {
				case <-release:
				case <-r.Context().Done():
					return
				}
				w.Write(imagingtest.Image(r.URL.Path))
				n, _ := complete.LoadOrStore(r.URL.Path, new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
			}))
		}
	}
	cfg := kafkaConfig(k, store, files, k.writer, server, imaging.GroupID)
	cfg.AttemptTimeout = 20 * time.Second // the hang is ended by the stop, not by a timeout
	cfg.ClaimLease = time.Minute
	cfg.ShutdownGrace = 100 * time.Millisecond
	first := runCompactor(t, newCompactor(t, cfg))
	k.request(t, urls)
	started.Wait()
	first.stop(t)

	second := runCompactor(t, newCompactor(t, cfg))
	close(release)
	k.waitSettled(t, imaging.GroupID)
	// Claims the first gave up unfetched were claimed again by the second:
	// what counts is that every URL is cached and none was fetched twice.
	hashes := make([]string, len(urls))
	for i, u := range urls {
		hashes[i] = db.URLHash(u)
	}
	records, err := store.ImageFetches(context.Background(), hashes)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range urls {
		if r := records[db.URLHash(u)]; r.Status != db.ImageCached {
			t.Errorf("%s: %s, want cached", u, describe(r.ImageState))
		}
	}
	complete.Range(func(path, n any) bool {
		if got := n.(*atomic.Int64).Load(); got != 1 {
			t.Errorf("%s was answered in full %d times, want once", path, got)
		}
		return true
	})
	for _, u := range urls[4:] {
		p, _ := url.Parse(u)
		if n := server.Requests(p.Path); n != 1 {
			t.Errorf("%d requests for %s, which never hung, want 1", n, p.Path)
		}
	}
	if s := second.compactor.Stats(); s.Cached < 4 {
		t.Errorf("the second compactor fetched %d images, want at least the 4 cut off", s.Cached)
	}
}

// TestSlowImageHoldsOnlyItself requests 20 images of which one hangs or
// waits out a long Retry-After: the other 19 are cached and published
// meanwhile, the slow request is not committed, and after a restart the
// next compactor settles it, fetching every other URL no more.
func TestSlowImageHoldsOnlyItself(t *testing.T) {
	tests := []struct {
		name      string
		slow      func() http.Handler // a new one per backend: a Sequence counts its requests
		configure func(*imaging.Config)
	}{
		{
			name: "a hanging fetch",
			slow: func() http.Handler { return imagingtest.Sequence(imagingtest.Hang(), nil) },
			configure: func(cfg *imaging.Config) {
				cfg.AttemptTimeout = 20 * time.Second // the hang is ended by the stop
				cfg.ClaimLease = time.Minute
			},
		},
		{
			name: "a fetch in back-off",
			slow: func() http.Handler {
				return imagingtest.Sequence(imagingtest.Status(http.StatusServiceUnavailable, "Retry-After", "3600"), nil)
			},
			configure: func(cfg *imaging.Config) {
				cfg.BackoffMax = 2 * time.Hour // the back-off is ended by the stop
			},
		},
	}
	for _, backend := range dbtest.Backends() {
		for _, tc := range tests {
			t.Run(backend.Name+"/"+tc.name, func(t *testing.T) {
				k := startKafka(t)
				store := testkit.OpenStore(t, backend.URL(t))
				server := imagingtest.NewServer(t)
				var urls []string
				for i := range 20 {
					urls = append(urls, server.URL+"/pics/flow-"+string(rune('a'+i))+".jpg")
				}
				slowPath := "/pics/flow-e.jpg"
				server.Handle(slowPath, tc.slow())
				pub := &recordingPublisher{next: k.writer}
				cfg := kafkaConfig(k, store, openFiles(t), pub, server, imaging.GroupID)
				cfg.ShutdownGrace = 100 * time.Millisecond
				tc.configure(&cfg)
				first := runCompactor(t, newCompactor(t, cfg))
				k.request(t, urls)

				others := slices.DeleteFunc(slices.Clone(urls), func(u string) bool { return strings.HasSuffix(u, slowPath) })
				deadline := time.Now().Add(waitLimit)
				for !allPublished(t, pub, others) {
					if time.Now().After(deadline) {
						t.Fatal("the other images were not published while one was slow")
					}
					time.Sleep(20 * time.Millisecond)
				}
				checkAllCached(t, store, others)
				lag, err := bus.Lag(context.Background(), bus.Cluster{Brokers: k.brokers}, imaging.GroupID, bus.TopicImageRequests)
				if err != nil || lag < 1 {
					t.Errorf("lag %d (%v) while one image is unsettled, want at least 1", lag, err)
				}
				first.stop(t)

				runCompactor(t, newCompactor(t, cfg))
				k.waitSettled(t, imaging.GroupID)
				checkAllCached(t, store, others)
				records, err := store.ImageFetches(context.Background(), []string{db.URLHash(server.URL + slowPath)})
				if err != nil {
					t.Fatal(err)
				}
				if r := records[db.URLHash(server.URL+slowPath)]; r.Status != db.ImageCached {
					t.Errorf("the slow image is %s after the restart, want cached", describe(r.ImageState))
				}
				for _, u := range others {
					p, _ := url.Parse(u)
					if n := server.Requests(p.Path); n != 1 {
						t.Errorf("%d requests for %s, want 1", n, p.Path)
					}
				}
				if n := server.Requests(slowPath); n != 2 {
					t.Errorf("%d requests for the slow image, want 2 (the one cut off and the one after the restart)", n)
				}
			})
		}
	}
}

// allPublished reports whether an outcome was published for each of urls.
func allPublished(t *testing.T, pub *recordingPublisher, urls []string) bool {
	t.Helper()
	published := map[string]bool{}
	for _, o := range pub.outcomes(t) {
		published[o.URL] = true
	}
	for _, u := range urls {
		if !published[u] {
			return false
		}
	}
	return true
}

// TestCompactorsShareABucket runs two compactors as on two hosts: each with
// a temporary directory of its own, one database and one bucket between
// them. Every URL is fetched once, and the bucket holds the bytes of each
// cached image, with its media type, however many URLs carry them.
func TestCompactorsShareABucket(t *testing.T) {
	urls := feedImageURLs(t, samples.Head.Path(t))
	paths := distinctPaths(t, urls)
	srv := imagingtest.FakeS3(t)
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			k := startKafka(t)
			store := testkit.OpenStore(t, backend.URL(t))
			server, realHosts := realHostServer(t)
			server.SetLatency(20 * time.Millisecond) // fetches overlap
			prefix := "share-" + backend.Name
			var compactors []*running
			for range 2 {
				cfg := kafkaConfig(k, store, openS3(t, srv, prefix), k.writer, server, imaging.GroupID)
				cfg.TempDir = t.TempDir()
				realHosts(&cfg)
				compactors = append(compactors, runCompactor(t, newCompactor(t, cfg)))
			}
			k.request(t, urls)
			k.waitSettled(t, imaging.GroupID)
			checkOnePerURL(t, server, paths, "two compactors sharing a bucket")
			bucket := openS3(t, srv, prefix)
			for u, r := range checkAllStored(t, store, bucket, urls) {
				key, _ := imaging.ContentKey(*r.ContentSHA256)
				if info, err := bucket.Stat(t.Context(), key); err != nil || info.ContentType != *r.ContentType {
					t.Errorf("%s: object type %q (%v), want %s", u, info.ContentType, err, *r.ContentType)
				}
			}
			if fetched := totalCached(compactors); fetched != int64(len(paths)) {
				t.Errorf("the compactors fetched %d images between them, want %d", fetched, len(paths))
			}
		})
	}
}

// TestStopDuringUploads stops a compactor while its uploads to the bucket
// hang half-sent, then starts another: no object is left from a cut-off
// upload, the second compactor stores every image, and no URL is fetched
// more than once after the first compactor gave up.
func TestStopDuringUploads(t *testing.T) {
	var hang atomic.Bool
	hang.Store(true)
	hung := make(chan struct{}, 100)
	srv := imagingtest.FakeS3Behind(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && hang.Load() {
				// The bucket gets half the body, then the upload hangs until
				// the client gives up: an upload cut off mid-way.
				r.Body = &hangingBody{r: io.LimitReader(r.Body, r.ContentLength/2), ctx: r.Context(), hung: hung}
			}
			next.ServeHTTP(w, r)
		})
	})
	k := startKafka(t)
	store := testkit.OpenStore(t, dbtest.SQLiteURL(t))
	server := imagingtest.NewServer(t)
	var urls []string
	for i := range 8 {
		urls = append(urls, fmt.Sprintf("%s/pics/upload-%d.jpg", server.URL, i))
	}
	newCfg := func() imaging.Config {
		cfg := kafkaConfig(k, store, openS3(t, srv, "uploads"), k.writer, server, imaging.GroupID)
		cfg.TempDir = t.TempDir()
		cfg.ClaimLease = time.Minute
		cfg.ShutdownGrace = 100 * time.Millisecond
		return cfg
	}
	first := runCompactor(t, newCompactor(t, newCfg()))
	k.request(t, urls)
	select {
	case <-hung:
	case <-time.After(waitLimit):
		t.Fatal("no upload reached the bucket")
	}
	first.stop(t)
	bucket := openS3(t, srv, "uploads")
	if keys := listKeys(t, bucket, ""); len(keys) != 0 {
		t.Fatalf("objects after uploads were cut off: %v", keys)
	}
	fetchedBefore := server.Total()

	hang.Store(false)
	second := runCompactor(t, newCompactor(t, newCfg()))
	k.waitSettled(t, imaging.GroupID)
	checkAllStored(t, store, bucket, urls)
	if got := server.Total() - fetchedBefore; got > len(urls) {
		t.Errorf("%d fetches after the stop for %d URLs", got, len(urls))
	}
	if s := second.compactor.Stats(); s.Cached == 0 {
		t.Errorf("the second compactor stored nothing: %+v", s)
	}
}

// checkAllStored fails unless every URL is cached and its bytes are in
// objects whole. It returns the records of the URLs that are, by URL.
func checkAllStored(t *testing.T, store *db.Store, objects imaging.ObjectStore, urls []string) map[string]db.ImageFetch {
	t.Helper()
	hashes := make([]string, len(urls))
	for i, u := range urls {
		hashes[i] = db.URLHash(u)
	}
	records, err := store.ImageFetches(t.Context(), hashes)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]db.ImageFetch{}
	for _, u := range urls {
		r := records[db.URLHash(u)]
		if r.Status != db.ImageCached || r.ContentSHA256 == nil {
			t.Errorf("%s: %s, want cached", u, describe(r.ImageState))
			continue
		}
		key, _ := imaging.ContentKey(*r.ContentSHA256)
		parsed, _ := url.Parse(u)
		if got := readAll(t, objects, key); !bytes.Equal(got, imagingtest.Image(parsed.Path)) {
			t.Errorf("%s: the store's %d bytes are not the image served", u, len(got))
			continue
		}
		stored[u] = r
	}
	return stored
}

// hangingBody gives what r gives, then blocks until ctx ends and fails.
type hangingBody struct {
	r    io.Reader
	ctx  context.Context
	hung chan<- struct{}
	once sync.Once
}

func (b *hangingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != io.EOF {
		return n, err
	}
	b.once.Do(func() { b.hung <- struct{}{} })
	<-b.ctx.Done()
	return n, b.ctx.Err()
}

func (b *hangingBody) Close() error { return nil }

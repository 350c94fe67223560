package main

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"marquee/bus"
	"marquee/db"
	"marquee/db/dbtest"
	"marquee/imaging"
	"marquee/imaging/imagingtest"
	"marquee/ingest/feedgen"
	"marquee/internal/testport"
)

// TestFaults runs Marquee as production does, one process per part -- a
// `marquee broker`, MariaDB, and separate ingest, imaging and load processes
// -- on a generated feed whose images a local server provides, and injects
// the faults it will meet there, one after the other, in the middle of the
// work:
//
//   - kill -9 of the loader while it loads, then a restart;
//   - MariaDB stopped for 10 s while the compactor and the loader work;
//   - kill -9 of the compactor while it fetches and uploads into the image
//     store, a bucket of an S3 fake whose uploads take 30 ms each, then a
//     restart;
//   - a restart of the broker (its data dir kept) while images are fetched;
//   - kill -9 of ingest in the middle of a second feed run, then that run
//     again once the dead one is abandoned.
//
// Afterwards the database equals the second feed (dev verify), every
// distinct image URL was fetched exactly once (save those a kill -9 cut off,
// at most one more each), every image is cached with its bytes whole in the
// bucket, and no message is left
// unconsumed or dead-lettered. `make test-faults` runs it; it takes a couple
// of minutes, so `make test` skips it.
func TestFaults(t *testing.T) {
	if os.Getenv("MARQUEE_TEST_FAULTS") == "" {
		t.Skip("multi-process fault test: run it with make test-faults (MARQUEE_TEST_FAULTS=1)")
	}
	ctx := t.Context()
	binary := buildMarquee(t)

	mysql := dbtest.StartLocalServer(t)
	mysql.Admin(t, "CREATE DATABASE marquee CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
	dbURL := mysql.URL("marquee")

	// 30 ms a request and 8 fetches at once: about 250 images/s, so the
	// compactor is still at work when its faults come.
	images := newCountingImages(t, 30*time.Millisecond)
	const items = 4000
	dir := t.TempDir()
	feed1, feed2 := filepath.Join(dir, "feed-1.json"), filepath.Join(dir, "feed-2.json")
	writeFeed(t, feed1, feedgen.Options{Items: items, Seed: 11, Generation: 0, ImageBase: images.URL + "/"})
	writeFeed(t, feed2, feedgen.Options{Items: items, Seed: 11, Generation: 1, ChangeRatio: 0.05, ImageBase: images.URL + "/"})

	brokerAddr := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	brokerDir := filepath.Join(dir, "broker")
	brokerArgs := []string{"broker", "--addr", brokerAddr, "--data-dir", brokerDir, "--log-format", "json"}
	broker := startProcess(t, binary, brokerArgs...)
	broker.waitForLog(t, brokerListening, 30*time.Second)
	brokers := []string{brokerAddr}

	common := []string{"--db", dbURL, "--kafka-brokers", brokerAddr, "--http-addr", "127.0.0.1:0", "--log-format", "json"}
	if out := runMarquee(ctx, t, binary, append([]string{"migrate"}, common[:2]...)...); out.err != nil {
		t.Fatalf("migrate: %v\n%s", out.err, out.stderr)
	}
	loadArgs := append([]string{"load"}, common...)
	// The image store is a bucket whose uploads take a while, so that the
	// compactor's kill -9 cuts some off.
	bucket := imagingtest.FakeS3Behind(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut {
				time.Sleep(30 * time.Millisecond)
			}
			next.ServeHTTP(w, r)
		})
	})
	imagingArgs := append([]string{"imaging", "--data-dir", filepath.Join(dir, "imaging"),
		"--images-allow-private-networks", "--images-workers", "8",
		"--images-store", "s3://" + bucket.Bucket + "/faults", "--s3-endpoint", bucket.Endpoint, "--s3-region", "us-east-1",
		"--s3-path-style", "--s3-access-key-id", bucket.AccessKeyID, "--s3-secret-access-key", bucket.SecretAccessKey}, common...)
	ingestArgs := func(feed string) []string {
		return append([]string{"ingest", "--once", "--feed", feed, "--data-dir", t.TempDir(), "--feed-abandon-after", "3s"}, common...)
	}

	load := startProcess(t, binary, loadArgs...)
	compactor := startProcess(t, binary, imagingArgs...)

	// Run 1: with external Kafka, ingest --once publishes and exits.
	run1 := runMarquee(ctx, t, binary, ingestArgs(feed1)...)
	if run1.err != nil || !strings.HasPrefix(run1.stdout, "status=completed") {
		t.Fatalf("first feed run: %v\n%s\n%s", run1.err, run1.stdout, tail(run1.stderr))
	}
	requested := summaryField(t, run1.stdout, "images_requested")
	t.Logf("run 1: %s", strings.TrimSpace(run1.stdout))

	// Fault 1: kill -9 the loader a third of the way through.
	valid := summaryField(t, run1.stdout, "valid")
	n := waitForRows(t, dbURL, load, func(n int) bool { return n >= valid/3 }, 2*time.Minute)
	load.kill(t)
	t.Logf("fault 1: killed the loader at %d of %d performers", n, valid)
	load = startProcess(t, binary, loadArgs...)
	// A worker that starts while the database or the broker is down exits
	// at once; the faults below are about workers that run when it goes.
	load.waitForLog(t, workerConnected, 30*time.Second)

	// Fault 2: stop MariaDB for 10 s while images are being fetched.
	waitForImages(t, images, requested/5, compactor)
	mysql.Stop(t)
	t.Logf("fault 2: MariaDB stopped with %d of %d images fetched", images.Total(), requested)
	time.Sleep(10 * time.Second)
	mysql.Start(t)

	// Fault 3: kill -9 the compactor in the middle of its work.
	waitForImages(t, images, requested/2, compactor)
	compactor.kill(t)
	// What the server answered but the compactor had not recorded when it
	// died (fetches in flight, bytes being stored, outcomes being written)
	// is all that may be fetched a second time.
	served := len(images.Counts())
	recordedAtKill := countSettledFetches(t, dbURL)
	unrecorded := served - recordedAtKill
	t.Logf("fault 3: killed the compactor with %d of %d URLs fetched, %d of them not yet recorded", served, requested, unrecorded)
	compactor = startProcess(t, binary, imagingArgs...)
	compactor.waitForLog(t, workerConnected, 30*time.Second)

	// Fault 4: restart the broker, its log kept, while images are fetched.
	waitForImages(t, images, requested*3/4, compactor)
	if err := broker.stop(t, 30*time.Second); err != nil {
		t.Fatalf("stopping the broker: %v", err)
	}
	broker = startProcess(t, binary, brokerArgs...)
	broker.waitForLog(t, brokerListening, 30*time.Second)
	t.Logf("fault 4: restarted the broker with %d of %d images fetched", images.Total(), requested)

	// Fault 5: kill -9 ingest in the middle of the second run, and run it
	// again once the dead run counts as abandoned.
	killed := startProcess(t, binary, ingestArgs(feed2)...)
	killed.waitForLog(t, regexp.MustCompile(`"msg":"(feed run started)"`), time.Minute)
	time.Sleep(150 * time.Millisecond)
	killed.kill(t)
	t.Logf("fault 5: killed ingest during the second run")
	time.Sleep(3500 * time.Millisecond)
	run2 := runMarquee(ctx, t, binary, ingestArgs(feed2)...)
	if run2.err != nil || !strings.HasPrefix(run2.stdout, "status=completed") {
		t.Fatalf("second feed run after the kill: %v\n%s\n%s", run2.err, run2.stdout, tail(run2.stderr))
	}
	t.Logf("run 2: %s", strings.TrimSpace(run2.stdout))

	// Everything settles: every group has committed every message, in one
	// pass that reads the compactor's group before the images loader's (its
	// last outcomes give the loader new work after it may have caught up).
	settleOrder := []struct{ group, topic string }{
		{loaderGroup(bus.TopicPornstars), bus.TopicPornstars},
		{imaging.GroupID, bus.TopicImageRequests},
		{loaderGroup(bus.TopicImages), bus.TopicImages},
	}
	deadline := time.Now().Add(5 * time.Minute)
	for settled := false; !settled; {
		settled = true
		for _, g := range settleOrder {
			lag, err := bus.Lag(ctx, bus.Cluster{Brokers: brokers}, g.group, g.topic)
			if err != nil || lag != 0 {
				settled = false
				if time.Now().After(deadline) {
					t.Fatalf("%s did not catch up on %s: lag %d (%v)", g.group, g.topic, lag, err)
				}
			}
		}
		for _, p := range []*process{load, compactor} {
			if p.exited() {
				t.Fatalf("%s exited: %v\n%s", p.name, p.err, tail(p.stderr.String()))
			}
		}
		if !settled {
			time.Sleep(200 * time.Millisecond)
		}
	}
	for _, p := range []*process{load, compactor} {
		if err := p.stop(t, 30*time.Second); err != nil {
			t.Errorf("%s did not stop cleanly: %v\n%s", p.name, err, tail(p.stderr.String()))
		}
	}

	// The database equals the second feed.
	verify := runMarquee(ctx, t, binary, "dev", "verify", "--feed", feed2, "--db", dbURL)
	if verify.err != nil {
		t.Fatalf("dev verify: the database differs from the feed: %v\n%s\n%s", verify.err, tail(verify.stdout), tail(verify.stderr))
	}

	// Every distinct URL was fetched once; only the fetches the compactor's
	// kill -9 cut off may have been made twice, at most 8 (its workers).
	d, err := db.Open(ctx, db.Options{URL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var distinct, cached int
	if err := d.R.QueryRowContext(ctx, "SELECT COUNT(DISTINCT url_hash) FROM thumbnails").Scan(&distinct); err != nil {
		t.Fatal(err)
	}
	if err := d.R.QueryRowContext(ctx, "SELECT COUNT(*) FROM images WHERE status = 'cached' AND url_hash IN (SELECT url_hash FROM thumbnails)").Scan(&cached); err != nil {
		t.Fatal(err)
	}
	if cached != distinct {
		t.Errorf("%d of %d distinct image URLs cached", cached, distinct)
		for _, p := range []*process{load, compactor, broker} {
			for _, line := range strings.Split(p.stderr.String(), "\n") {
				if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) {
					t.Logf("%s: %.400s", p.name, line)
				}
			}
		}
		published := publishedImageKeys(t, brokers)
		rows, err := d.R.QueryContext(ctx, `SELECT t.url, COALESCE(i.status, 'no images row'), COALESCE(f.status, 'no fetch row'), COALESCE(f.owner, ''), COALESCE(f.claims, 0)
			FROM thumbnails t LEFT JOIN images i ON i.url_hash = t.url_hash LEFT JOIN image_fetches f ON f.url_hash = t.url_hash
			WHERE i.status IS NULL OR i.status <> 'cached'`)
		if err == nil {
			for rows.Next() {
				var url, img, fetch, owner string
				var claims int
				rows.Scan(&url, &img, &fetch, &owner, &claims)
				t.Logf("not cached: %s: images %s, image_fetches %s (owner %s, claims %d), %d outcome messages on %s",
					url, img, fetch, owner, claims, published[db.URLHash(url)], bus.TopicImages)
			}
			rows.Close()
		}
	}
	twice := 0
	for path, count := range images.Counts() {
		switch {
		case count == 2:
			twice++
		case count > 2:
			t.Errorf("%s was fetched %d times", path, count)
		}
	}
	if twice > unrecorded {
		t.Errorf("%d URLs were fetched twice; only the %d fetched but not yet recorded at the compactor's kill -9 may be", twice, unrecorded)
	}
	// The images table keeps the outcomes of URLs whose performers left
	// the feed since: every URL the server saw is there once, cached.
	var recorded, recordedCached int
	if err := d.R.QueryRowContext(ctx, "SELECT COUNT(*), COUNT(CASE WHEN status = 'cached' THEN 1 END) FROM images").Scan(&recorded, &recordedCached); err != nil {
		t.Fatal(err)
	}
	fetchedURLs := len(images.Counts())
	if fetchedURLs != recorded || recordedCached != recorded {
		t.Errorf("the server saw %d distinct URLs; the images table has %d, %d of them cached", fetchedURLs, recorded, recordedCached)
	}
	t.Logf("images: %d distinct URLs in the database, %d cached, %d requested from the server (%d URLs, %d of them twice, cut off by the kill -9)",
		distinct, cached, images.Total(), fetchedURLs, twice)

	// Every cached image's bytes are in the bucket whole: no upload the
	// kill -9 cut off left an object, or a record without one.
	store, err := imaging.OpenS3Store(ctx, imaging.S3Options{Endpoint: bucket.Endpoint, Region: "us-east-1", PathStyle: true,
		AccessKeyID: bucket.AccessKeyID, SecretAccessKey: bucket.SecretAccessKey, Bucket: bucket.Bucket, Prefix: "faults"})
	if err != nil {
		t.Fatal(err)
	}
	objects := map[string]int64{}
	if err := store.List(ctx, "", func(info imaging.ObjectInfo) error {
		objects[info.Key] = info.Size
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rows, err := d.R.QueryContext(ctx, "SELECT content_sha256, bytes FROM images WHERE status = 'cached'")
	if err != nil {
		t.Fatal(err)
	}
	missing := 0
	for rows.Next() {
		var content string
		var size int64
		if err := rows.Scan(&content, &size); err != nil {
			t.Fatal(err)
		}
		key, _ := imaging.ContentKey(content)
		if got, ok := objects[key]; !ok || got != size {
			missing++
		}
	}
	rows.Close()
	if missing > 0 {
		t.Errorf("%d cached images have no whole object in the bucket", missing)
	}
	t.Logf("bucket: %d objects", len(objects))

	// Nothing dead-lettered: a database or broker outage is retried, never
	// dead-lettered. (Any dead letter would be counted here and reported.)
	for _, topic := range bus.DataTopics() {
		dlq := bus.DeadLetterTopic(topic)
		lags, err := bus.PartitionLags(ctx, bus.Cluster{Brokers: brokers}, "marquee-faults-dlq-reader", dlq)
		if err != nil {
			t.Fatalf("counting %s: %v", dlq, err)
		}
		total := int64(0)
		for _, l := range lags {
			total += l
		}
		if total != 0 {
			t.Errorf("%s holds %d dead letters", dlq, total)
		}
	}
}

func writeFeed(t *testing.T, path string, opts feedgen.Options) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := feedgen.Write(f, opts); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// publishedImageKeys reads marquee.images from the start with a group of
// its own and counts the messages per key.
func publishedImageKeys(t *testing.T, brokers []string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	group := fmt.Sprintf("marquee-faults-images-%d", time.Now().UnixNano())
	c, err := bus.NewConsumer(bus.ConsumerConfig{Cluster: bus.Cluster{Brokers: brokers}, GroupID: group, Topic: bus.TopicImages})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	keys := map[string]int{}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- c.Run(runCtx, func(_ context.Context, msgs []bus.Message) ([]bus.DeadLetter, error) {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range msgs {
				keys[m.Key]++
			}
			return nil, nil
		})
	}()
	for {
		lag, err := bus.Lag(ctx, bus.Cluster{Brokers: brokers}, group, bus.TopicImages)
		if err == nil && lag == 0 {
			if n, _ := bus.Lag(ctx, bus.Cluster{Brokers: brokers}, loaderGroup(bus.TopicImages), bus.TopicImages); true {
				t.Logf("read marquee.images again: %d keys; the loader's lag is %d", len(keys), n)
			}
			break
		}
		if ctx.Err() != nil {
			t.Logf("reading marquee.images again did not finish: lag %d, %v", lag, err)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	stop()
	<-done
	mu.Lock()
	defer mu.Unlock()
	return maps.Clone(keys)
}

// countSettledFetches counts the compactors' recorded outcomes.
func countSettledFetches(t *testing.T, dbURL string) int {
	t.Helper()
	d, err := db.Open(t.Context(), db.Options{URL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var n int
	if err := d.R.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM image_fetches WHERE status IN ('cached', 'failed')").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitForImages waits until the image server has answered n requests.
func waitForImages(t *testing.T, images *countingImages, n int, compactor *process) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for images.Total() < n {
		if compactor.exited() {
			t.Fatalf("the compactor exited: %v\n%s", compactor.err, tail(compactor.stderr.String()))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d image requests after 3 minutes\n%s", images.Total(), n, tail(compactor.stderr.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func summaryField(t *testing.T, summary, field string) int {
	t.Helper()
	m := regexp.MustCompile(`\b` + field + `=(\d+)`).FindStringSubmatch(summary)
	if m == nil {
		t.Fatalf("no %s in %q", field, summary)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// freeTCPPort is a loopback port that is free now and outside the kernel's
// ephemeral range (testport), so that nothing else is handed it before the
// process under test binds it.
func freeTCPPort(t testing.TB) int {
	t.Helper()
	return testport.Port(t)
}

// countingImages serves a valid image at every path, after latency, and
// counts requests per URL (host and path: a feed re-hosts images between
// 127.0.0.1 and localhost, one URL each, identical bytes).
type countingImages struct {
	*httptest.Server
	mu     sync.Mutex
	counts map[string]int
	total  int
}

func newCountingImages(t *testing.T, latency time.Duration) *countingImages {
	c := &countingImages{counts: map[string]int{}}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.counts[r.Host+r.URL.Path]++
		c.total++
		c.mu.Unlock()
		time.Sleep(latency)
		w.Header().Set("Content-Type", "image/png")
		w.Write(imagingtest.Image(r.URL.Path))
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *countingImages) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

func (c *countingImages) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.counts)
}

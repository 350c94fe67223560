package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"marquee/bus"
	"marquee/db"
	"marquee/imaging"
	"marquee/imaging/imagingtest"
	"marquee/ingest"
	"marquee/internal/testkit"
	"marquee/server"
)

// imageHosts serves the real feed's image hosts (ei. and di.phncdn.com) over
// TLS from 127.0.0.1 and returns the hook that points a command's compactor
// at it: every host resolves to it, its certificate is trusted, and its exact
// address is the only non-public one allowed. Tests never reach the internet.
func imageHosts(t *testing.T) (*imagingtest.Server, func(*imaging.Config)) {
	t.Helper()
	server, tlsConfig := imagingtest.NewTLSServer(t, "ei.phncdn.com", "di.phncdn.com")
	return server, func(cfg *imaging.Config) {
		cfg.Resolver = server.Resolve
		cfg.TLSConfig = tlsConfig
		cfg.AllowAddrs = append(cfg.AllowAddrs, server.AddrPort())
	}
}

// runPipeline runs the CLI in-process like runCLI, with the compactor's
// fetches sent to images.
func runPipeline(ctx context.Context, images func(*imaging.Config), args ...string) (code int, stdout, stderr string) {
	var out, errOut testkit.SyncBuffer
	code = run(ctx, args, environment{stdout: &out, stderr: &errOut, lookupEnv: envFrom(nil), configureImaging: images})
	return code, out.String(), errOut.String()
}

// feedImageRequests returns, for every URL path of the feeds' thumbnails,
// how many distinct URLs have it: the requests that fetching each distinct
// URL once makes to a server that answers every host (ei. and di. URLs of
// one path are two URLs of the same image).
func feedImageRequests(t *testing.T, feeds ...string) map[string]int {
	t.Helper()
	urls := map[string]bool{}
	for _, feed := range feeds {
		f, err := os.Open(feed)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ingest.ParseFeed(f, func(_ int, p db.Profile) error {
			for _, th := range p.Thumbnails {
				urls[th.URL] = true
			}
			return nil
		}, nil)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	requests := map[string]int{}
	for raw := range urls {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		requests[u.Path]++
	}
	return requests
}

// checkImageRequests fails unless the server saw exactly the requests
// per path of want and nothing else.
func checkImageRequests(t *testing.T, server *imagingtest.Server, want map[string]int, when string) {
	t.Helper()
	counts := server.Counts()
	for p, n := range counts {
		if n != want[p] {
			t.Errorf("%s: %d requests for %s, want %d (one per distinct feed URL of that path)", when, n, p, want[p])
		}
	}
	for p, n := range want {
		if counts[p] == 0 {
			t.Errorf("%s: no request for %s, want %d", when, p, n)
		}
	}
}

// countStoredImages counts the files of the image store in dataDir.
func countStoredImages(t *testing.T, dataDir string) int {
	t.Helper()
	n := 0
	root := filepath.Join(dataDir, "images")
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && path == filepath.Join(root, "tmp") {
			return filepath.SkipDir
		}
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestImagingCommand runs `marquee imaging` as a service on an external
// broker: it fetches every requested URL of the head fixture once, publishes
// the outcomes, serves its metrics and readiness, and stops on cancel.
func TestImagingCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	broker, err := bus.StartBroker(ctx, bus.BrokerConfig{Addr: "127.0.0.1:0", Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	if err := bus.EnsureTopics(ctx, bus.Cluster{Brokers: broker.Brokers()}, 3); err != nil {
		t.Fatal(err)
	}
	writer, err := bus.NewWriter(bus.WriterConfig{Cluster: bus.Cluster{Brokers: broker.Brokers()}})
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	f, err := os.Open(testFeed(t))
	if err != nil {
		t.Fatal(err)
	}
	var requests []bus.Message
	_, err = ingest.ParseFeed(f, func(_ int, p db.Profile) error {
		for _, th := range p.Thumbnails {
			requests = append(requests, imageRequest(t, th.URL))
		}
		return nil
	}, nil)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := writer.Publish(ctx, bus.TopicImageRequests, requests...); err != nil {
		t.Fatal(err)
	}

	images, hook := imageHosts(t)
	dataDir := t.TempDir()
	serving := make(chan net.Addr, 1)
	exit := make(chan int, 1)
	var stderr testkit.SyncBuffer
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	env := environment{stdout: io.Discard, stderr: &stderr, lookupEnv: envFrom(nil), configureImaging: hook,
		serverStarting: func(srv *server.Server) { serving <- srv.Addr() }}
	go func() {
		exit <- run(runCtx, []string{"imaging", "--kafka-brokers", broker.Addr(), "--data-dir", dataDir,
			"--http-addr", "127.0.0.1:0", "--log-format", "json"}, env)
	}()
	var base string
	select {
	case addr := <-serving:
		base = "http://" + addr.String()
	case code := <-exit:
		t.Fatalf("marquee imaging exited %d; stderr:\n%s", code, stderr.String())
	}
	if err := waitCommitted(ctx, bus.Cluster{Brokers: broker.Brokers()}, imaging.GroupID, bus.TopicImageRequests); err != nil {
		t.Fatalf("the requests did not settle: %v\n%s", err, tail(stderr.String()))
	}
	checkImageRequests(t, images, feedImageRequests(t, testFeed(t)), "marquee imaging")
	if n := countStoredImages(t, dataDir); n != 96 {
		t.Errorf("%d files in the image store, want 96", n)
	}
	if code, _, body := get(t, base+"/readyz"); code != 200 || !strings.Contains(body, `"kafka":"ok"`) {
		t.Errorf("GET /readyz = %d %s", code, body)
	}
	_, _, metrics := get(t, base+"/metrics")
	for _, want := range []string{"marquee_imaging_http_requests_total 96", `marquee_imaging_fetches_total{status="cached"} 96`,
		fmt.Sprintf("marquee_imaging_requests_total %d", len(requests)), "marquee_imaging_fetches_in_flight 0"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// An operator's refresh: the one URL named is fetched once more; a hash
	// never requested is left alone and reported (exit 1).
	refreshed := requests[0].Key
	var refreshedPath string
	for path := range feedImageRequests(t, testFeed(t)) {
		if images.Requests(path) == 1 && strings.Contains(string(requests[0].Value), path) {
			refreshedPath = path
		}
	}
	unknown := strings.Repeat("0", 64)
	code, stdout, refreshErr := runCLI(ctx, nil, "imaging", "refresh", "--kafka-brokers", broker.Addr(),
		"--data-dir", dataDir, refreshed, unknown)
	if code != exitFailure || !strings.Contains(stdout, refreshed+" refresh requested") ||
		!strings.Contains(stdout, unknown+" left alone") {
		t.Fatalf("imaging refresh: exit %d\n%s\n%s", code, stdout, refreshErr)
	}
	for deadline := time.Now().Add(waitLimit); images.Requests(refreshedPath) < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("the refreshed image %s was not fetched again\n%s", refreshedPath, tail(stderr.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := waitCommitted(ctx, bus.Cluster{Brokers: broker.Brokers()}, imaging.GroupID, bus.TopicImageRequests); err != nil {
		t.Fatal(err)
	}
	if total := images.Total(); total != 97 {
		t.Errorf("%d image requests after one refresh, want 96 + 1", total)
	}
	if code, _, _ := runCLI(ctx, nil, "imaging", "refresh", "--kafka-brokers", broker.Addr(), "not-a-hash"); code != exitUsage {
		t.Errorf("imaging refresh of a malformed hash: exit %d, want %d", code, exitUsage)
	}

	stop()
	select {
	case code := <-exit:
		if code != exitOK {
			t.Fatalf("marquee imaging exited %d after its context ended; stderr:\n%s", code, tail(stderr.String()))
		}
	case <-time.After(waitLimit):
		t.Fatal("marquee imaging did not stop")
	}
}

func imageRequest(t *testing.T, url string) bus.Message {
	t.Helper()
	hash := db.URLHash(url)
	value := []byte(`{"url_hash":"` + hash + `","url":"` + url + `","requested_at":"` + time.Now().UTC().Format(time.RFC3339Nano) + `"}`)
	return bus.Message{Key: hash, Value: value}
}

func TestImagingCommandUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no brokers", []string{"imaging"}, nil, "marquee imaging needs --kafka-brokers"},
		{"no workers", []string{"imaging", "--kafka-brokers", "127.0.0.1:1", "--images-workers", "0"}, nil, "--images-workers (MARQUEE_IMAGES_WORKERS) must be at least 1"},
		{"a bad size", []string{"imaging", "--kafka-brokers", "127.0.0.1:1"}, map[string]string{"MARQUEE_IMAGES_MAX_BYTES": "huge"}, "MARQUEE_IMAGES_MAX_BYTES"},
		{"no pixels for ingest", []string{"ingest", "--once", "--images-max-pixels", "-1"}, nil, "--images-max-pixels (MARQUEE_IMAGES_MAX_PIXELS) must be at least 1"},
		{"a bad network variable", []string{"imaging", "--kafka-brokers", "127.0.0.1:1"}, map[string]string{"MARQUEE_IMAGES_ALLOW_NETWORKS": "127.0.0.0/8,10.0.0.0/33"},
			`invalid value "127.0.0.0/8,10.0.0.0/33" for MARQUEE_IMAGES_ALLOW_NETWORKS: "10.0.0.0/33" is not a network in CIDR notation`},
		{"an address for a network", []string{"run", "--images-allow-networks", "169.254.169.254"}, nil,
			`"169.254.169.254" is an address, not a network: write 169.254.169.254/32 for it alone`},
		{"a network with host bits for ingest", []string{"ingest", "--once", "--images-allow-networks", "10.1.2.3/8"}, nil,
			`"10.1.2.3/8" has bits set past its /8: write 10.0.0.0/8`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t.Context(), tc.env, tc.args...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
		})
	}
	_, stdout, _ := runCLI(t.Context(), nil, "imaging", "--help")
	for _, want := range []string{
		"Usage: marquee imaging [flags]",
		"--images-workers int", "$MARQUEE_IMAGES_WORKERS, default 16",
		"--images-per-host int", "$MARQUEE_IMAGES_PER_HOST, default 16",
		"--images-max-bytes size", "$MARQUEE_IMAGES_MAX_BYTES, default 10MiB",
		"--images-max-pixels int", "$MARQUEE_IMAGES_MAX_PIXELS, default 50000000",
		"--images-allow-networks CIDRs", "$MARQUEE_IMAGES_ALLOW_NETWORKS]",
		"--images-allow-private-networks", "$MARQUEE_IMAGES_ALLOW_PRIVATE_NETWORKS]",
		"--images-retry-cooldown duration", "$MARQUEE_IMAGES_RETRY_COOLDOWN, default 24h0m0s",
		"--kafka-brokers", "--db URL",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("marquee imaging --help lacks %q:\n%s", want, stdout)
		}
	}
}

// fetchImage polls GET /images/{url_hash} of base until it answers 200.
func fetchImage(t *testing.T, base, urlHash string) *http.Response {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		resp, err := http.Get(base + "/images/" + urlHash)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusOK {
			return resp
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || time.Now().After(deadline) {
			t.Fatalf("GET /images/%s = %d, want 404 until it is cached, then 200", urlHash, resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

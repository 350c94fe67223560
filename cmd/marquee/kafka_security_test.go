package main

import (
	"context"
	"crypto/tls"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"marquee/bus"
	"marquee/db/dbtest"
	"marquee/internal/testkit"
	"marquee/internal/testpki"
)

const (
	kafkaTestUser     = "marquee"
	kafkaTestPassword = "kafka-pw-5e9c1b7d"
)

// securedBroker runs `marquee broker` in-process with TLS and SCRAM-SHA-512,
// its password read from a file, and returns its address once it listens.
func securedBroker(t *testing.T, ctx context.Context, server testpki.KeyPair, passwordFile string) string {
	t.Helper()
	var stderr testkit.SyncBuffer
	exit := make(chan int, 1)
	env := environment{stdout: io.Discard, stderr: &stderr, lookupEnv: envFrom(map[string]string{
		"MARQUEE_KAFKA_TLS":                "true",
		"MARQUEE_KAFKA_TLS_CERT_FILE":      server.CertFile,
		"MARQUEE_KAFKA_TLS_KEY_FILE":       server.KeyFile,
		"MARQUEE_KAFKA_SASL_MECHANISM":     "SCRAM-SHA-512",
		"MARQUEE_KAFKA_SASL_USERNAME":      kafkaTestUser,
		"MARQUEE_KAFKA_SASL_PASSWORD_FILE": passwordFile,
	})}
	go func() {
		exit <- run(ctx, []string{"broker", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-format", "json"}, env)
	}()
	listening := regexp.MustCompile(`"msg":"marquee broker listening","addr":"([^"]+)"`)
	for deadline := time.Now().Add(waitLimit); ; {
		if m := listening.FindStringSubmatch(stderr.String()); m != nil {
			t.Cleanup(func() { <-exit }) // after the test's context ends
			return m[1]
		}
		select {
		case code := <-exit:
			t.Fatalf("marquee broker exited %d:\n%s", code, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("marquee broker did not listen:\n%s", stderr.String())
		}
	}
}

// TestSecuredKafkaPipeline runs the pipeline as separate commands (ingest,
// load, imaging) against `marquee broker` serving TLS and SCRAM-SHA-512, then
// reads the topics with a client of another library (franz-go) with the same
// settings. The database must equal the feed, every image must be cached, and
// no output may contain the password.
func TestSecuredKafkaPipeline(t *testing.T) {
	ca := testpki.NewCA(t, "kafka-ca")
	server := ca.Issue(t, "broker", "127.0.0.1")
	passwordFile := filepath.Join(t.TempDir(), "kafka-password")
	if err := os.WriteFile(passwordFile, []byte(kafkaTestPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			testSecuredKafkaPipeline(t, ca, server, passwordFile, backend.URL(t))
		})
	}
}

func testSecuredKafkaPipeline(t *testing.T, ca *testpki.CA, server testpki.KeyPair, passwordFile, dbURL string) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*waitLimit)
	defer cancel()
	brokerAddr := securedBroker(t, ctx, server, passwordFile)
	clientVars := map[string]string{
		"MARQUEE_KAFKA_BROKERS":            brokerAddr,
		"MARQUEE_KAFKA_TLS":                "true",
		"MARQUEE_KAFKA_TLS_CA_FILE":        ca.CertFile,
		"MARQUEE_KAFKA_SASL_MECHANISM":     "SCRAM-SHA-512",
		"MARQUEE_KAFKA_SASL_USERNAME":      kafkaTestUser,
		"MARQUEE_KAFKA_SASL_PASSWORD_FILE": passwordFile,
		"MARQUEE_DB":                       dbURL,
	}
	images, hook := imageHosts(t)
	imagesDir := t.TempDir()
	var outputs []*testkit.SyncBuffer
	workers := map[string][]string{
		"load":    {"load", "--http-addr", "127.0.0.1:0", "--log-format", "json"},
		"imaging": {"imaging", "--data-dir", imagesDir, "--http-addr", "127.0.0.1:0", "--log-format", "json"},
	}
	workCtx, stopWorkers := context.WithCancel(ctx)
	exits := make(chan int, len(workers))
	for _, args := range workers {
		stderr := &testkit.SyncBuffer{}
		outputs = append(outputs, stderr)
		env := environment{stdout: stderr, stderr: stderr, lookupEnv: envFrom(clientVars), configureImaging: hook}
		go func() { exits <- run(workCtx, args, env) }()
	}
	defer func() {
		stopWorkers()
		for range workers {
			if code := <-exits; code != exitOK {
				t.Errorf("a worker exited %d after its context ended", code)
			}
		}
		for _, out := range outputs {
			if strings.Contains(out.String(), kafkaTestPassword) {
				t.Errorf("a worker's output contains the Kafka password:\n%s", out)
			}
		}
	}()

	code, stdout, stderr := runCLI(ctx, clientVars, "ingest", "--once", "--feed", testFeed(t), "--data-dir", t.TempDir(),
		"--http-addr", "127.0.0.1:0", "--log-format", "json")
	summary := publishedSummary.FindStringSubmatch(stdout)
	if code != exitOK || summary == nil {
		t.Fatalf("ingest --once over TLS and SCRAM: exit %d, stdout %q\n%s", code, stdout, tail(stderr))
	}
	if strings.Contains(stdout+stderr, kafkaTestPassword) {
		t.Errorf("ingest's output contains the Kafka password")
	}

	cluster := bus.Cluster{Brokers: []string{brokerAddr}, TLS: &tls.Config{RootCAs: ca.Pool()}}
	var err error
	if cluster.SASL, err = bus.NewSASL(bus.SASLScramSHA512, kafkaTestUser, kafkaTestPassword); err != nil {
		t.Fatal(err)
	}
	if err := waitLoaded(ctx, cluster, bus.TopicPornstars); err != nil {
		t.Fatalf("the loader did not load the run: %v", err)
	}
	if err := waitImagesSettled(ctx, cluster); err != nil {
		t.Fatalf("the images did not settle: %v", err)
	}
	if code, out, errOut := runCLI(ctx, map[string]string{"MARQUEE_DB": dbURL}, "dev", "verify", "--feed", testFeed(t)); code != exitOK {
		t.Errorf("dev verify: exit %d: the database differs from the feed\n%s\n%s", code, tail(out), tail(errOut))
	}
	checkImageRequests(t, images, feedImageRequests(t, testFeed(t)), "marquee imaging over TLS and SCRAM")
	if n := countStoredImages(t, imagesDir); n != 96 {
		t.Errorf("%d files in the image store, want 96", n)
	}

	// Another library, the same settings: franz-go reads what Marquee wrote.
	valid, _ := strconv.Atoi(summary[2])
	if keys := readTopicWithFranz(t, ctx, brokerAddr, ca, bus.TopicPornstars, valid); len(keys) != valid {
		t.Errorf("franz-go read %d distinct keys from %s, want one per valid item: %d", len(keys), bus.TopicPornstars, valid)
	}
	if outcomes := readTopicWithFranz(t, ctx, brokerAddr, ca, bus.TopicImages, 96); len(outcomes) != 96 {
		t.Errorf("franz-go read %d distinct image outcomes, want 96", len(outcomes))
	}
}

// readTopicWithFranz reads topic from its start with franz-go's client over
// TLS (trusting ca) and SCRAM-SHA-512 until it has seen want distinct keys,
// and returns the keys.
func readTopicWithFranz(t *testing.T, ctx context.Context, brokerAddr string, ca *testpki.CA, topic string, want int) map[string]bool {
	t.Helper()
	client, err := kgo.NewClient(
		kgo.SeedBrokers(brokerAddr),
		kgo.DialTLSConfig(&tls.Config{RootCAs: ca.Pool()}),
		kgo.SASL(scram.Auth{User: kafkaTestUser, Pass: kafkaTestPassword}.AsSha512Mechanism()),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	readCtx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	keys := map[string]bool{}
	for len(keys) < want {
		fetches := client.PollFetches(readCtx)
		if readCtx.Err() != nil {
			t.Errorf("franz-go: %d distinct keys of %s read before the deadline, want %d", len(keys), topic, want)
			return keys
		}
		fetches.EachError(func(_ string, _ int32, err error) { t.Fatalf("franz-go: fetch %s: %v", topic, err) })
		fetches.EachRecord(func(r *kgo.Record) { keys[string(r.Key)] = true })
	}
	return keys
}

// TestSecuredKafkaRefusals starts `marquee load` against a broker serving
// TLS and SCRAM-SHA-512 with settings it refuses: the command must stop at
// once with the reason, not retry, and never print the password.
func TestSecuredKafkaRefusals(t *testing.T) {
	ca := testpki.NewCA(t, "kafka-ca")
	other := testpki.NewCA(t, "other-ca")
	server := ca.Issue(t, "broker", "127.0.0.1")
	dir := t.TempDir()
	passwordFile := filepath.Join(dir, "kafka-password")
	wrongPasswordFile := filepath.Join(dir, "wrong-password")
	for file, content := range map[string]string{passwordFile: kafkaTestPassword + "\n", wrongPasswordFile: "not-" + kafkaTestPassword} {
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*waitLimit)
	defer cancel()
	brokerAddr := securedBroker(t, ctx, server, passwordFile)
	good := map[string]string{
		"MARQUEE_KAFKA_BROKERS":            brokerAddr,
		"MARQUEE_KAFKA_TLS":                "true",
		"MARQUEE_KAFKA_TLS_CA_FILE":        ca.CertFile,
		"MARQUEE_KAFKA_SASL_MECHANISM":     "SCRAM-SHA-512",
		"MARQUEE_KAFKA_SASL_USERNAME":      kafkaTestUser,
		"MARQUEE_KAFKA_SASL_PASSWORD_FILE": passwordFile,
	}
	for _, tc := range []struct {
		name     string
		change   map[string]string // "" removes a variable
		wantCode int
		reason   string
	}{
		{"wrong password", map[string]string{"MARQUEE_KAFKA_SASL_PASSWORD_FILE": wrongPasswordFile}, exitFailure, "SASL"},
		{"unknown user", map[string]string{"MARQUEE_KAFKA_SASL_USERNAME": "nobody"}, exitFailure, "SASL"},
		{"untrusted certificate", map[string]string{"MARQUEE_KAFKA_TLS_CA_FILE": other.CertFile}, exitFailure, "certificate signed by unknown authority"},
		{"certificate for another name", map[string]string{"MARQUEE_KAFKA_TLS_SERVER_NAME": "kafka.example.test"}, exitFailure, "certificate"},
		{"no TLS", map[string]string{"MARQUEE_KAFKA_TLS": "", "MARQUEE_KAFKA_TLS_CA_FILE": ""}, exitFailure, "closed the connection"},
		{"CA file without TLS", map[string]string{"MARQUEE_KAFKA_TLS": ""}, exitUsage, "need --kafka-tls"},
		{"password and password file", map[string]string{"MARQUEE_KAFKA_SASL_PASSWORD": kafkaTestPassword}, exitUsage,
			"MARQUEE_KAFKA_SASL_PASSWORD and MARQUEE_KAFKA_SASL_PASSWORD_FILE are both set"},
		{"unknown mechanism", map[string]string{"MARQUEE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-1"}, exitUsage, "unknown SASL mechanism"},
		{"no password", map[string]string{"MARQUEE_KAFKA_SASL_PASSWORD_FILE": ""}, exitUsage, "needs a user name and a password"},
		{"client certificate without key", map[string]string{"MARQUEE_KAFKA_TLS_CERT_FILE": server.CertFile}, exitUsage, "go together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := maps.Clone(good)
			for k, v := range tc.change {
				if v == "" {
					delete(vars, k)
				} else {
					vars[k] = v
				}
			}
			code, stdout, stderr := runCLI(ctx, vars, "load", "--db", "sqlite://"+filepath.Join(t.TempDir(), "m.db"),
				"--http-addr", "127.0.0.1:0", "--log-format", "json")
			if ctx.Err() != nil {
				t.Fatalf("marquee load ran until the test's deadline instead of failing at start\n%s", tail(stderr))
			}
			if code != tc.wantCode || !strings.Contains(stderr, tc.reason) {
				t.Errorf("marquee load: exit %d, want %d with %q\n%s", code, tc.wantCode, tc.reason, tail(stderr))
			}
			if strings.Contains(stdout+stderr, kafkaTestPassword) {
				t.Errorf("the output contains the password:\n%s", stderr)
			}
		})
	}
}

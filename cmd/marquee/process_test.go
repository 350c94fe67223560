package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"marquee/bus"
	"marquee/db"
	"marquee/db/dbtest"
	"marquee/ingest/feedgen"
	"marquee/internal/testkit"
)

// TestKillLoaderMidRun kills `marquee load` (SIGKILL) while it is loading a
// feed run published to a standalone `marquee broker`, starts it again, and
// checks that the database then equals the feed: nothing lost (dev verify),
// nothing doubled (one pornstars row per valid item).
func TestKillLoaderMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a broker, ingest and two loaders as processes")
	}
	binary := buildMarquee(t)
	feedFile := filepath.Join(t.TempDir(), "feed.json")
	const items = 20_000
	if err := writeFeedFile(feedFile, items, 7, ""); err != nil {
		t.Fatal(err)
	}
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			// Most of each run is the wait for the killed member's session to
			// time out, so the backends wait side by side.
			t.Parallel()
			testKillLoaderMidRun(t, binary, feedFile, items, backend.URL(t))
		})
	}
}

func testKillLoaderMidRun(t *testing.T, binary, feedFile string, items int, dbURL string) {
	ctx := t.Context()
	broker := startProcess(t, binary, "broker", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-format", "json")
	brokerAddr := broker.waitForLog(t, brokerListening, 30*time.Second)
	brokers := []string{brokerAddr}

	// With external Kafka, ingest --once publishes the run and exits.
	ingestCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	published := runMarquee(ingestCtx, t, binary, "ingest", "--once", "--feed", feedFile, "--kafka-brokers", brokerAddr,
		"--db", dbURL, "--data-dir", t.TempDir(), "--http-addr", "127.0.0.1:0")
	summary := publishedSummary.FindStringSubmatch(published.stdout)
	if published.err != nil || summary == nil || summary[1] != strconv.Itoa(items) {
		t.Fatalf("ingest --once: %v, stdout %q, want a completed run of %d items\nstderr:\n%s",
			published.err, published.stdout, items, tail(published.stderr))
	}
	valid, _ := strconv.Atoi(summary[2])
	if changed, _ := strconv.Atoi(summary[3]); changed != valid || valid == 0 {
		t.Fatalf("ingest --once: %q: want every valid item published", published.stdout)
	}
	if n := countPornstars(t, dbURL); n != 0 {
		t.Fatalf("%d pornstars before any loader ran, want 0", n)
	}

	loadArgs := []string{"load", "--kafka-brokers", brokerAddr, "--db", dbURL, "--http-addr", "127.0.0.1:0", "--log-format", "json"}
	loadStart := time.Now()
	first := startProcess(t, binary, loadArgs...)
	// Kill it a third of the way: several batches applied and committed, the
	// rest still to come, and perhaps one applied but not yet committed.
	loadedAtKill := waitForRows(t, dbURL, first, func(n int) bool { return n >= valid/3 }, 2*time.Minute)
	if loadedAtKill >= valid {
		t.Fatalf("the first loader wrote all %d performers before it could be killed mid-run: make the feed larger", valid)
	}
	first.kill(t)
	afterKill := countPornstars(t, dbURL)
	if afterKill >= valid {
		t.Fatalf("the first loader wrote all %d performers before it died: nothing was left to redeliver", valid)
	}
	uncommitted, err := bus.Lag(ctx, bus.Cluster{Brokers: brokers}, loaderGroup(bus.TopicPornstars), bus.TopicPornstars)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed the first loader (SIGKILL) after %v with %d of %d performers loaded and %d messages committed: "+
		"%d applied but uncommitted, to be delivered again", time.Since(loadStart).Round(time.Millisecond),
		afterKill, valid, int64(valid)-uncommitted, max(0, int64(afterKill)-(int64(valid)-uncommitted)))

	restart := time.Now()
	second := startProcess(t, binary, loadArgs...)
	// The group gives the dead member's partitions away once its session
	// times out (the loader's 30 s), so allow several times that.
	deadline := time.Now().Add(3 * time.Minute)
	stableSince, lastCount := time.Time{}, -1
	for {
		if second.exited() {
			t.Fatalf("the restarted loader exited early\nstderr:\n%s", tail(second.stderr.String()))
		}
		lag, lagErr := bus.Lag(ctx, bus.Cluster{Brokers: brokers}, loaderGroup(bus.TopicPornstars), bus.TopicPornstars)
		n := countPornstars(t, dbURL)
		if n != lastCount {
			stableSince, lastCount = time.Now(), n
		}
		if lagErr == nil && lag == 0 && time.Since(stableSince) >= time.Second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted loader did not catch up: lag %d (err %v), %d of %d performers\nstderr:\n%s",
				lag, lagErr, n, valid, tail(second.stderr.String()))
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("the restarted loader caught up after %v", time.Since(restart).Round(time.Millisecond))
	if err := second.stop(t, 30*time.Second); err != nil {
		t.Errorf("the restarted loader did not stop cleanly on SIGTERM: %v\nstderr:\n%s", err, tail(second.stderr.String()))
	}

	if n := countPornstars(t, dbURL); n != valid {
		t.Errorf("pornstars: %d rows, want one per valid item: %d", n, valid)
	}
	verifyCtx, cancelVerify := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelVerify()
	verify := runMarquee(verifyCtx, t, binary, "dev", "verify", "--feed", feedFile, "--db", dbURL)
	if verify.err != nil {
		t.Errorf("dev verify: %v: the database differs from the feed\n%s\nstderr:\n%s", verify.err, tail(verify.stdout), tail(verify.stderr))
	}
}

var (
	brokerListening = regexp.MustCompile(`"msg":"marquee broker listening","addr":"([^"]+)"`)
	// workerConnected is a worker's line once its database and Kafka answer.
	workerConnected  = regexp.MustCompile(`"msg":"marquee (\w+) connected to the database and Kafka"`)
	publishedSummary = regexp.MustCompile(`^status=completed seen=(\d+) valid=(\d+) rejected=\d+ changed=(\d+) removed=0 images_requested=\d+\n$`)
)

// waitForRows polls the pornstars count until done accepts it, and returns
// that count. It fails the test when proc exits or timeout passes first.
func waitForRows(t *testing.T, dbURL string, proc *process, done func(int) bool, timeout time.Duration) int {
	t.Helper()
	d, err := db.Open(t.Context(), db.Options{URL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	deadline := time.Now().Add(timeout)
	for {
		var n int
		if err := d.R.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM pornstars").Scan(&n); err != nil {
			t.Fatalf("count pornstars: %v", err)
		}
		if done(n) {
			return n
		}
		if proc.exited() {
			t.Fatalf("%s exited early with %d pornstars loaded\nstderr:\n%s", proc.name, n, tail(proc.stderr.String()))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pornstars after %v\n%s stderr:\n%s", n, timeout, proc.name, tail(proc.stderr.String()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func countPornstars(t *testing.T, dbURL string) int {
	t.Helper()
	d, err := db.Open(t.Context(), db.Options{URL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var n int
	if err := d.R.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM pornstars").Scan(&n); err != nil {
		t.Fatalf("count pornstars: %v", err)
	}
	return n
}

// process is a marquee subprocess that runs until the test stops it; the
// test's cleanup kills it if it still runs.
type process struct {
	name   string
	cmd    *exec.Cmd
	stderr *testkit.SyncBuffer
	done   chan struct{} // closed once Wait returned
	err    error         // Wait's error, once done is closed
}

// startProcess starts the binary with args, with no MARQUEE_* variables from
// the environment.
func startProcess(t testing.TB, binary string, args ...string) *process {
	t.Helper()
	p := &process{name: "marquee " + args[0], stderr: &testkit.SyncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Env = marqueeFreeEnv()
	p.cmd.Stdout = p.stderr
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits for the process to end.
func (p *process) kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !p.exited() {
		t.Fatalf("kill %s: %v", p.name, err)
	}
	<-p.done
}

// stop sends SIGTERM and waits up to timeout for a clean exit (status 0);
// after that it kills the process.
func (p *process) stop(t testing.TB, timeout time.Duration) error {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !p.exited() {
		return fmt.Errorf("signal %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s still ran %v after SIGTERM", p.name, timeout)
	}
}

// waitForLog waits until the process logs a line that re matches and
// returns re's first group.
func (p *process) waitForLog(t testing.TB, re *regexp.Regexp, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindStringSubmatch(p.stderr.String()); m != nil {
			return m[1]
		}
		if p.exited() {
			t.Fatalf("%s exited (%v) before logging %s\nstderr:\n%s", p.name, p.err, re, tail(p.stderr.String()))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not log %s within %v\nstderr:\n%s", p.name, re, timeout, tail(p.stderr.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// buildMarquee builds this command into a temporary directory and returns
// the binary's path.
func buildMarquee(tb testing.TB) string {
	tb.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		tb.Fatalf("no go tool to build the binary with: %v", err)
	}
	binary := filepath.Join(tb.TempDir(), "marquee")
	build := exec.Command(goTool, "build", "-o", binary, ".")
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return binary
}

// writeFeedFile writes the synthetic feed of items and seed to path;
// imageBase "" keeps the real image host.
func writeFeedFile(path string, items int, seed int64, imageBase string) error {
	file, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := bufio.NewWriterSize(file, 1<<20)
	err = feedgen.Write(buf, feedgen.Options{Items: items, Seed: seed, ImageBase: imageBase})
	err = errors.Join(err, buf.Flush(), file.Close())
	if err != nil {
		return fmt.Errorf("write feed %s: %w", path, err)
	}
	return nil
}

// marqueeFreeEnv is the test's environment without MARQUEE_* variables, so
// that a developer's settings never redirect a subprocess.
func marqueeFreeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MARQUEE_") {
			env = append(env, kv)
		}
	}
	return env
}

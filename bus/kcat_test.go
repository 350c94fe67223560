package bus

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestKcatReadsEmbeddedBroker checks the operator contract of docs/topics.md: a console
// consumer shows readable keys and values of what the Writer published to the embedded broker.
func TestKcatReadsEmbeddedBroker(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat is not installed")
	}
	broker := startTestBroker(t, "127.0.0.1:0", t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := ensureTopics(ctx, Cluster{Brokers: broker.Brokers()}, 6, TopicPolicies(), testLogger()); err != nil {
		t.Fatal(err)
	}
	w := newTestWriter(t, broker.Brokers())
	publish(t, w, TopicPornstars,
		Message{Key: "2", Value: []byte(`{"feed_id":2,"name":"Ann"}`)},
		Message{Key: "3", Value: []byte(`{"feed_id":3,"name":"Bea"}`)},
		Message{Key: "2", Value: nil})

	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, kcat, append([]string{"-C", "-b", broker.Addr(), "-t", TopicPornstars, "-e", "-q"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("kcat %v: %v\n%s", args, err, out)
		}
		t.Logf("kcat %s\n%s", strings.Join(args, " "), out)
		return string(out)
	}
	plain := run("-K:")
	for _, line := range []string{`2:{"feed_id":2,"name":"Ann"}`, `3:{"feed_id":3,"name":"Bea"}`, "2:"} {
		if !strings.Contains("\n"+plain, "\n"+line+"\n") {
			t.Errorf("kcat -K: output lacks line %q:\n%s", line, plain)
		}
	}
	formatted := run("-Z", "-f", `%k|%s|%h\n`)
	for _, line := range []string{`2|{"feed_id":2,"name":"Ann"}|content-type=application/json`, "2|NULL|"} {
		if !strings.Contains("\n"+formatted, "\n"+line+"\n") {
			t.Errorf("kcat -Z -f output lacks line %q:\n%s", line, formatted)
		}
	}
}

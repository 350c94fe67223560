package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"marquee/db/dbtest"
	"marquee/ingest/feedgen"
	"marquee/internal/testkit"
	"marquee/server"
)

// TestIngestOnceRemovalValve runs `marquee ingest --once` on a feed and then
// on feeds that identify fewer performers, into SQLite and MySQL: feeds whose
// ids cannot be read, repeat, or are gone by more than the shrink limit
// remove nobody (every performer stays in the database), print the fixed
// summary line and the reason on stderr, and record the reason, which the
// REST and GraphQL feed-run APIs show; a feed that really shrank within the
// limit removes the missing performers.
func TestIngestOnceRemovalValve(t *testing.T) {
	var full bytes.Buffer
	if err := feedgen.Write(&full, feedgen.Options{Items: 100, Seed: 61}); err != nil {
		t.Fatal(err)
	}
	feed := splitItems(t, full.Bytes())
	const allUnreadable = "no item has a readable id (100 items seen); 100% of items rejected (100 of 100; limit 5%); " +
		"feed shrank by 100% (0 distinct valid ids, 100 published before; limit 20%)"
	steps := []struct {
		name        string
		doc         []byte
		wantCode    int
		wantSummary string
		wantReason  string // on stderr and in the run; "" for none
		wantError   string // the failed run's error
		wantStays   []byte // the feed the database equals afterwards
	}{
		{"the full feed", full.Bytes(), exitOK,
			"", "", "", full.Bytes()},
		{"every id unreadable: failed, nobody removed", feed.withIDs(t, 100, unreadableID), exitFailure,
			"status=failed seen=100 valid=0 rejected=100 changed=0 removed=0 images_requested=0",
			allUnreadable, "feed identifies nobody: none of its 100 items has a readable id; nothing removed", full.Bytes()},
		{"every item with the first item's id: nobody removed", feed.withIDs(t, 100, feed.firstID(t)), exitOK,
			"status=completed seen=100 valid=1 rejected=99 changed=0 removed=0 images_requested=0",
			"99% of items rejected (99 of 100; limit 5%); feed shrank by 99% (1 distinct valid id, 100 published before; limit 20%)", "", full.Bytes()},
		{"60% of ids unreadable: nobody removed", feed.withIDs(t, 60, unreadableID), exitOK,
			"status=completed seen=100 valid=40 rejected=60 changed=0 removed=0 images_requested=0",
			"60% of items rejected (60 of 100; limit 5%); feed shrank by 60% (40 distinct valid ids, 100 published before; limit 20%)", "", full.Bytes()},
		{"shrank by 30%: nobody removed", feed.first(70), exitOK,
			"status=completed seen=70 valid=70 rejected=0 changed=0 removed=0 images_requested=0",
			"feed shrank by 30% (70 distinct valid ids, 100 published before; limit 20%)", "", full.Bytes()},
		{"shrank by 10% with clean ids: the missing are removed", feed.first(90), exitOK,
			"status=completed seen=90 valid=90 rejected=0 changed=0 removed=10 images_requested=0",
			"", "", feed.first(90)},
	}
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			dbURL := backend.URL(t)
			dataDir := t.TempDir()
			_, hook := imageHosts(t)
			for i, step := range steps {
				path := filepath.Join(t.TempDir(), fmt.Sprintf("feed-%d.json", i))
				if err := os.WriteFile(path, step.doc, 0o644); err != nil {
					t.Fatal(err)
				}
				code, stdout, stderr := runPipeline(t.Context(), hook, "ingest", "--once", "--force", "--feed", path, "--db", dbURL,
					"--data-dir", dataDir, "--kafka-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
				summary := strings.TrimSpace(stdout)
				if code != step.wantCode || (step.wantSummary != "" && summary != step.wantSummary) ||
					(step.wantSummary == "" && !strings.HasPrefix(summary, "status=completed seen=100 valid=100 rejected=0 changed=100 removed=0 ")) {
					t.Fatalf("%s: exit %d, stdout %q; want %d, %q\nstderr:\n%s", step.name, code, stdout, step.wantCode, step.wantSummary, tail(stderr))
				}
				reasonLine := "removals suppressed: " + step.wantReason
				if got := strings.Contains(stderr, reasonLine+"\n"); got != (step.wantReason != "") || strings.Contains(stderr, "removals suppressed: ") != got {
					t.Errorf("%s: stderr does not say exactly %q (or says it when it should not):\n%s", step.name, reasonLine, tail(stderr))
				}
				stays := filepath.Join(t.TempDir(), "stays.json")
				if err := os.WriteFile(stays, step.wantStays, 0o644); err != nil {
					t.Fatal(err)
				}
				if code, out, _ := runCLI(t.Context(), nil, "dev", "verify", "--feed", stays, "--db", dbURL); code != exitOK {
					t.Errorf("%s: the database no longer equals the feed it should keep (dev verify exit %d):\n%s", step.name, code, tail(out))
				}
			}
			if got, want := countFeedRows(t, dbURL).performers, 90; got != want {
				t.Errorf("%d performers in the database, want %d", got, want)
			}

			// The feed-run APIs show each run's outcome, newest first.
			type run struct {
				Status                   string  `json:"status"`
				RemovalsSuppressed       bool    `json:"removals_suppressed"`
				RemovalsSuppressedReason *string `json:"removals_suppressed_reason"`
				Error                    *string `json:"error"`
			}
			var want []run
			for i := len(steps) - 1; i >= 0; i-- {
				r := run{Status: "completed", RemovalsSuppressed: steps[i].wantReason != ""}
				if steps[i].wantCode != exitOK {
					r.Status = "failed"
				}
				if steps[i].wantReason != "" {
					r.RemovalsSuppressedReason = &steps[i].wantReason
				}
				if steps[i].wantError != "" {
					r.Error = &steps[i].wantError
				}
				want = append(want, r)
			}
			base := startAPI(t, "--db", dbURL)
			var rest struct{ Data []run }
			if !getJSON(http.DefaultClient, base+"/api/v1/feed-runs?limit=10", &rest) {
				t.Fatal("GET /api/v1/feed-runs did not answer 200 with JSON")
			}
			if diff := diffRuns(rest.Data, want); diff != "" {
				t.Errorf("REST /api/v1/feed-runs: %s", diff)
			}
			var graph struct {
				Data struct {
					FeedRuns struct {
						Nodes []struct {
							Status                   string  `json:"status"`
							RemovalsSuppressed       bool    `json:"removalsSuppressed"`
							RemovalsSuppressedReason *string `json:"removalsSuppressedReason"`
							Error                    *string `json:"error"`
						} `json:"nodes"`
					} `json:"feedRuns"`
				} `json:"data"`
				Errors []any `json:"errors"`
			}
			postJSON(t, base+"/graphql", `{"query":"{ feedRuns(first: 10) { nodes { status removalsSuppressed removalsSuppressedReason error } } }"}`, &graph)
			var fromGraph []run
			for _, n := range graph.Data.FeedRuns.Nodes {
				fromGraph = append(fromGraph, run{strings.ToLower(n.Status), n.RemovalsSuppressed, n.RemovalsSuppressedReason, n.Error})
			}
			if diff := diffRuns(fromGraph, want); diff != "" || graph.Errors != nil {
				t.Errorf("GraphQL feedRuns (errors %v): %s", graph.Errors, diff)
			}
		})
	}
}

// diffRuns describes how the runs got differ from want; "" when they agree.
func diffRuns[R any](got, want []R) string {
	g, _ := json.MarshalIndent(got, "", "  ")
	w, _ := json.MarshalIndent(want, "", "  ")
	if bytes.Equal(g, w) {
		return ""
	}
	return fmt.Sprintf("got\n%s\nwant\n%s", g, w)
}

// itemFeed is a feedgen feed cut into its items, one per line as feedgen
// writes them, so that a test can drop items and rewrite their ids.
type itemFeed struct {
	head, tail string
	items      []string // each without its separating comma
}

var itemID = regexp.MustCompile(`\},"id":(\d+)([,}])`)

func splitItems(t *testing.T, doc []byte) itemFeed {
	t.Helper()
	var f itemFeed
	lines := strings.SplitAfter(string(doc), "\n")
	i := 0
	for ; i < len(lines) && !itemID.MatchString(lines[i]); i++ {
		f.head += lines[i]
	}
	for ; i < len(lines) && itemID.MatchString(lines[i]); i++ {
		f.items = append(f.items, strings.TrimSuffix(strings.TrimSuffix(lines[i], "\n"), ","))
	}
	f.tail = strings.Join(lines[i:], "")
	if len(f.items) != 100 || f.tail == "" {
		t.Fatalf("feedgen's layout changed: %d item lines", len(f.items))
	}
	return f
}

func (f itemFeed) join(items []string) []byte {
	return []byte(f.head + strings.Join(items, ",\n") + "\n" + f.tail)
}

// first is the feed of the first n items.
func (f itemFeed) first(n int) []byte { return f.join(f.items[:n]) }

// firstID is the id of the first item, as the feed spells it.
func (f itemFeed) firstID(t *testing.T) func(string) string {
	t.Helper()
	m := itemID.FindStringSubmatch(f.items[0])
	if m == nil {
		t.Fatal("the first item has no numeric id")
	}
	return func(string) string { return m[1] }
}

// unreadableID turns an id into a string no reader takes for one.
func unreadableID(id string) string { return `"x` + id + `"` }

// withIDs is the feed with the ids of its first n items rewritten by newID.
func (f itemFeed) withIDs(t *testing.T, n int, newID func(id string) string) []byte {
	t.Helper()
	items := make([]string, len(f.items))
	for i, item := range f.items {
		if i < n {
			m := itemID.FindStringSubmatchIndex(item)
			item = item[:m[2]] + newID(item[m[2]:m[3]]) + item[m[3]:]
		}
		items[i] = item
	}
	return f.join(items)
}

// startAPI runs `marquee api` with args on 127.0.0.1 until the test ends,
// with no Kafka it can reach, and returns its base URL.
func startAPI(t *testing.T, args ...string) string {
	t.Helper()
	base, _ := startAPILogging(t, args...)
	return base
}

// startAPILogging is startAPI that also returns what the command writes to
// stderr: its log.
func startAPILogging(t *testing.T, args ...string) (string, *testkit.SyncBuffer) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	stderr := new(testkit.SyncBuffer)
	serving := make(chan net.Addr, 1)
	exit := make(chan int, 1)
	env := environment{stdout: io.Discard, stderr: stderr, lookupEnv: envFrom(nil),
		serverStarting: func(srv *server.Server) { serving <- srv.Addr() }}
	args = append([]string{"api", "--data-dir", t.TempDir(), "--http-addr", "127.0.0.1:0", "--kafka-brokers", "127.0.0.1:1"}, args...)
	go func() { exit <- run(ctx, args, env) }()
	t.Cleanup(func() {
		stop()
		select {
		case code := <-exit:
			if code != exitOK {
				t.Errorf("marquee api exited %d; stderr:\n%s", code, tail(stderr.String()))
			}
		case <-time.After(waitLimit):
			t.Error("marquee api did not stop")
		}
	})
	select {
	case addr := <-serving:
		return "http://" + addr.String(), stderr
	case code := <-exit:
		exit <- code
		t.Fatalf("marquee api exited %d; stderr:\n%s", code, stderr.String())
	case <-time.After(waitLimit):
		t.Fatalf("marquee api did not start serving; stderr:\n%s", stderr.String())
	}
	return "", stderr
}

// postJSON decodes the 200 answer to a POST of the JSON body to url into v.
func postJSON(t *testing.T, url, body string, v any) {
	t.Helper()
	res, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("POST %s = %d %s (%v)", url, res.StatusCode, b, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
}

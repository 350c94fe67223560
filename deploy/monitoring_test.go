package deploy

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// promtool returns the path of promtool (Debian's prometheus package). Without
// it the test is skipped, except under CI=true, where .ci/run installs it.
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is required under CI=true (.ci/run installs Debian's prometheus package)")
		}
		t.Skip("PROMTOOL NOT INSTALLED: the alert rules are not checked (install Debian's prometheus package)")
	}
	return path
}

// TestAlertRules: promtool accepts deploy/prometheus/alerts.yml and its unit
// tests, which fire each alert and keep it quiet when it should be.
func TestAlertRules(t *testing.T) {
	bin := promtool(t)
	for _, args := range [][]string{
		{"check", "rules", "alerts.yml"},
		{"test", "rules", "alerts_test.yml"},
	} {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			cmd := exec.Command(bin, args...)
			cmd.Dir = "prometheus"
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
}

var (
	metricLiteral = regexp.MustCompile(`"(marquee_[a-z0-9_]+)"`)
	metricName    = regexp.MustCompile(`\bmarquee_[a-z0-9_]+\b`)
)

// exportedMetrics returns the metric names Marquee's code registers: every
// "marquee_..." string literal of the non-test Go source.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "deploy" || strings.HasPrefix(d.Name(), ".")) && path != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range metricLiteral.FindAllStringSubmatch(string(src), -1) {
			names[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, must := range []string{"marquee_feed_runs_total", "marquee_kafka_consumer_lag", "marquee_ready"} {
		if !names[must] {
			t.Fatalf("the source scan missed %s: it finds %d names", must, len(names))
		}
	}
	return names
}

// checkNames reports every marquee_ metric in query that Marquee does not
// export (a histogram's _bucket, _sum and _count series count as its own).
func checkNames(t *testing.T, where, query string, exported map[string]bool) {
	t.Helper()
	found := metricName.FindAllString(query, -1)
	if len(found) == 0 {
		t.Errorf("%s: %q names no marquee_ metric", where, query)
	}
	for _, name := range found {
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if trimmed, ok := strings.CutSuffix(name, suffix); ok && exported[trimmed] {
				base = trimmed
			}
		}
		if !exported[base] {
			t.Errorf("%s: %s is not a metric Marquee exports", where, name)
		}
	}
}

// TestAlertsNameExportedMetrics: every metric an alert rule names exists.
func TestAlertsNameExportedMetrics(t *testing.T) {
	exported := exportedMetrics(t)
	rules, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	exprs := 0
	for _, line := range strings.Split(string(rules), "\n") {
		if expr, ok := strings.CutPrefix(strings.TrimSpace(line), "expr:"); ok {
			exprs++
			checkNames(t, "alerts.yml", expr, exported)
		}
	}
	if exprs < 6 {
		t.Errorf("alerts.yml has %d rules, want at least the 6 of docs/operations.md", exprs)
	}
}

// TestDashboard: deploy/grafana/marquee.json is a Grafana dashboard whose
// every query names metrics Marquee exports.
func TestDashboard(t *testing.T) {
	exported := exportedMetrics(t)
	data, err := os.ReadFile("grafana/marquee.json")
	if err != nil {
		t.Fatal(err)
	}
	var dashboard struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dashboard); err != nil {
		t.Fatalf("marquee.json is not valid JSON: %v", err)
	}
	if dashboard.Title == "" || dashboard.UID == "" || len(dashboard.Panels) == 0 {
		t.Fatalf("marquee.json: title %q, uid %q, %d panels; want a titled dashboard with panels", dashboard.Title, dashboard.UID, len(dashboard.Panels))
	}
	for _, panel := range dashboard.Panels {
		if len(panel.Targets) == 0 {
			t.Errorf("panel %q has no query", panel.Title)
		}
		for _, target := range panel.Targets {
			checkNames(t, "panel "+panel.Title, target.Expr, exported)
		}
	}
}

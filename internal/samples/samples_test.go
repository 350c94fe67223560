package samples

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestFixturesAreGenerated: the committed fixtures are the bytes their
// options generate, so `go generate` reproduces them on any machine.
func TestFixturesAreGenerated(t *testing.T) {
	files, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range generated {
		t.Run(g.Sample.Name, func(t *testing.T) {
			committed, err := os.ReadFile(g.Sample.Path(t))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(committed, files[g.Sample.Name]) {
				t.Errorf("%s differs from what %+v generates: run `go generate ./internal/samples` and commit", g.Sample.Name, g.Options)
			}
		})
	}
}

// TestFixturesShowEveryOddity: between them, the fixtures show every
// oddity of the real feed, in the bytes a reader sees.
func TestFixturesShowEveryOddity(t *testing.T) {
	read := func(s Sample) string { return string(s.Read(t)) }
	head, older, bare, quirks := read(Head), read(Older), read(BareArray), read(Quirks)
	tests := []struct {
		name string
		ok   bool
	}{
		{"the real layout: wrapper object, itemsCount last", strings.HasPrefix(head, "{\n\t\"site\": ") && strings.HasSuffix(head, "\t\"itemsCount\": 100\n}\n")},
		{"slashes escaped", strings.Contains(head, `"link":"https:\/\/www.`)},
		{`\xNN escapes of a 4-byte emoji`, strings.Contains(head, `\xF0\x9F\x98\x8D`)},
		{`a \xNN escape of a byte that is not UTF-8`, strings.Contains(head, `\xE9`)},
		{"pipe-joined hair colours", strings.Contains(head, `"hairColor":"Blonde|Red|Brunette|Black"`)},
		{"pipe-joined ethnicities", strings.Contains(head, `"ethnicity":"White|Asian"`)},
		{"wlStatus as a string", strings.Contains(head, `"wlStatus":"0"`) && strings.Contains(head, `"wlStatus":"1"`)},
		{"wlStatus as a boolean", strings.Contains(quirks, `"wlStatus":true`) && strings.Contains(quirks, `"wlStatus":false`)},
		{"wlStatus as a number", strings.Contains(quirks, `"wlStatus":0`) && strings.Contains(quirks, `"wlStatus":1`)},
		{"numeric strings", strings.Contains(quirks, `"breastSize":"34"`) && strings.Contains(quirks, `"id":"102"`)},
		{"duplicate aliases", strings.Contains(head, `"Vera Gold","Vera Gold"`)},
		{"empty aliases", strings.Contains(head, `"aliases":["",`)},
		{"a trailing U+00A0", strings.Contains(head, "\u00a0\"")},
		{"items without thumbnails", strings.Contains(head, `"thumbnails":[]`)},
		{"an image moved to the di. host", strings.Contains(head, `https:\/\/di.phncdn.com\/`) && strings.Contains(head, `https:\/\/ei.phncdn.com\/`)},
		{"an older generation on the di. host", strings.Count(older, `https:\/\/di.phncdn.com\/`) == 24 && !strings.Contains(older, `ei.phncdn.com`)},
		{"the bare-array form", strings.HasPrefix(bare, "[\n{") && strings.HasSuffix(bare, "}\n]\n")},
		{"broken items", strings.Contains(quirks, "\t\t42,\n") && strings.Contains(quirks, `{"id":"abc",`)},
	}
	for _, tt := range tests {
		if !tt.ok {
			t.Errorf("no fixture shows %s", tt.name)
		}
	}
}

// recorder stands in for a test to see whether Path skips or fails it.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// pathOf runs Path as a test would, and reports what became of the test.
func pathOf(s Sample) (path string, r *recorder) {
	r = &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		path = s.Path(r)
	}()
	<-done
	return path, r
}

// TestRealSamplePath covers what MARQUEE_TEST_SAMPLES and CI decide.
func TestRealSamplePath(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, RealHead.Name), []byte("[]"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		samples, ci   string
		sample        Sample
		wantWithReal  []string
		wantPath      string
		skip, failure string // what the skip or failure message contains
	}{
		{name: "unset: fixtures only, a real sample skips", sample: RealHead,
			wantWithReal: []string{Head.Name}, skip: "MARQUEE_TEST_SAMPLES is not set"},
		{name: "unset under CI: still a skip", ci: "true", sample: RealHead,
			wantWithReal: []string{Head.Name}, skip: "MARQUEE_TEST_SAMPLES is not set"},
		{name: "set: the real sample too", samples: dir, sample: RealHead,
			wantWithReal: []string{Head.Name, RealHead.Name}, wantPath: filepath.Join(dir, RealHead.Name)},
		{name: "set, file missing: skip", samples: dir, sample: RealOlder,
			wantWithReal: []string{Head.Name, RealHead.Name}, skip: "no such file"},
		{name: "set, file missing under CI: failure", samples: dir, ci: "true", sample: RealOlder,
			wantWithReal: []string{Head.Name, RealHead.Name}, failure: "CI=true requires every real sample"},
		{name: "set, folder missing under CI: failure", samples: filepath.Join(dir, "nowhere"), ci: "true", sample: RealHead,
			wantWithReal: []string{Head.Name, RealHead.Name}, failure: "CI=true requires every real sample"},
		{name: "a fixture whatever the variable", samples: filepath.Join(dir, "nowhere"), ci: "true", sample: Quirks,
			wantWithReal: []string{Head.Name, RealHead.Name}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvRealSamples, tt.samples)
			t.Setenv("CI", tt.ci)
			var names []string
			for _, s := range Head.WithReal() {
				names = append(names, s.Name)
			}
			if fmt.Sprint(names) != fmt.Sprint(tt.wantWithReal) {
				t.Errorf("Head.WithReal() = %v, want %v", names, tt.wantWithReal)
			}
			path, r := pathOf(tt.sample)
			switch {
			case tt.skip != "" && !strings.Contains(r.skipped, tt.skip):
				t.Errorf("skipped %q, failed %q; want a skip saying %q", r.skipped, r.failed, tt.skip)
			case tt.failure != "" && !strings.Contains(r.failed, tt.failure):
				t.Errorf("skipped %q, failed %q; want a failure saying %q", r.skipped, r.failed, tt.failure)
			case tt.skip == "" && tt.failure == "" && (r.skipped != "" || r.failed != ""):
				t.Errorf("skipped %q, failed %q; want the path", r.skipped, r.failed)
			}
			if tt.wantPath != "" && path != tt.wantPath {
				t.Errorf("path %q, want %q", path, tt.wantPath)
			}
			if !tt.sample.Real && r.failed == "" {
				if _, err := os.Stat(path); err != nil || filepath.Base(filepath.Dir(path)) != "feeds" {
					t.Errorf("fixture path %q: %v", path, err)
				}
			}
		})
	}
}

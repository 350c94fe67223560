// Package samples finds the feed files tests read: the project's own
// fixtures under testdata/feeds (always there), and the real samples of the
// folder that MARQUEE_TEST_SAMPLES names (optional). It also seeds the API
// benchmarks. For tests only.
//
// Between them the fixtures carry every oddity of the real feed (each one's
// doc says which); a test that runs on the real samples too iterates over
// Sample.WithReal, which adds them only when the variable is set.
package samples

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// EnvRealSamples names the folder of real feed samples. Unset, tests run on
// the fixtures alone; set, the real-sample tests also run on its files, and
// a missing file skips its test, or fails it when CI=true.
const EnvRealSamples = "MARQUEE_TEST_SAMPLES"

// Sample is one feed file.
type Sample struct {
	// Name is the file name, and the name of the subtests that read it.
	Name string
	// Real marks a real sample, read from the folder EnvRealSamples names;
	// any other sample is a fixture under testdata/feeds.
	Real bool
	// real is a fixture's real counterpart.
	real string
}

// The fixtures and the real samples they stand in for.
var (
	// Head is a feed of 100 performers in the real layout, with the oddities
	// of a whole feed: \xNN escapes (an emoji and a byte that is not UTF-8),
	// pipe-joined values, duplicate, empty and own-name aliases, items
	// without thumbnails, a URL shared by two performers, an image moved
	// to the di. host. Every item is valid.
	Head = Sample{Name: "head-100.json", real: RealHead.Name}
	// Older is the first 8 items of the generation before Head: the same
	// performers with other stats, every image on the di. host (the same
	// paths, and bytes, as Head's ei. URLs).
	Older = Sample{Name: "older-8items.json", real: RealOlder.Name}
	// BareArray is one item of a generation after Head (Head's first
	// performer, with its image) as a bare JSON array.
	BareArray = Sample{Name: "bare-array.json", real: RealBareArray.Name}
	// Quirks is written by hand: the forms a reader must accept that the
	// generated feeds never use (booleans and numbers for wlStatus, numeric
	// strings, several URLs per thumbnail, null), values its field rules
	// refuse, and broken items that must be rejected while the rest stays.
	Quirks = Sample{Name: "quirks.json"}

	RealHead      = Sample{Name: "real-head-100.json", Real: true}
	RealOlder     = Sample{Name: "real-2023-05-8items.json", Real: true}
	RealBareArray = Sample{Name: "real-2024-12-bare-array.json", Real: true}
)

// WithReal returns s, then its real counterpart when EnvRealSamples is set:
// the samples a test that runs on both iterates over.
func (s Sample) WithReal() []Sample {
	list := []Sample{s}
	if s.real != "" && os.Getenv(EnvRealSamples) != "" {
		list = append(list, Sample{Name: s.real, Real: true})
	}
	return list
}

// Path returns the absolute path of the sample. A fixture that is missing
// fails the test. A real sample skips it when EnvRealSamples is unset or
// the file is missing, except that a missing file fails it under CI=true.
func (s Sample) Path(tb testing.TB) string {
	tb.Helper()
	if !s.Real {
		root, err := repositoryRoot()
		if err != nil {
			tb.Fatalf("samples: %v", err)
		}
		path := filepath.Join(root, FixtureDir, s.Name)
		if _, err := os.Stat(path); err != nil {
			tb.Fatalf("samples: fixture %s: %v (regenerate with `go generate ./internal/samples`)", s.Name, err)
		}
		return path
	}
	dir := os.Getenv(EnvRealSamples)
	if dir == "" {
		tb.Skipf("real sample %s: %s is not set", s.Name, EnvRealSamples)
	}
	path, err := filepath.Abs(filepath.Join(dir, s.Name))
	if err == nil {
		_, err = os.Stat(path)
	}
	if err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			tb.Fatalf("real sample %s: %v (%s is set, and CI=true requires every real sample)", s.Name, err, EnvRealSamples)
		}
		tb.Skipf("real sample %s: %v", s.Name, err)
	}
	return path
}

// Read returns the sample's bytes, as Path finds them.
func (s Sample) Read(tb testing.TB) []byte {
	tb.Helper()
	data, err := os.ReadFile(s.Path(tb))
	if err != nil {
		tb.Fatalf("samples: %v", err)
	}
	return data
}

// FixtureDir is where the fixtures live, relative to the repository root.
const FixtureDir = "testdata/feeds"

var root struct {
	once sync.Once
	dir  string
	err  error
}

// repositoryRoot is the nearest directory, from the working directory up
// (a test runs in its package's directory), that holds go.mod.
func repositoryRoot() (string, error) {
	root.once.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			root.err = err
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				root.dir = dir
				return
			} else if !errors.Is(err, os.ErrNotExist) {
				root.err = err
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				root.err = fmt.Errorf("no go.mod above the working directory")
				return
			}
			dir = parent
		}
	})
	return root.dir, root.err
}

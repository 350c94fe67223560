package main

import (
	"bytes"
	"strings"
	"testing"

	"marquee/internal/samples"
)

// TestGenFeedWritesTheFixtures: `dev gen-feed` with a fixture's flags writes
// the fixture's bytes, so anyone can make the project's fixtures, or larger
// feeds like them, from the command line.
func TestGenFeedWritesTheFixtures(t *testing.T) {
	tests := []struct {
		sample samples.Sample
		args   string
	}{
		{samples.Head, "--items 100 --seed 16 --generation 1 --change-ratio 1"},
		{samples.Older, "--items 100 --seed 16 --image-base https://di.phncdn.com/pics/pornstars --head 8"},
		{samples.BareArray, "--items 100 --seed 16 --generation 2 --change-ratio 1 --head 1 --bare-array"},
	}
	for _, tt := range tests {
		t.Run(tt.sample.Name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t.Context(), nil, append([]string{"dev", "gen-feed"}, strings.Fields(tt.args)...)...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if !bytes.Equal([]byte(stdout), tt.sample.Read(t)) {
				t.Errorf("dev gen-feed %s wrote %d bytes that differ from %s", tt.args, len(stdout), tt.sample.Name)
			}
		})
	}
	if code, _, stderr := runCLI(t.Context(), nil, "dev", "gen-feed", "--items", "10", "--head", "-1"); code != exitFailure ||
		!strings.Contains(stderr, "head must be 0 (the whole feed) or more") {
		t.Errorf("--head -1: exit %d, stderr %q", code, stderr)
	}
}

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestImagingGCCommand: the dry run lists an old file no record names and
// leaves it; --apply deletes it and says so; a recent one is left alone
// either way; bad grace values are usage errors.
func TestImagingGCCommand(t *testing.T) {
	dataDir := t.TempDir()
	write := func(content string, written time.Time) (hash, path string) {
		sum := sha256.Sum256([]byte(content))
		hash = hex.EncodeToString(sum[:])
		path = filepath.Join(dataDir, "images", hash[:2], hash[2:4], hash)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, written, written); err != nil {
			t.Fatal(err)
		}
		return hash, path
	}
	oldHash, oldPath := write("crashed fetch", time.Now().Add(-48*time.Hour))
	newHash, newPath := write("fetch of today", time.Now())

	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantCode   int
		wantOut    []string
		notOut     []string
		oldDeleted bool
	}{
		{name: "help", args: []string{"--help"}, wantOut: []string{"Usage: marquee imaging gc", "$MARQUEE_IMAGES_GC_GRACE"}},
		{name: "bad grace", args: []string{"--grace", "soon"}, wantCode: exitUsage},
		{name: "zero grace", args: []string{"--grace", "0d"}, wantCode: exitUsage},
		{name: "bad grace variable", env: map[string]string{"MARQUEE_IMAGES_GC_GRACE": "-1h"}, wantCode: exitUsage},
		{name: "within the default grace", args: nil, wantOut: []string{"scanned=2 garbage=0 garbage_bytes=0"}},
		{name: "dry run", args: []string{"--grace", "1d"},
			wantOut: []string{"would delete " + oldHash + " bytes=13", "scanned=2 garbage=1 garbage_bytes=13"}, notOut: []string{newHash}},
		{name: "grace from the variable", env: map[string]string{"MARQUEE_IMAGES_GC_GRACE": "24h"},
			wantOut: []string{"would delete " + oldHash}},
		{name: "the flag beats the variable", args: []string{"--grace", "3d"}, env: map[string]string{"MARQUEE_IMAGES_GC_GRACE": "24h"},
			wantOut: []string{"garbage=0"}},
		{name: "apply", args: []string{"--apply", "--grace", "1d"},
			wantOut: []string{"deleted " + oldHash + " bytes=13", "scanned=2 deleted=1 freed_bytes=13 kept=0"}, notOut: []string{newHash}, oldDeleted: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"imaging", "gc", "--data-dir", dataDir}, tc.args...)
			code, stdout, stderr := runCLI(t.Context(), tc.env, args...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stdout %q, stderr %q", code, tc.wantCode, stdout, stderr)
			}
			for _, want := range tc.wantOut {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout %q lacks %q", stdout, want)
				}
			}
			for _, not := range tc.notOut {
				if strings.Contains(stdout, not) {
					t.Errorf("stdout %q names %q", stdout, not)
				}
			}
			if _, err := os.Stat(oldPath); (err != nil) != tc.oldDeleted {
				t.Errorf("old file: stat error %v, want deleted %v", err, tc.oldDeleted)
			}
			if _, err := os.Stat(newPath); err != nil {
				t.Errorf("today's file: %v", err)
			}
		})
	}
}

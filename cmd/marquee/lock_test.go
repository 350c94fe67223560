package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDataDirLock(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "new", "data")
	first, err := lockDataDir(dataDir)
	if err != nil {
		t.Fatalf("first lock: %v", err)
	}
	pidFile, err := os.ReadFile(filepath.Join(dataDir, lockFileName))
	if err != nil || string(pidFile) != fmt.Sprintf("%d\n", os.Getpid()) {
		t.Fatalf("lock file holds %q (%v), want our pid", pidFile, err)
	}

	_, err = lockDataDir(dataDir)
	if !errors.Is(err, errDataDirInUse) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("second lock = %v, want errDataDirInUse naming pid %d", err, os.Getpid())
	}

	if err := first.Release(); err != nil {
		t.Fatalf("release: %v", err)
	}
	again, err := lockDataDir(dataDir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again.Release()
}

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockFileName is the lock file in the data dir.
const lockFileName = "marquee.lock"

// dataDirLock makes one process the owner of a data dir: an exclusive flock
// on DATA_DIR/marquee.lock, which holds the owner's pid. The kernel drops the
// lock when the process ends however it ends, so a crash leaves no stale
// lock; the file itself stays (removing it would let two processes lock two
// different files of the same name).
type dataDirLock struct {
	file *os.File
}

// errDataDirInUse is the error of lockDataDir when another process owns the
// data dir.
var errDataDirInUse = errors.New("data dir is in use")

// lockDataDir creates dir if needed and takes its lock without waiting. When
// another process holds it, the error wraps errDataDirInUse and names that
// process's pid.
func lockDataDir(dir string) (*dataDirLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	path := filepath.Join(dir, lockFileName)
	file, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	if err := syscall.Flock(int(file.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		owner := readOwner(file)
		file.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: another marquee process (pid %s) owns %s; stop it or use another --data-dir", errDataDirInUse, owner, dir)
		}
		return nil, fmt.Errorf("lock data dir: flock %s: %w", path, err)
	}
	pid := strconv.Itoa(os.Getpid()) + "\n"
	if err := file.Truncate(0); err != nil {
		file.Close()
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	if _, err := file.WriteAt([]byte(pid), 0); err != nil {
		file.Close()
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	return &dataDirLock{file: file}, nil
}

// readOwner returns the pid written in a lock file, or "unknown" when the
// owner has not written it yet.
func readOwner(file *os.File) string {
	buf := make([]byte, 32)
	n, _ := file.ReadAt(buf, 0)
	if pid := strings.TrimSpace(string(buf[:n])); pid != "" {
		return pid
	}
	return "unknown"
}

// Release empties the lock file and releases the lock.
func (l *dataDirLock) Release() error {
	truncateErr := l.file.Truncate(0)
	return errors.Join(truncateErr, l.file.Close())
}

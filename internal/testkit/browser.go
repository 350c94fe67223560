package testkit

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Chromium returns the path of Debian's headless-capable Chromium. Without
// one the test is skipped, except under CI=true, where it fails.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatal("chromium is required under CI=true (.ci/run installs it)")
	}
	t.Skip("BROWSER TEST SKIPPED: no chromium on PATH (apt-get install chromium)")
	return ""
}

// ErrNoReport: the page did not report within 2 minutes.
var ErrNoReport = errors.New("no result from the page within 2 minutes")

// RunChromium runs headless Chromium on url until the page reports its
// result on reports, which it returns. It fails with ErrNoReport, or with
// Chromium's exit when it exits before the page reports. Every host but
// 127.0.0.1 is unreachable. The browser runs in real time (no
// --virtual-time-budget, which could run out while the answer is on its
// way), in a process group of its own, killed at the end.
func RunChromium(t testing.TB, chromium, url string, reports <-chan string) (string, error) {
	t.Helper()
	cmd := exec.Command(chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
		"--disable-background-networking", "--disable-component-update", "--disable-default-apps",
		"--user-data-dir="+t.TempDir(),
		// A harness page may open the page under test in a window of its
		// own, when that page refuses to be framed.
		"--disable-popup-blocking",
		// No network but this machine: names resolve to nothing, and
		// anything that still tries goes to a proxy that is not there.
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
		"--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1",
		url)
	stderr := &SyncBuffer{}
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case result := <-reports:
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		return result, nil
	case err := <-exited:
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // what it left behind
		return "", fmt.Errorf("chromium exited before the page reported: %v\n%s", err, stderr)
	case <-time.After(2 * time.Minute):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		return "", ErrNoReport
	}
}

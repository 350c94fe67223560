package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"marquee/ingest"
)

// clearLine moves a terminal's cursor to the start of its row and clears it.
const clearLine = "\r\033[K"

// statusLine is a terminal shared by log lines and one status line (the
// progress bar) drawn below them. A write, such as a log line, clears the
// status line, goes where it was, and draws it again below; one mutex
// orders both, so a log line never shares a row with the status line. It is
// made only for a terminal (isTerminal says so for it).
type statusLine struct {
	mu     sync.Mutex
	w      io.Writer
	status string // drawn below what was written; "" for none
	// midRow: the last write did not end its row, so the status line waits
	// for the row to end before it is drawn again.
	midRow bool
}

func newStatusLine(w io.Writer) *statusLine { return &statusLine{w: w} }

// Write writes p above the status line.
func (s *statusLine) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	drawn := s.status != "" && !s.midRow
	if drawn {
		if _, err := io.WriteString(s.w, clearLine); err != nil {
			return 0, err
		}
	}
	n, err := s.w.Write(p)
	if n > 0 {
		s.midRow = p[n-1] != '\n'
	}
	if s.status != "" && !s.midRow {
		// A status line lost here is drawn again by the next Show.
		_, _ = io.WriteString(s.w, s.status)
	}
	return n, err
}

// Show makes status the status line, replacing the one drawn.
func (s *statusLine) Show(status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = strings.ReplaceAll(status, "\n", " ")
	if !s.midRow {
		_, _ = io.WriteString(s.w, clearLine+s.status)
	}
}

// Keep ends the status line's row as last shown, so that it stays on the
// screen, and stops drawing it: later writes go below it.
func (s *statusLine) Keep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status != "" && !s.midRow {
		_, _ = io.WriteString(s.w, "\n")
	}
	s.status = ""
}

// progressInterval is how often the progress bar is redrawn: smooth to
// the eye, and nothing a terminal notices.
const progressInterval = 200 * time.Millisecond

// startProgress draws bytes read and items parsed as the status line of w
// every interval while a run goes on, when w is a terminal's statusLine.
// The returned func draws it a last time and keeps it on the screen.
func startProgress(w io.Writer, p *ingest.Progress, interval time.Duration) (stop func()) {
	status, ok := w.(*statusLine)
	if !ok {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		draw := func() { status.Show(fmt.Sprintf("feed: %s read, %d items", humanBytes(p.Bytes()), p.Items.Load())) }
		for {
			draw()
			select {
			case <-done:
				draw()
				status.Keep()
				return
			case <-tick.C:
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

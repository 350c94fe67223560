package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"marquee/ingest"
)

// screen returns the rows a terminal shows after out: "\r" returns to the
// start of the row, "\033[K" clears from there to the end of the row, and
// other bytes overwrite what is under the cursor.
func screen(out string) []string {
	var rows []string
	var row []byte
	col := 0
	for i := 0; i < len(out); i++ {
		switch {
		case out[i] == '\n':
			rows = append(rows, string(row))
			row, col = row[:0:0], 0
		case out[i] == '\r':
			col = 0
		case strings.HasPrefix(out[i:], "\033[K"):
			row = row[:col]
			i += len("\033[K") - 1
		default:
			if col < len(row) {
				row[col] = out[i]
			} else {
				row = append(row, out[i])
			}
			col++
		}
	}
	if len(row) > 0 {
		rows = append(rows, string(row))
	}
	return rows
}

// logTime is the time in a text log line, which the tests do not compare.
var logTime = regexp.MustCompile(`^time=\S+ `)

func withoutTimes(rows []string) []string {
	out := make([]string, len(rows))
	for i, row := range rows {
		out[i] = logTime.ReplaceAllString(row, "")
	}
	return out
}

// textLogger is the logger of a command at a terminal, writing to w.
func textLogger(w io.Writer) *slog.Logger {
	cfg := defaultConfig()
	return buildLogger(w, cfg)
}

// TestStatusLineKeepsLogLinesAbove: on a terminal, log lines written while
// the progress bar is shown end up on rows of their own above it, and the
// bar stays on the bottom row.
func TestStatusLineKeepsLogLinesAbove(t *testing.T) {
	tests := []struct {
		name  string
		steps func(status *statusLine, logger *slog.Logger)
		want  []string
	}{
		{
			name: "log lines between bar updates",
			steps: func(status *statusLine, logger *slog.Logger) {
				status.Show("feed: 1.0 KiB read, 1 items")
				logger.Info("one")
				status.Show("feed: 2.0 KiB read, 2 items")
				logger.Warn("two", "n", 2)
				logger.Info("three")
				status.Show("feed: 3.0 KiB read, 3 items")
				status.Keep()
				logger.Info("after the run")
			},
			want: []string{
				"level=INFO msg=one",
				"level=WARN msg=two n=2",
				"level=INFO msg=three",
				"feed: 3.0 KiB read, 3 items",
				"level=INFO msg=\"after the run\"",
			},
		},
		{
			name: "a shorter bar after a longer one",
			steps: func(status *statusLine, logger *slog.Logger) {
				status.Show("feed: 1023 B read, 1000 items")
				status.Show("feed: 1.0 KiB read, 9 items")
				logger.Info("one")
				status.Keep()
			},
			want: []string{"level=INFO msg=one", "feed: 1.0 KiB read, 9 items"},
		},
		{
			name: "a line written in pieces",
			steps: func(status *statusLine, _ *slog.Logger) {
				status.Show("feed: 1 B read, 0 items")
				fmt.Fprint(status, "removals ")
				status.Show("feed: 2 B read, 0 items")
				fmt.Fprint(status, "suppressed\nnext line\n")
				status.Keep()
			},
			want: []string{"removals suppressed", "next line", "feed: 2 B read, 0 items"},
		},
		{
			name: "no bar",
			steps: func(status *statusLine, logger *slog.Logger) {
				logger.Info("one")
				status.Keep()
				logger.Info("two")
			},
			want: []string{"level=INFO msg=one", "level=INFO msg=two"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var terminal bytes.Buffer
			status := newStatusLine(&terminal)
			tt.steps(status, textLogger(status))
			if got := withoutTimes(screen(terminal.String())); !slices.Equal(got, tt.want) {
				t.Errorf("the terminal shows\n%q\nwant\n%q\n(written: %q)", got, tt.want, terminal.String())
			}
		})
	}
}

// TestProgressWithConcurrentLogs draws the progress bar as `ingest --once`
// does while goroutines log through the command's logger: every log line
// ends up whole on a row of its own, and the bar only on the last row.
func TestProgressWithConcurrentLogs(t *testing.T) {
	var terminal bytes.Buffer
	status := newStatusLine(&terminal)
	if !isTerminal(status) {
		t.Fatal("the status line of a terminal is not taken for a terminal: the logger would write JSON")
	}
	logger := textLogger(status)
	var progress ingest.Progress
	stop := startProgress(status, &progress, time.Millisecond)
	const writers, lines = 4, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range lines {
				progress.Items.Add(1)
				logger.Info("parsed", "writer", w, "line", i)
				time.Sleep(100 * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	stop()

	rows := withoutTimes(screen(terminal.String()))
	logRow := regexp.MustCompile(`^level=INFO msg=parsed writer=\d line=\d+$`)
	logged := 0
	for i, row := range rows {
		switch {
		case logRow.MatchString(row):
			logged++
		case i == len(rows)-1 && row == fmt.Sprintf("feed: 0 B read, %d items", writers*lines):
		default:
			t.Errorf("row %d is neither a whole log line nor the last row's final bar: %q", i, row)
		}
	}
	if logged != writers*lines {
		t.Errorf("%d log lines on the screen, want %d", logged, writers*lines)
	}
	if !strings.Contains(terminal.String(), "\r\033[Kfeed: ") {
		t.Errorf("the bar was never drawn: %q", terminal.String())
	}
}

// TestProgressOnlyOnATerminal: written to anything but a terminal's status
// line, the progress bar draws nothing.
func TestProgressOnlyOnATerminal(t *testing.T) {
	var out bytes.Buffer
	var progress ingest.Progress
	progress.Items.Add(5)
	stop := startProgress(&out, &progress, time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	stop()
	if out.Len() != 0 {
		t.Errorf("the bar was drawn on a plain writer: %q", out.String())
	}
}

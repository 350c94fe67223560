package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// logFormat is how log lines are written: text, json, or auto.
type logFormat string

const (
	logFormatAuto logFormat = "auto"
	logFormatText logFormat = "text"
	logFormatJSON logFormat = "json"
)

func (f logFormat) MarshalText() ([]byte, error) { return []byte(f), nil }

func (f *logFormat) UnmarshalText(text []byte) error {
	switch format := logFormat(strings.ToLower(string(text))); format {
	case logFormatAuto, logFormatText, logFormatJSON:
		*f = format
		return nil
	}
	return fmt.Errorf("unknown log format %q (want text, json or auto)", text)
}

// newLogger returns the logger of a command, writing to w: text for a person
// at a terminal, JSON lines for a log collector.
//
// It also becomes slog's default, so that libraries logging through slog or
// the standard log package (bun's dialect, kafka-go via bus) write the same
// format to the same place.
func newLogger(w io.Writer, cfg Config) *slog.Logger {
	logger := buildLogger(w, cfg)
	slog.SetDefault(logger)
	return logger
}

func buildLogger(w io.Writer, cfg Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	format := cfg.LogFormat
	if format == logFormatAuto {
		format = logFormatJSON
		if isTerminal(w) {
			format = logFormatText
		}
	}
	if format == logFormatText {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// isTerminal reports whether w is a character device, such as a terminal,
// or the statusLine of one.
func isTerminal(w io.Writer) bool {
	switch w := w.(type) {
	case *statusLine:
		return true
	case *os.File:
		info, err := w.Stat()
		return err == nil && info.Mode()&os.ModeCharDevice != 0
	}
	return false
}

// redactURL hides the password of a database URL, for logs and messages. It
// works on the text rather than on url.Parse, so that a password with
// characters a URL parser rejects is hidden all the same.
func redactURL(rawURL string) string {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return rawURL
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return rawURL
	}
	user, _, hasPassword := strings.Cut(rest[:at], ":")
	if !hasPassword {
		return rawURL
	}
	return scheme + "://" + user + ":xxxxx@" + rest[at+1:]
}

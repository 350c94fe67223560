package main

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

// envFrom is a lookupEnv that sees only vars.
func envFrom(vars map[string]string) func(string) (string, bool) {
	return func(key string) (string, bool) {
		value, ok := vars[key]
		return value, ok
	}
}

// settingValues holds one setting of every kind, named after settings that
// docs/configuration.md lists, to test the mechanism every setting shares.
type settingValues struct {
	feedURL       string
	partitions    int
	maxShrink     float64
	retryCooldown time.Duration
	feedMaxBytes  byteSize
	allowPrivate  bool
	logLevel      slog.Level
}

func declareSettingValues(v *settingValues) *flags {
	f := newFlags("marquee test", "")
	f.String(&v.feedURL, "feed-url", "")
	f.Int(&v.partitions, "kafka-partitions", "")
	f.Float(&v.maxShrink, "feed-max-shrink", "")
	f.Duration(&v.retryCooldown, "images-retry-cooldown", "")
	f.Size(&v.feedMaxBytes, "feed-max-bytes", "")
	f.Bool(&v.allowPrivate, "images-allow-private-networks", "")
	f.Text(&v.logLevel, "log-level", "")
	return f
}

func TestSettingPrecedence(t *testing.T) {
	defaults := settingValues{
		feedURL:       "https://feed.example/feed.json",
		partitions:    6,
		maxShrink:     0.2,
		retryCooldown: 24 * time.Hour,
		feedMaxBytes:  512 << 20,
		allowPrivate:  false,
		logLevel:      slog.LevelInfo,
	}
	fromEnv := settingValues{
		feedURL:       "file:///tmp/feed.json",
		partitions:    3,
		maxShrink:     0.5,
		retryCooldown: 90 * time.Minute,
		feedMaxBytes:  1_500_000_000,
		allowPrivate:  true,
		logLevel:      slog.LevelDebug,
	}
	env := map[string]string{
		"MARQUEE_FEED_URL":                      "file:///tmp/feed.json",
		"MARQUEE_KAFKA_PARTITIONS":              "3",
		"MARQUEE_FEED_MAX_SHRINK":               "0.5",
		"MARQUEE_IMAGES_RETRY_COOLDOWN":         "1h30m",
		"MARQUEE_FEED_MAX_BYTES":                "1.5GB",
		"MARQUEE_IMAGES_ALLOW_PRIVATE_NETWORKS": "true",
		"MARQUEE_LOG_LEVEL":                     "debug",
	}
	fromFlags := settingValues{
		feedURL:       "/srv/feed.json",
		partitions:    12,
		maxShrink:     0.05,
		retryCooldown: 10 * time.Second,
		feedMaxBytes:  10 << 20,
		allowPrivate:  false,
		logLevel:      slog.LevelError,
	}
	flagArgs := []string{
		"--feed-url", "/srv/feed.json",
		"--kafka-partitions=12",
		"--feed-max-shrink", "0.05",
		"--images-retry-cooldown", "10s",
		"--feed-max-bytes", "10MiB",
		"--images-allow-private-networks=false",
		"--log-level", "ERROR",
	}
	emptyEnv := map[string]string{}
	for name := range env {
		emptyEnv[name] = ""
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want settingValues
	}{
		{"defaults", nil, nil, defaults},
		{"variables beat defaults", nil, env, fromEnv},
		{"flags beat defaults", flagArgs, nil, fromFlags},
		{"flags beat variables", flagArgs, env, fromFlags},
		{"an empty variable is unset", nil, emptyEnv, defaults},
		{
			"one flag, the rest from variables",
			[]string{"--kafka-partitions", "1"},
			env,
			func() settingValues { v := fromEnv; v.partitions = 1; return v }(),
		},
		{
			"a bare bool flag is true",
			[]string{"--images-allow-private-networks"},
			map[string]string{"MARQUEE_IMAGES_ALLOW_PRIVATE_NETWORKS": "false"},
			func() settingValues { v := defaults; v.allowPrivate = true; return v }(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := defaults
			f := declareSettingValues(&got)
			if err := f.parse(tt.args, envFrom(tt.env)); err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got != tt.want {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestSettingErrorsNameTheSource(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"bad int variable", nil, map[string]string{"MARQUEE_KAFKA_PARTITIONS": "six"}, `invalid value "six" for MARQUEE_KAFKA_PARTITIONS: want a whole number`},
		{"bad float variable", nil, map[string]string{"MARQUEE_FEED_MAX_SHRINK": "20%"}, `invalid value "20%" for MARQUEE_FEED_MAX_SHRINK: want a number`},
		{"bad duration variable", nil, map[string]string{"MARQUEE_IMAGES_RETRY_COOLDOWN": "1 day"}, `invalid value "1 day" for MARQUEE_IMAGES_RETRY_COOLDOWN: want a duration`},
		{"bad size variable", nil, map[string]string{"MARQUEE_FEED_MAX_BYTES": "lots"}, `invalid value "lots" for MARQUEE_FEED_MAX_BYTES: size "lots"`},
		{"bad bool variable", nil, map[string]string{"MARQUEE_IMAGES_ALLOW_PRIVATE_NETWORKS": "sometimes"}, `invalid value "sometimes" for MARQUEE_IMAGES_ALLOW_PRIVATE_NETWORKS: want true or false`},
		{"bad text variable", nil, map[string]string{"MARQUEE_LOG_LEVEL": "loud"}, `invalid value "loud" for MARQUEE_LOG_LEVEL`},
		{"bad flag value", []string{"--kafka-partitions", "six"}, nil, `invalid value "six" for flag -kafka-partitions: want a whole number`},
		{"unknown flag", []string{"--kafka-partition", "6"}, nil, "flag provided but not defined: -kafka-partition"},
		{"a good flag hides a bad variable", []string{"--kafka-partitions", "6", "--nope"}, map[string]string{"MARQUEE_KAFKA_PARTITIONS": "six"}, "-nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v settingValues
			err := declareSettingValues(&v).parse(tt.args, envFrom(tt.env))
			if _, ok := err.(*usageError); !ok || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("parse = %v (%T), want a usage error containing %q", err, err, tt.wantErr)
			}
		})
	}
}

func TestRunConfig(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want Config
	}{
		{
			name: "defaults",
			want: Config{DataDir: "./data", DB: "sqlite://data/marquee.db", HTTPAddr: ":8080"},
		},
		{
			name: "the database follows the data dir variable",
			env:  map[string]string{"MARQUEE_DATA_DIR": "/srv/marquee"},
			want: Config{DataDir: "/srv/marquee", DB: "sqlite:///srv/marquee/marquee.db", HTTPAddr: ":8080"},
		},
		{
			name: "the database follows the data dir flag over the variable",
			args: []string{"--data-dir", "/a"},
			env:  map[string]string{"MARQUEE_DATA_DIR": "/b"},
			want: Config{DataDir: "/a", DB: "sqlite:///a/marquee.db", HTTPAddr: ":8080"},
		},
		{
			name: "an explicit database wins over the derived one",
			env:  map[string]string{"MARQUEE_DATA_DIR": "/b", "MARQUEE_DB": "mysql://u:p@db:3306/marquee", "MARQUEE_DB_REPLICA": "mysql://u:p@replica:3306/marquee"},
			want: Config{DataDir: "/b", DB: "mysql://u:p@db:3306/marquee", DBReplica: "mysql://u:p@replica:3306/marquee", HTTPAddr: ":8080"},
		},
		{
			name: "database flag beats variable",
			args: []string{"--db", "sqlite:///tmp/x.db"},
			env:  map[string]string{"MARQUEE_DB": "mysql://u:p@db:3306/marquee"},
			want: Config{DataDir: "./data", DB: "sqlite:///tmp/x.db", HTTPAddr: ":8080"},
		},
		{
			name: "http addr from variable",
			env:  map[string]string{"MARQUEE_HTTP_ADDR": "127.0.0.1:9090"},
			want: Config{DataDir: "./data", DB: "sqlite://data/marquee.db", HTTPAddr: "127.0.0.1:9090"},
		},
		{
			name: "http addr flag beats variable",
			args: []string{"--http-addr=:7070"},
			env:  map[string]string{"MARQUEE_HTTP_ADDR": "127.0.0.1:9090"},
			want: Config{DataDir: "./data", DB: "sqlite://data/marquee.db", HTTPAddr: ":7070"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaultConfig()
			if err := runFlags(&cfg).parse(tt.args, envFrom(tt.env)); err != nil {
				t.Fatalf("parse: %v", err)
			}
			cfg.resolve()
			got := Config{DataDir: cfg.DataDir, DB: cfg.DB, DBReplica: cfg.DBReplica, HTTPAddr: cfg.HTTPAddr}
			if got != tt.want {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"sqlite://data/marquee.db", "sqlite://data/marquee.db"},
		{"mysql://marquee:s3cret@db:3306/marquee", "mysql://marquee:xxxxx@db:3306/marquee"},
		{"mysql://marquee:p@ss/w:rd@db:3306/marquee?tls=true", "mysql://marquee:xxxxx@db:3306/marquee?tls=true"},
		{"mysql://marquee@db:3306/marquee", "mysql://marquee@db:3306/marquee"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := redactURL(tt.in); got != tt.want {
			t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

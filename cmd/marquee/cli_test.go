package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"marquee/internal/testkit"
)

// runCLI runs the CLI in-process with only the variables in env.
func runCLI(ctx context.Context, env map[string]string, args ...string) (code int, stdout, stderr string) {
	var out, errOut testkit.SyncBuffer
	code = run(ctx, args, environment{stdout: &out, stderr: &errOut, lookupEnv: envFrom(env)})
	return code, out.String(), errOut.String()
}

func TestHelpExitsZero(t *testing.T) {
	tests := []struct {
		args     []string
		wantText string
	}{
		{[]string{"--help"}, "Usage: marquee <command>"},
		{[]string{"-h"}, "Usage: marquee <command>"},
		{[]string{"help"}, "Usage: marquee <command>"},
		{[]string{"help", "run"}, "Usage: marquee run [flags]"},
		{[]string{"run", "--help"}, "Usage: marquee run [flags]"},
		{[]string{"run", "-h"}, "Usage: marquee run [flags]"},
		{[]string{"migrate", "--help"}, "Usage: marquee migrate [flags]"},
		{[]string{"migrate", "status", "--help"}, "Usage: marquee migrate status [flags]"},
		{[]string{"migrate", "unlock", "--help"}, "Usage: marquee migrate unlock [flags]"},
		{[]string{"version", "--help"}, "Usage: marquee version"},
		{[]string{"token", "new", "--help"}, "Usage: marquee token new"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCLI(t.Context(), nil, tt.args...)
			if code != exitOK || !strings.Contains(stdout, tt.wantText) || stderr != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 0 and %q on stdout only", code, stdout, stderr, tt.wantText)
			}
		})
	}
}

func TestRunHelpListsSettingsWithVariables(t *testing.T) {
	_, stdout, _ := runCLI(t.Context(), nil, "run", "--help")
	for _, want := range []string{
		"--data-dir directory", "$MARQUEE_DATA_DIR, default ./data",
		"--db URL", "$MARQUEE_DB, $MARQUEE_DB_FILE]",
		"--db-replica URL", "$MARQUEE_DB_REPLICA, $MARQUEE_DB_REPLICA_FILE]",
		"--kafka-sasl-password password", "$MARQUEE_KAFKA_SASL_PASSWORD, $MARQUEE_KAFKA_SASL_PASSWORD_FILE]",
		"--db-tls mode", "$MARQUEE_DB_TLS]",
		"--http-addr address", "$MARQUEE_HTTP_ADDR, default :8080",
		"--shutdown-timeout duration", "$MARQUEE_SHUTDOWN_TIMEOUT, default 8s",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("marquee run --help lacks %q:\n%s", want, stdout)
		}
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		wantError string
		wantUsage string
	}{
		{"no command", nil, nil, "no command given", "Usage: marquee <command>"},
		{"unknown command", []string{"serve"}, nil, `unknown command "serve"`, "Usage: marquee <command>"},
		{"unknown flag of run", []string{"run", "--bogus"}, nil, "flag provided but not defined: -bogus", "Usage: marquee run"},
		{"bad flag value", []string{"run", "--shutdown-timeout", "soon"}, nil, `invalid value "soon" for flag -shutdown-timeout`, "Usage: marquee run"},
		{"bad variable", []string{"run"}, map[string]string{"MARQUEE_SHUTDOWN_TIMEOUT": "soon"}, `invalid value "soon" for MARQUEE_SHUTDOWN_TIMEOUT`, "Usage: marquee run"},
		{"bad log level", []string{"migrate"}, map[string]string{"MARQUEE_LOG_LEVEL": "loud"}, "MARQUEE_LOG_LEVEL", "Usage: marquee migrate"},
		{"argument to run", []string{"run", "now"}, nil, `unexpected argument "now"`, "Usage: marquee run"},
		{"unknown flag of migrate status", []string{"migrate", "status", "--all"}, nil, "flag provided but not defined: -all", "Usage: marquee migrate status"},
		{"unknown migrate action", []string{"migrate", "down"}, nil, `unexpected argument "down"`, "Usage: marquee migrate [flags]"},
		{"action after flags", []string{"migrate", "--db", "sqlite:///nowhere.db", "status"}, nil, `unexpected argument "status"`, "Usage: marquee migrate [flags]"},
		{"feed share over 1", []string{"ingest", "--once", "--feed-max-rejected", "1.5"}, nil,
			"--feed-max-rejected (MARQUEE_FEED_MAX_REJECTED) must be a share from 0 to 1, got 1.5", "Usage: marquee ingest"},
		{"negative feed share", []string{"run"}, map[string]string{"MARQUEE_FEED_MAX_SHRINK": "-0.1"},
			"--feed-max-shrink (MARQUEE_FEED_MAX_SHRINK) must be a share from 0 to 1, got -0.1", "Usage: marquee run"},
		{"argument to version", []string{"version", "--short"}, nil, "flag provided but not defined: -short", "Usage: marquee version"},
		{"CORS origin with a path", []string{"api", "--cors-origins", "https://www.example.test/"}, nil,
			`"https://www.example.test/": an origin has no path, query or fragment (not even a trailing slash): write https://www.example.test`, "Usage: marquee api"},
		{"CORS * with origins", []string{"run"}, map[string]string{"MARQUEE_CORS_ORIGINS": "*,https://www.example.test"},
			`invalid value "*,https://www.example.test" for MARQUEE_CORS_ORIGINS: "*" allows every origin`, "Usage: marquee run"},
		{"CORS origin without scheme", []string{"run", "--cors-origins", "www.example.test"}, nil, `"www.example.test" is not an origin`, "Usage: marquee run"},
		{"relative public URL", []string{"api"}, map[string]string{"MARQUEE_PUBLIC_URL": "/api"},
			`invalid value "/api" for MARQUEE_PUBLIC_URL: "/api" is not an absolute http(s) URL`, "Usage: marquee api"},
		{"public URL with a query", []string{"run", "--public-url", "https://api.example.test/?x=1"}, nil, "has no query or fragment", "Usage: marquee run"},
		{"images URL of another scheme", []string{"api", "--images-public-url", "ftp://cdn.example.test/images"}, nil,
			`"ftp://cdn.example.test/images" is not an absolute http(s) URL`, "Usage: marquee api"},
		{"images URL with a fragment", []string{"api"}, map[string]string{"MARQUEE_IMAGES_PUBLIC_URL": "https://cdn.example.test/images#x"},
			"has no query or fragment", "Usage: marquee api"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t.Context(), tt.env, tt.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if !strings.Contains(stderr, tt.wantError) || !strings.Contains(stderr, tt.wantUsage) {
				t.Errorf("stderr %q, want %q and the usage %q", stderr, tt.wantError, tt.wantUsage)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := runCLI(t.Context(), nil, "version")
	if code != exitOK || !strings.HasPrefix(stdout, "marquee dev go1.") || strings.Count(stdout, "\n") != 1 {
		t.Fatalf("marquee version = %d %q, want 0 and one line starting \"marquee dev go1.\"", code, stdout)
	}
}

// TestConfigurationDocumented holds docs/configuration.md to the settings
// every command declares: a variable --help shows must be documented there.
func TestConfigurationDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	variable := regexp.MustCompile(`\$(MARQUEE_[A-Z0-9_]+)`)
	invocations := [][]string{{"migrate", "status"}, {"migrate", "unlock"}, {"dev", "gen-feed"}, {"dev", "verify"}, {"imaging", "refresh"},
		{"imaging", "gc"}, {"imaging", "copy"}, {"token", "new"}, {"store", "copy"}, {"takedown", "performer"}, {"takedown", "image"}, {"takedown", "list"},
		{"takedown", "lift"}, {"dlq", "list"}, {"dlq", "show"}, {"dlq", "replay"}, {"dlq", "purge"}}
	for _, c := range commands {
		invocations = append(invocations, []string{c.name})
	}
	seen := 0
	for _, args := range invocations {
		_, stdout, _ := runCLI(t.Context(), nil, append(args, "--help")...)
		for _, m := range variable.FindAllStringSubmatch(stdout, -1) {
			seen++
			if !bytes.Contains(doc, []byte("`"+m[1]+"`")) {
				t.Errorf("marquee %s --help shows $%s, which docs/configuration.md does not document", strings.Join(args, " "), m[1])
			}
		}
	}
	if seen == 0 {
		t.Fatal("no command's --help showed a variable: the test reads nothing")
	}
}

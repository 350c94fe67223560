package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestMigrateThenStatus(t *testing.T) {
	dbURL := "sqlite://" + filepath.Join(t.TempDir(), "marquee.db")
	env := map[string]string{"MARQUEE_DB": dbURL}

	code, stdout, stderr := runCLI(t.Context(), env, "migrate", "status")
	if code != exitOK {
		t.Fatalf("migrate status on a new database: exit %d, stderr %q", code, stderr)
	}
	if !strings.Contains(stdout, "pending") || strings.Contains(stdout, "applied") {
		t.Fatalf("migrate status before migrate:\n%s\nwant only pending migrations", stdout)
	}

	code, stdout, stderr = runCLI(t.Context(), env, "migrate")
	if code != exitOK {
		t.Fatalf("migrate: exit %d, stderr %q", code, stderr)
	}
	appliedLine := regexp.MustCompile(`(?m)^applied \d{14}_\w+$`)
	if !appliedLine.MatchString(stdout) {
		t.Fatalf("migrate printed %q, want lines like \"applied 20261126000001_initial\"", stdout)
	}

	code, stdout, _ = runCLI(t.Context(), env, "migrate")
	if code != exitOK || stdout != "database is up to date\n" {
		t.Fatalf("second migrate = %d %q, want 0 \"database is up to date\"", code, stdout)
	}

	code, stdout, _ = runCLI(t.Context(), env, "migrate", "status")
	if code != exitOK {
		t.Fatalf("migrate status: exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "MIGRATION") {
		t.Fatalf("migrate status:\n%s\nwant a header and one line per migration", stdout)
	}
	statusLine := regexp.MustCompile(`^\d{14}_\w+\s+applied\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)
	for _, line := range lines[1:] {
		if !statusLine.MatchString(line) {
			t.Errorf("status line %q, want name, applied and a UTC time", line)
		}
	}

	code, stdout, _ = runCLI(t.Context(), env, "migrate", "unlock")
	if code != exitOK || stdout != "migration lock released\n" {
		t.Fatalf("migrate unlock = %d %q", code, stdout)
	}
}

func TestMigrateDefaultsToTheDataDir(t *testing.T) {
	dataDir := t.TempDir()
	code, _, stderr := runCLI(t.Context(), nil, "migrate", "--data-dir", dataDir)
	if code != exitOK {
		t.Fatalf("migrate --data-dir: exit %d, stderr %q", code, stderr)
	}
	code, stdout, _ := runCLI(t.Context(), map[string]string{"MARQUEE_DB": "sqlite://" + filepath.Join(dataDir, "marquee.db")}, "migrate")
	if code != exitOK || stdout != "database is up to date\n" {
		t.Fatalf("migrate on DATA_DIR/marquee.db = %d %q, want it migrated already", code, stdout)
	}
}

func TestMigrateBadDatabaseFails(t *testing.T) {
	code, _, stderr := runCLI(t.Context(), nil, "migrate", "--db", "postgres://u:s3cret@db/marquee")
	if code != exitFailure || !strings.Contains(stderr, "unsupported scheme") {
		t.Fatalf("migrate on postgres = %d %q, want 1 and the reason", code, stderr)
	}
	if strings.Contains(stderr, "s3cret") {
		t.Fatalf("the password leaked into the log: %q", stderr)
	}
}

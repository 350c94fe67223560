package deploy

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"marquee/auth"
	"marquee/db"
)

// secretVariable matches the names of variables whose value is a secret:
// they must be given as files (NAME_FILE), never inline.
var secretVariable = regexp.MustCompile(`(?i)PASSWORD|TOKEN|SECRET|^MARQUEE_DB(_REPLICA)?$`)

// credentialsInURL matches a URL with a password in it (scheme://user:pass@).
var credentialsInURL = regexp.MustCompile(`://[^/@\s]*:[^/@\s]*@`)

// TestComposeSecrets checks the secrets contract of compose.yml: every secret
// is a Compose secret from a file under ./secrets, each service names the ones
// it mounts, and every *_FILE variable points at one of those mounts.
func TestComposeSecrets(t *testing.T) {
	p := loadCompose(t, nil)
	secretsDir, err := filepath.Abs("../secrets")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		service  string
		variable string // NAME_FILE
		secret   string
	}{
		{"migrate", "MARQUEE_DB_FILE", "marquee_db"},
		{"api", "MARQUEE_DB_FILE", "marquee_db"},
		{"api", "MARQUEE_DB_REPLICA_FILE", "marquee_db_replica"},
		{"api", "MARQUEE_API_TOKENS_FILE", "marquee_api_tokens"},
		{"ingest", "MARQUEE_DB_FILE", "marquee_db"},
		{"imaging", "MARQUEE_DB_FILE", "marquee_db"},
		{"imaging", "MARQUEE_S3_SECRET_ACCESS_KEY_FILE", "minio_root_password"},
		{"api", "MARQUEE_S3_SECRET_ACCESS_KEY_FILE", "minio_root_password"},
		{"minio", "MINIO_ROOT_PASSWORD_FILE", "minio_root_password"},
		{"load", "MARQUEE_DB_FILE", "marquee_db"},
		{"mysql", "MYSQL_ROOT_PASSWORD_FILE", "mysql_root_password"},
		{"mysql", "MYSQL_PASSWORD_FILE", "mysql_password"},
		{"mysql", "MYSQL_REPLICATION_PASSWORD_FILE", "mysql_replication_password"},
		{"mysql-replica", "MYSQL_ROOT_PASSWORD_FILE", "mysql_root_password"},
		{"mysql-replica", "MYSQL_REPLICATION_PASSWORD_FILE", "mysql_replication_password"},
	}
	for _, tt := range tests {
		t.Run(tt.service+"/"+tt.variable, func(t *testing.T) {
			v := p.Services[tt.service].Environment[tt.variable]
			if v == nil || *v != "/run/secrets/"+tt.secret {
				t.Errorf("%s = %v, want /run/secrets/%s", tt.variable, v, tt.secret)
			}
		})
	}

	used := map[string]bool{}
	for name, s := range p.Services {
		mounted := map[string]string{} // path in the container -> secret
		for _, ref := range s.Secrets {
			target := ref.Target
			if target == "" {
				target = ref.Source
			}
			if !path.IsAbs(target) {
				target = "/run/secrets/" + target
			}
			mounted[target] = ref.Source
			used[ref.Source] = true
			if _, ok := p.Secrets[ref.Source]; !ok {
				t.Errorf("%s: mounts the undeclared secret %s", name, ref.Source)
			}
		}
		for key, value := range s.Environment {
			if value == nil {
				continue
			}
			if strings.HasSuffix(key, "_FILE") {
				if _, ok := mounted[*value]; !ok {
					t.Errorf("%s: %s = %q is none of the service's secrets %v", name, key, *value, mounted)
				}
				continue
			}
			if secretVariable.MatchString(key) {
				t.Errorf("%s: %s holds a secret inline; give it as %s_FILE from a Compose secret", name, key, key)
			}
			if credentialsInURL.MatchString(*value) {
				t.Errorf("%s: %s has a password in its URL", name, key)
			}
		}
		// A health check runs outside the entrypoint, which is what turns the
		// images' *_FILE variables into values: it sees only the environment.
		if s.HealthCheck != nil {
			for _, m := range regexp.MustCompile(`\$\{?([A-Z_][A-Z0-9_]*)`).FindAllStringSubmatch(strings.Join(s.HealthCheck.Test, " "), -1) {
				if _, ok := s.Environment[m[1]]; !ok {
					t.Errorf("%s: the health check reads $%s, which the service's environment does not set", name, m[1])
				}
			}
		}
	}
	for name, secret := range p.Secrets {
		if !used[name] {
			t.Errorf("secret %s is declared but no service mounts it", name)
		}
		if secret.External || secret.Environment != "" || secret.Content != "" ||
			filepath.Dir(secret.File) != secretsDir || filepath.Base(secret.File) != name+".txt" {
			t.Errorf("secret %s comes from %+v, want the file ./secrets/%s.txt", name, secret, name)
		}
	}

	// The MySQL set-up scripts read the replication password from its secret,
	// and the replica's health check reads the root password from its own.
	for file, want := range map[string]string{
		"mysql/primary/10-replication-user.sh": `$(<"$MYSQL_REPLICATION_PASSWORD_FILE")`,
		"mysql/replica/10-start-replica.sh":    `$(<"$MYSQL_REPLICATION_PASSWORD_FILE")`,
		"mysql/replica/healthcheck.sh":         `$(<"$MYSQL_ROOT_PASSWORD_FILE")`,
	} {
		script, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(script), want) {
			t.Errorf("%s does not read its secret with %s", file, want)
		}
	}

	example, err := os.ReadFile("../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^#?\s*([A-Z_][A-Z0-9_]*)=`).FindAllStringSubmatch(string(example), -1) {
		if secretVariable.MatchString(m[1]) {
			t.Errorf(".env.example names the secret %s: secrets are files in ./secrets", m[1])
		}
	}
	ignore, err := os.ReadFile("../.gitignore")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(ignore), "\n")
	for _, want := range []string{"/secrets/", ".env"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".gitignore does not keep %s out of the repository", want)
		}
	}
}

// TestComposeSecretsScript runs `make secrets`'s script with the marquee
// binary of this checkout and checks that it makes every secret compose.yml
// declares, consistently, and never replaces one that exists.
func TestComposeSecretsScript(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the marquee binary")
	}
	tmp := t.TempDir()
	binary := filepath.Join(tmp, "marquee")
	if out, err := exec.Command("go", "build", "-o", binary, "marquee/cmd/marquee").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := filepath.Join(tmp, "secrets")
	run := func() string {
		t.Helper()
		cmd := exec.Command("../scripts/compose-secrets.sh", dir)
		cmd.Env = append(os.Environ(), "MARQUEE="+binary)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("compose-secrets.sh: %v\n%s", err, stderr.String())
		}
		return stdout.String()
	}
	read := func(name string) string {
		t.Helper()
		content, err := os.ReadFile(filepath.Join(dir, name+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSuffix(string(content), "\n")
	}

	stdout := run()
	p := loadCompose(t, nil)
	var declared, made []string
	for name := range p.Secrets {
		declared = append(declared, name+".txt")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		made = append(made, e.Name())
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		// The containers' non-root users read the files as mounted.
		if mode := info.Mode().Perm(); mode != 0o644 {
			t.Errorf("%s: mode %v, want 0644", e.Name(), mode)
		}
	}
	if !slices.Equal(sortedCopy(made), sortedCopy(declared)) {
		t.Fatalf("the script made %v, compose.yml declares %v", made, declared)
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("secrets directory: %v %v, want mode 0700", info.Mode(), err)
	}

	passwords := map[string]string{}
	for _, name := range []string{"mysql_root_password", "mysql_password", "mysql_replication_password"} {
		pw := read(name)
		if !regexp.MustCompile(`^[0-9a-f]{32,}$`).MatchString(pw) {
			t.Errorf("%s = %q, want a long random hex password", name, pw)
		}
		if other, seen := passwords[pw]; seen {
			t.Errorf("%s and %s have the same password", name, other)
		}
		passwords[pw] = name
	}
	for _, tt := range []struct{ secret, host string }{
		{"marquee_db", "mysql"},
		{"marquee_db_replica", "mysql-replica"},
	} {
		dsn, err := db.MySQLDSN(read(tt.secret))
		if err != nil {
			t.Errorf("%s: %v", tt.secret, err)
			continue
		}
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Fatalf("%s: %v", tt.secret, err)
		}
		host, port, _ := net.SplitHostPort(cfg.Addr)
		if cfg.User != "marquee" || cfg.Passwd != read("mysql_password") || host != tt.host || port != "3306" || cfg.DBName != "marquee" {
			t.Errorf("%s: user %q at %s/%s with the app password %v; want marquee at %s:3306/marquee with mysql_password",
				tt.secret, cfg.User, cfg.Addr, cfg.DBName, cfg.Passwd == read("mysql_password"), tt.host)
		}
		if _, ok := p.Services[tt.host]; !ok {
			t.Errorf("%s: host %s is no service of compose.yml", tt.secret, tt.host)
		}
	}

	entry := read("marquee_api_tokens")
	if !strings.HasPrefix(entry, "name=compose:"+auth.HashPrefix) {
		t.Errorf("marquee_api_tokens = %q, want the token's hashed entry named compose", entry)
	}
	tokens, err := auth.ParseTokens(entry)
	if err != nil {
		t.Fatalf("marquee_api_tokens: %v", err)
	}
	token := regexp.MustCompile(`(?m)^[A-Za-z0-9_-]{40,}$`).FindString(stdout)
	if role, name := tokens.Lookup(token); role != auth.RoleWrite || name != "compose" {
		t.Errorf("the printed token %q is a %v token named %q in marquee_api_tokens, want a write token named compose", token, role, name)
	}
	if strings.Contains(entry, token) {
		t.Errorf("marquee_api_tokens holds the token itself")
	}

	before := map[string]string{}
	for name := range p.Secrets {
		before[name] = read(name)
	}
	if again := run(); again != "" {
		t.Errorf("second run printed %q, want nothing (no new token)", again)
	}
	for name, content := range before {
		if got := read(name); got != content {
			t.Errorf("second run replaced %s", name)
		}
	}
}

package dbtest

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

func TestMain(m *testing.M) { Main(m) }

// openURL connects to a URL returned by MySQLURL, as a store would.
func openURL(t *testing.T, raw string) *sql.DB {
	t.Helper()
	_, cfg, err := parseMySQLURL(raw)
	if err != nil {
		t.Fatalf("MySQLURL returned %q: %v", raw, err)
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { db.Close() })
	return db
}

func databaseExists(t *testing.T, name string) bool {
	t.Helper()
	var n int
	err := mysqlServer().admin.QueryRowContext(context.Background(),
		"SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestMySQLURLGivesAnEmptyUTF8MB4Database(t *testing.T) {
	raw := MySQLURL(t)
	db := openURL(t, raw)
	ctx := context.Background()

	var name, charset, collation string
	if err := db.QueryRowContext(ctx,
		"SELECT DATABASE(), @@character_set_database, @@collation_database").Scan(&name, &charset, &collation); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(name, databasePrefix) || !strings.HasSuffix(raw, "/"+name) {
		t.Errorf("connected to database %q through %q, want a fresh %s* database named by the URL", name, raw, databasePrefix)
	}
	if charset != "utf8mb4" || collation != "utf8mb4_bin" {
		t.Errorf("database is %s / %s, want utf8mb4 / utf8mb4_bin", charset, collation)
	}
	var tables int
	if err := db.QueryRowContext(ctx,
		"SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()").Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("new database has %d tables, want none", tables)
	}

	// Four-byte characters survive, and the binary collation tells case apart.
	if _, err := db.ExecContext(ctx, "CREATE TABLE names (name VARCHAR(50) PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"Zoë 🎬", "zoë 🎬"} {
		if _, err := db.ExecContext(ctx, "INSERT INTO names (name) VALUES (?)", n); err != nil {
			t.Fatalf("insert %q: %v", n, err)
		}
	}
	var got string
	if err := db.QueryRowContext(ctx, "SELECT name FROM names WHERE name = ?", "Zoë 🎬").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != "Zoë 🎬" {
		t.Errorf("read back %q, want %q", got, "Zoë 🎬")
	}
}

func TestMySQLURLIsUniquePerCall(t *testing.T) {
	first, second := MySQLURL(t), MySQLURL(t)
	if first == second {
		t.Fatalf("two calls returned the same URL %q", first)
	}
	for _, raw := range []string{first, second} {
		if err := openURL(t, raw).PingContext(context.Background()); err != nil {
			t.Errorf("%s: %v", redactString(raw), err)
		}
	}
}

func TestMySQLURLDropsTheDatabaseAfterTheTest(t *testing.T) {
	var name string
	t.Run("user", func(t *testing.T) {
		raw := MySQLURL(t)
		name = raw[strings.LastIndex(raw, "/")+1:]
		if _, err := openURL(t, raw).ExecContext(context.Background(), "CREATE TABLE t (id INT)"); err != nil {
			t.Fatal(err)
		}
		if !databaseExists(t, name) {
			t.Fatalf("database %s does not exist during the test", name)
		}
	})
	if name == "" {
		t.Skip("the subtest got no MySQL database")
	}
	if databaseExists(t, name) {
		t.Errorf("database %s still exists after its test ended", name)
	}
}

func TestSQLiteURL(t *testing.T) {
	raw := SQLiteURL(t)
	path, ok := strings.CutPrefix(raw, "sqlite://")
	if !ok || !filepath.IsAbs(path) {
		t.Fatalf("SQLiteURL = %q, want sqlite:// and an absolute path", raw)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("database file %s exists before the test opened it (stat: %v)", path, err)
	}
	if info, err := os.Stat(filepath.Dir(path)); err != nil || !info.IsDir() {
		t.Errorf("directory of %s is missing: %v", path, err)
	}
	if other := SQLiteURL(t); other == raw {
		t.Errorf("two calls returned the same URL %q", raw)
	}
}

func TestBackendsAreSQLiteThenMySQL(t *testing.T) {
	var names []string
	for _, b := range Backends() {
		if b.URL == nil {
			t.Errorf("backend %s has no URL function", b.Name)
		}
		names = append(names, b.Name)
	}
	if got := strings.Join(names, ","); got != "sqlite,mysql" {
		t.Errorf("Backends() = %s, want sqlite,mysql", got)
	}
}

func TestRequireMySQL(t *testing.T) {
	tests := []struct {
		name string
		ci   string
		want bool
	}{
		{"unset", "", false},
		{"true", "true", true},
		{"TRUE", "TRUE", true},
		{"one", "1", true},
		{"false", "false", false},
		{"garbage", "yes please", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := requireMySQL(tt.ci); got != tt.want {
				t.Errorf("requireMySQL(%q) = %v, want %v", tt.ci, got, tt.want)
			}
		})
	}
}

func TestParseMySQLURL(t *testing.T) {
	tests := []struct {
		name                     string
		raw                      string
		addr, user, pass, dbName string
		wantErr                  bool
	}{
		{name: "full", raw: "mysql://marquee:secret@127.0.0.1:33306/mysql",
			addr: "127.0.0.1:33306", user: "marquee", pass: "secret", dbName: "mysql"},
		{name: "default port", raw: "mysql://root:pw@db.internal/marquee",
			addr: "db.internal:3306", user: "root", pass: "pw", dbName: "marquee"},
		{name: "escaped password", raw: "mysql://u:p%40ss%3Aw%2Frd@127.0.0.1:3306/d",
			addr: "127.0.0.1:3306", user: "u", pass: "p@ss:w/rd", dbName: "d"},
		{name: "no database", raw: "mysql://u:p@127.0.0.1:3306",
			addr: "127.0.0.1:3306", user: "u", pass: "p"},
		{name: "ipv6", raw: "mysql://u:p@[::1]/d",
			addr: "[::1]:3306", user: "u", pass: "p", dbName: "d"},
		{name: "other scheme", raw: "postgres://u:p@127.0.0.1/d", wantErr: true},
		{name: "no user", raw: "mysql://127.0.0.1:3306/d", wantErr: true},
		{name: "query", raw: "mysql://u:p@127.0.0.1:3306/d?tls=true", wantErr: true},
		{name: "not a URL", raw: "u:p@tcp(127.0.0.1:3306)/d", wantErr: true},
		{name: "bad port", raw: "mysql://u:p@127.0.0.1:port/d", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, cfg, err := parseMySQLURL(tt.raw)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseMySQLURL(%q) succeeded, want an error", tt.raw)
				}
				if strings.Contains(err.Error(), ":p@") {
					t.Errorf("error %q shows the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Net != "tcp" || cfg.Addr != tt.addr || cfg.User != tt.user || cfg.Passwd != tt.pass || cfg.DBName != tt.dbName {
				t.Errorf("got %s %s %s %s %s, want tcp %s %s %s %s",
					cfg.Net, cfg.Addr, cfg.User, cfg.Passwd, cfg.DBName, tt.addr, tt.user, tt.pass, tt.dbName)
			}
			if !cfg.ParseTime || cfg.MultiStatements {
				t.Errorf("parseTime=%v multiStatements=%v, want true and false", cfg.ParseTime, cfg.MultiStatements)
			}
		})
	}
}

func redactString(raw string) string {
	u, _, err := parseMySQLURL(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return redact(u)
}

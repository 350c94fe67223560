package dbtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"marquee/internal/testport"
)

// LocalServer is a MariaDB (or MySQL) server process of one test's own, for
// the tests that stop, kill, restart or replicate a server, which the shared
// test server must never be. It runs from the mariadbd or mysqld binary of
// the machine, in a temporary directory, on 127.0.0.1 and a free port, and is
// stopped and deleted when the test ends. Its account `marquee` may do
// anything over TCP; statements that need the server's root run through
// Admin.
type LocalServer struct {
	// Port is the TCP port, kept across Stop and Start.
	Port int

	t         testing.TB
	bin       string
	client    string
	flavour   string // "mariadb" or "mysql"
	adminUser string
	dir       string
	socket    string
	args      []string
	password  string
	cmd       *exec.Cmd
	exited    chan struct{}
}

// FindServerBinary returns the path of a mariadbd or mysqld binary on PATH,
// in /usr/sbin or /usr/bin.
func FindServerBinary() (string, bool) {
	return findTool("mariadbd", "mysqld")
}

func findTool(names ...string) (string, bool) {
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
		for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
			p := filepath.Join(dir, name)
			if info, err := os.Stat(p); err == nil && info.Mode()&0o111 != 0 {
				return p, true
			}
		}
	}
	return "", false
}

// StartLocalServer initialises and starts a server with extraArgs added to
// its command line (--server-id, --log-bin, ...). Without a server binary it
// skips the test, or fails it under CI=true.
func StartLocalServer(t testing.TB, extraArgs ...string) *LocalServer {
	t.Helper()
	bin, ok := FindServerBinary()
	if !ok {
		if requireMySQL(os.Getenv("CI")) {
			t.Fatal("dbtest: CI=true but no mariadbd or mysqld is installed for a local test server")
		}
		t.Skip("dbtest: no mariadbd or mysqld installed: skipping a test that runs its own MySQL server")
	}
	client, ok := findTool("mariadb", "mysql")
	if !ok {
		t.Fatalf("dbtest: found %s but no mariadb/mysql client", bin)
	}
	out, err := exec.Command(bin, "--no-defaults", "--version").Output()
	if err != nil {
		t.Fatalf("dbtest: %s --version: %v", bin, err)
	}
	s := &LocalServer{t: t, bin: bin, client: client, flavour: "mysql", adminUser: "root",
		password: randomHex(12)}
	if bytes.Contains(out, []byte("MariaDB")) {
		s.flavour = "mariadb"
		u, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		s.adminUser = u.Username
	}
	// A short path: a Unix socket path may not exceed 107 bytes.
	s.dir, err = os.MkdirTemp("", "marquee-srv-")
	if err != nil {
		t.Fatal(err)
	}
	s.socket = filepath.Join(s.dir, "sock")
	t.Cleanup(func() {
		s.stop(syscall.SIGTERM)
		os.RemoveAll(s.dir)
	})
	s.initialise(t)

	s.args = []string{
		"--no-defaults",
		"--datadir=" + filepath.Join(s.dir, "data"),
		"--socket=" + s.socket,
		"--pid-file=" + filepath.Join(s.dir, "pid"),
		"--log-error=" + filepath.Join(s.dir, "error.log"),
		"--bind-address=127.0.0.1",
		"--skip-name-resolve",
		"--character-set-server=utf8mb4",
		"--collation-server=utf8mb4_bin",
		"--sql-mode=" + mysql8SQLMode,
		"--default-time-zone=+00:00",
		"--performance-schema=OFF",
		"--innodb-buffer-pool-size=64M",
		"--max-connections=200",
	}
	if os.Geteuid() == 0 {
		s.args = append(s.args, "--user=root")
	}
	if s.flavour == "mysql" {
		s.args = append(s.args, "--mysqlx=OFF")
	}
	s.args = append(s.args, extraArgs...)

	// The kernel picks a free port; another process may take it before
	// the server binds it, and then the server exits and another is tried.
	for attempt := range 20 {
		s.Port = testport.Port(t)
		if s.start() == nil {
			break
		}
		if attempt == 19 {
			t.Fatalf("dbtest: local server did not start: %s", s.errorLog())
		}
	}
	s.Admin(t,
		fmt.Sprintf("CREATE USER 'marquee'@'127.0.0.1' IDENTIFIED BY '%s'", s.password),
		"GRANT ALL PRIVILEGES ON *.* TO 'marquee'@'127.0.0.1' WITH GRANT OPTION",
	)
	return s
}

func (s *LocalServer) initialise(t testing.TB) {
	datadir := filepath.Join(s.dir, "data")
	var cmd *exec.Cmd
	switch s.flavour {
	case "mariadb":
		installDB, ok := findTool("mariadb-install-db", "mysql_install_db")
		if !ok {
			t.Fatalf("dbtest: found %s but no mariadb-install-db", s.bin)
		}
		args := []string{"--no-defaults", "--datadir=" + datadir, "--auth-root-authentication-method=socket",
			"--auth-root-socket-user=" + s.adminUser, "--skip-test-db", "--skip-name-resolve"}
		if os.Geteuid() == 0 {
			args = append(args, "--user=root")
		}
		cmd = exec.Command(installDB, args...)
	default:
		args := []string{"--no-defaults", "--initialize-insecure", "--datadir=" + datadir,
			"--log-error=" + filepath.Join(s.dir, "init.log")}
		if os.Geteuid() == 0 {
			args = append(args, "--user=root")
		}
		cmd = exec.Command(s.bin, args...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dbtest: initialising a data dir: %v\n%s", err, out)
	}
}

// start runs the server and waits until it answers on its socket.
func (s *LocalServer) start() error {
	os.Truncate(filepath.Join(s.dir, "error.log"), 0)
	cmd := exec.Command(s.bin, append(s.args, fmt.Sprintf("--port=%d", s.Port))...)
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { cmd.Wait(); close(exited) }(s.exited)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			s.cmd = nil
			return fmt.Errorf("server exited during start-up")
		default:
		}
		if _, err := s.admin("SELECT 1"); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.stop(syscall.SIGKILL)
	return fmt.Errorf("server did not answer within 60 s")
}

// Start starts the server again after Stop or Kill, on the same port with
// the same data.
func (s *LocalServer) Start(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatalf("dbtest: restarting the local server: %v: %s", err, s.errorLog())
	}
}

// Stop shuts the server down cleanly and waits for it to exit.
func (s *LocalServer) Stop(t testing.TB) {
	t.Helper()
	s.stop(syscall.SIGTERM)
}

// Kill kills the server with SIGKILL, as a crash would.
func (s *LocalServer) Kill(t testing.TB) {
	t.Helper()
	s.stop(syscall.SIGKILL)
}

func (s *LocalServer) stop(sig syscall.Signal) {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(sig)
	select {
	case <-s.exited:
	case <-time.After(60 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// URL is the mysql:// URL of database on this server, as the marquee account.
func (s *LocalServer) URL(database string) string {
	return fmt.Sprintf("mysql://marquee:%s@127.0.0.1:%d/%s", s.password, s.Port, database)
}

// Admin runs statements as the server's root, through its socket, and
// fails the test on an error.
func (s *LocalServer) Admin(t testing.TB, statements ...string) {
	t.Helper()
	if out, err := s.admin(statements...); err != nil {
		t.Fatalf("dbtest: %v: %s", err, out)
	}
}

// AdminQuery runs one statement as root and returns its output, tab-separated
// rows without column names.
func (s *LocalServer) AdminQuery(t testing.TB, statement string) string {
	t.Helper()
	out, err := s.admin(statement)
	if err != nil {
		t.Fatalf("dbtest: %v: %s", err, out)
	}
	return strings.TrimSpace(out)
}

func (s *LocalServer) admin(statements ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.client, "--no-defaults", "--protocol=SOCKET", "--socket="+s.socket,
		"--user="+s.adminUser, "--batch", "--skip-column-names")
	cmd.Stdin = strings.NewReader(strings.Join(statements, ";\n") + ";\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("running %q: %w", statements, err)
	}
	return string(out), nil
}

func (s *LocalServer) errorLog() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "error.log"))
	return string(b)
}

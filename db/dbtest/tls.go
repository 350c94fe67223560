package dbtest

import (
	"fmt"
	neturl "net/url"
	"testing"

	"marquee/internal/testpki"
)

// StartTLSServer starts a LocalServer that serves TLS with a certificate for
// 127.0.0.1 issued by ca (and trusts ca for client certificates), with an
// empty database named marquee.
func StartTLSServer(t testing.TB, ca *testpki.CA) *LocalServer {
	t.Helper()
	cert := ca.Issue(t, "mysql", "127.0.0.1")
	srv := StartLocalServer(t, "--ssl-ca="+ca.CertFile, "--ssl-cert="+cert.CertFile, "--ssl-key="+cert.KeyFile)
	srv.Admin(t, "CREATE DATABASE marquee CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
	return srv
}

// AddAccount creates an account with every privilege on the marquee
// database whose connections must meet require ("SSL" or "X509"), and
// returns the mysql:// URL of that database as the account.
func (s *LocalServer) AddAccount(t testing.TB, user, password, require string) string {
	t.Helper()
	s.Admin(t, fmt.Sprintf("CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY '%s' REQUIRE %s", user, password, require),
		fmt.Sprintf("GRANT ALL PRIVILEGES ON marquee.* TO '%s'@'127.0.0.1'", user))
	u, err := neturl.Parse(s.URL("marquee"))
	if err != nil {
		t.Fatal(err)
	}
	u.User = neturl.UserPassword(user, password)
	return u.String()
}

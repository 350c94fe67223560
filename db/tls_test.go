package db

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"marquee/db/dbtest"
	"marquee/internal/testpki"
)

// TestMySQLTLS starts a MariaDB of the test's own that serves TLS with a certificate of a CA
// made by the test, and opens it with each TLS setting: the connection must be encrypted
// exactly when asked, verified against the given CA, and refused when the certificate does
// not verify or a client certificate the account requires is missing.
func TestMySQLTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a database server")
	}
	ca := testpki.NewCA(t, "mysql-ca")
	other := testpki.NewCA(t, "other-ca")
	client := ca.Issue(t, "client", "marquee")
	srv := dbtest.StartTLSServer(t, ca)
	url := srv.URL("marquee")
	x509URL := srv.AddAccount(t, "x509", "x509-secret", "X509")

	for _, tc := range []struct {
		name      string
		url       string
		tls       *tls.Config
		preferred bool
		wantTLS   bool
		wantErr   string // "" for success
	}{
		{"plaintext", url, nil, false, false, ""},
		{"TLS with the CA", url, &tls.Config{RootCAs: ca.Pool()}, false, true, ""},
		{"preferred with the CA", url, &tls.Config{RootCAs: ca.Pool()}, true, true, ""},
		{"TLS with another CA", url, &tls.Config{RootCAs: other.Pool()}, false, false, "certificate signed by unknown authority"},
		{"preferred with another CA", url, &tls.Config{RootCAs: other.Pool()}, true, false, "certificate signed by unknown authority"},
		{"TLS with the system CAs", url, &tls.Config{}, false, false, "certificate"},
		{"TLS for another name", url, &tls.Config{RootCAs: ca.Pool(), ServerName: "db.example.test"}, false, false, "certificate"},
		{"client certificate required and given", x509URL, &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{client.TLS}}, false, true, ""},
		{"client certificate required, none given", x509URL, &tls.Config{RootCAs: ca.Pool()}, false, false, "Access denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			d, err := Open(ctx, Options{URL: tc.url, TLS: tc.tls, TLSPreferred: tc.preferred})
			if tc.wantErr != "" {
				if err == nil {
					d.Close()
					t.Fatalf("Open succeeded, want an error with %q", tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("Open: %v, want an error with %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "x509-secret") {
					t.Errorf("the error quotes a password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer d.Close()
			var name, cipher string
			if err := d.W.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&name, &cipher); err != nil {
				t.Fatal(err)
			}
			if got := cipher != ""; got != tc.wantTLS {
				t.Errorf("encrypted = %v (cipher %q), want %v", got, cipher, tc.wantTLS)
			}
			if tc.url == url {
				// Migrate and load over the connection.
				if _, err := d.Migrate(ctx, 0); err != nil {
					t.Fatalf("migrate: %v", err)
				}
				store := NewStore(d)
				created, err := store.Create(ctx, PornstarInput{PornstarFields: PornstarFields{Name: "Over " + tc.name}})
				if err != nil {
					t.Fatal(err)
				}
				if got, err := store.Get(ctx, created.ID); err != nil || got.Name != created.Name {
					t.Errorf("read back: %+v, %v", got, err)
				}
			}
		})
	}
	t.Run("replica", func(t *testing.T) { testMySQLReplicaTLS(t, url, x509URL, ca, other, client) })
}

// testMySQLReplicaTLS opens the TLS server of TestMySQLTLS with a replica URL: the replica's
// connections must get exactly the primary's TLS (encryption, CA, client certificate), and a
// replica whose certificate the CA did not sign must be refused while the primary is used.
// The server of primaryURL replicates from nothing, so the router keeps reads on the primary
// and the replica's connections are read through its connector.
func testMySQLReplicaTLS(t *testing.T, primaryURL, x509URL string, ca, other *testpki.CA, client testpki.KeyPair) {
	otherSrv := dbtest.StartTLSServer(t, other)

	for _, tc := range []struct {
		name       string
		url        string
		replicaURL string
		tls        *tls.Config
		wantTLS    bool
		wantErr    string // "" when the replica accepts the connection
	}{
		{"plaintext", primaryURL, primaryURL, nil, false, ""},
		{"TLS with the CA", primaryURL, primaryURL, &tls.Config{RootCAs: ca.Pool()}, true, ""},
		{"client certificate required and given", x509URL, x509URL, &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{client.TLS}}, true, ""},
		{"replica certificate of another CA", primaryURL, otherSrv.URL("marquee"), &tls.Config{RootCAs: ca.Pool()}, false, "certificate signed by unknown authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			d, err := Open(ctx, Options{URL: tc.url, ReplicaURL: tc.replicaURL, TLS: tc.tls})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer d.Close()
			replica := sql.OpenDB(d.replica.replica)
			defer replica.Close()
			var name, cipher string
			err = replica.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&name, &cipher)
			status := d.ReplicaStatus()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("a replica connection: %v (cipher %q), want an error with %q", err, cipher, tc.wantErr)
				}
				// The router's check connects the same way, so reads stay on the
				// primary and the status says why.
				if status.InUse || status.Err == nil || !strings.Contains(status.Err.Error(), tc.wantErr) {
					t.Errorf("replica status %+v, want not in use, with %q", status, tc.wantErr)
				}
				var one int
				if err := d.R.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
					t.Errorf("a read with the replica refused: %v, want it served by the primary", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("a replica connection: %v", err)
			}
			if got := cipher != ""; got != tc.wantTLS {
				t.Errorf("replica connection encrypted = %v (cipher %q), want %v", got, cipher, tc.wantTLS)
			}
			// The check connected and the server answered: it is no replica (or
			// does not tell this account its replication status).
			var serverAnswer *mysql.MySQLError
			if status.Err == nil || !strings.Contains(status.Err.Error(), "replicates from no primary") && !errors.As(status.Err, &serverAnswer) {
				t.Errorf("replica status %+v, want the check to reach the server", status)
			}
		})
	}
}

// TestMySQLURLRefusesTLSParameters checks that TLS comes only from Options, where its checks
// cannot be switched off.
func TestMySQLURLRefusesTLSParameters(t *testing.T) {
	for _, raw := range []string{
		"mysql://u:p@127.0.0.1:3306/marquee?tls=skip-verify",
		"mysql://u:p@127.0.0.1:3306/marquee?tls=preferred",
		"mysql://u:p@127.0.0.1:3306/marquee?tls=true",
		"mysql://u:p@127.0.0.1:3306/marquee?allowFallbackToPlaintext=true",
	} {
		if _, err := MySQLDSN(raw); err == nil || !strings.Contains(err.Error(), "MARQUEE_DB_TLS") {
			t.Errorf("MySQLDSN(%q): %v, want a refusal naming MARQUEE_DB_TLS", raw, err)
		}
	}
}

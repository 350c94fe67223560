package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"marquee/bus"
	"marquee/db"
)

// dbTLSMode is MARQUEE_DB_TLS: false, true or preferred.
type dbTLSMode string

const (
	dbTLSOff       dbTLSMode = "false"
	dbTLSRequired  dbTLSMode = "true"
	dbTLSPreferred dbTLSMode = "preferred"
)

func (m dbTLSMode) MarshalText() ([]byte, error) {
	if m == "" {
		return []byte(dbTLSOff), nil
	}
	return []byte(m), nil
}

func (m *dbTLSMode) UnmarshalText(text []byte) error {
	switch mode := dbTLSMode(text); mode {
	case dbTLSOff, dbTLSRequired, dbTLSPreferred:
		*m = mode
		return nil
	}
	// skip-verify, which the MySQL driver knows, is missing on purpose: a
	// connection whose certificate is not checked can be intercepted.
	return errors.New("want false, true or preferred")
}

// dbOptions returns how to open the database of c: its URLs and TLS.
func (c *Config) dbOptions() (db.Options, error) {
	opts := db.Options{URL: c.DB, ReplicaURL: c.DBReplica}
	mode := c.DBTLS
	if mode == "" {
		mode = dbTLSOff
	}
	if mode == dbTLSOff {
		if c.DBTLSCAFile != "" || c.DBTLSCertFile != "" || c.DBTLSKeyFile != "" {
			return opts, &usageError{"--db-tls-ca-file, --db-tls-cert-file and --db-tls-key-file need --db-tls=true or preferred (MARQUEE_DB_TLS)"}
		}
		return opts, nil
	}
	config, err := clientTLS("db-tls", c.DBTLSCAFile, c.DBTLSCertFile, c.DBTLSKeyFile, "")
	if err != nil {
		return opts, err
	}
	opts.TLS, opts.TLSPreferred = config, mode == dbTLSPreferred
	return opts, nil
}

// openDatabase opens the database of c (see dbOptions).
func openDatabase(ctx context.Context, c Config) (*db.DB, error) {
	opts, err := c.dbOptions()
	if err != nil {
		return nil, err
	}
	return db.Open(ctx, opts)
}

// clientTLS builds the TLS configuration of a client: the servers'
// certificates verified against the CAs of caFile (the system's when
// empty), and certFile with keyFile offered for mutual TLS. flagPrefix names
// the settings in errors.
func clientTLS(flagPrefix, caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	config := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caFile != "" {
		pool, err := loadCAs(flagPrefix, caFile)
		if err != nil {
			return nil, err
		}
		config.RootCAs = pool
	}
	if certFile != "" || keyFile != "" {
		cert, err := loadKeyPair(flagPrefix, certFile, keyFile)
		if err != nil {
			return nil, err
		}
		config.Certificates = []tls.Certificate{cert}
	}
	return config, nil
}

// loadCAs reads a PEM file of CA certificates.
func loadCAs(flagPrefix, file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--%s-ca-file: %w", flagPrefix, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--%s-ca-file %s: no PEM certificate in it", flagPrefix, file)
	}
	return pool, nil
}

// loadKeyPair reads a PEM certificate and its key; both must be given.
func loadKeyPair(flagPrefix, certFile, keyFile string) (tls.Certificate, error) {
	if certFile == "" || keyFile == "" {
		return tls.Certificate{}, &usageError{fmt.Sprintf("--%s-cert-file and --%s-key-file go together: set both", flagPrefix, flagPrefix)}
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		// The error names the files and what is wrong with them, never key material.
		return tls.Certificate{}, fmt.Errorf("--%s-cert-file %s, --%s-key-file %s: %w", flagPrefix, certFile, flagPrefix, keyFile, err)
	}
	return cert, nil
}

// kafkaSASLUser returns the SASL account of c, or ok false without one.
func (c *Config) kafkaSASLUser() (user bus.SASLUser, ok bool, err error) {
	if c.KafkaSASLMechanism == "" {
		if c.KafkaSASLUsername != "" || c.KafkaSASLPassword != "" {
			return user, false, &usageError{"--kafka-sasl-username and --kafka-sasl-password need --kafka-sasl-mechanism (MARQUEE_KAFKA_SASL_MECHANISM)"}
		}
		return user, false, nil
	}
	user = bus.SASLUser{Mechanism: c.KafkaSASLMechanism, Name: c.KafkaSASLUsername, Password: c.KafkaSASLPassword}
	if _, err := bus.NewSASL(user.Mechanism, user.Name, user.Password); err != nil {
		return user, false, &usageError{strings.TrimPrefix(err.Error(), "bus: ")}
	}
	return user, true, nil
}

// checkKafkaTLSFiles refuses TLS files without --kafka-tls, so that no one
// believes a connection encrypted that is not.
func (c *Config) checkKafkaTLSFiles() error {
	if !c.KafkaTLS && (c.KafkaTLSCAFile != "" || c.KafkaTLSCertFile != "" || c.KafkaTLSKeyFile != "" || c.KafkaTLSServerName != "") {
		return &usageError{"the --kafka-tls-* files and server name need --kafka-tls (MARQUEE_KAFKA_TLS=true)"}
	}
	return nil
}

// kafkaCluster returns the client side of the external brokers of c: TLS
// and SASL as configured.
func (c *Config) kafkaCluster(brokers []string, logger *slog.Logger) (bus.Cluster, error) {
	cluster := bus.Cluster{Brokers: brokers}
	if err := c.checkKafkaTLSFiles(); err != nil {
		return cluster, err
	}
	if c.KafkaTLS {
		config, err := clientTLS("kafka-tls", c.KafkaTLSCAFile, c.KafkaTLSCertFile, c.KafkaTLSKeyFile, c.KafkaTLSServerName)
		if err != nil {
			return cluster, err
		}
		cluster.TLS = config
	}
	user, ok, err := c.kafkaSASLUser()
	if err != nil || !ok {
		return cluster, err
	}
	if cluster.SASL, err = bus.NewSASL(user.Mechanism, user.Name, user.Password); err != nil {
		return cluster, err
	}
	if user.Mechanism == bus.SASLPlain && !c.KafkaTLS {
		logger.Warn("SASL PLAIN without --kafka-tls sends the Kafka password in clear text over the network")
	}
	return cluster, nil
}

// embeddedBrokerSecurity returns the embedded broker's side of c: its TLS
// server configuration and its one SASL account, both unset by default.
func (c *Config) embeddedBrokerSecurity() (*tls.Config, []bus.SASLUser, error) {
	if err := c.checkKafkaTLSFiles(); err != nil {
		return nil, nil, err
	}
	var users []bus.SASLUser
	if user, ok, err := c.kafkaSASLUser(); err != nil {
		return nil, nil, err
	} else if ok {
		users = []bus.SASLUser{user}
	}
	if !c.KafkaTLS {
		return nil, users, nil
	}
	if c.KafkaTLSServerName != "" {
		return nil, nil, &usageError{"--kafka-tls-server-name is for clients of external brokers; the embedded broker serves the names in its certificate"}
	}
	if c.KafkaTLSCertFile == "" || c.KafkaTLSKeyFile == "" {
		return nil, nil, &usageError{"the embedded broker serves TLS with its own certificate: set --kafka-tls-cert-file and --kafka-tls-key-file"}
	}
	cert, err := loadKeyPair("kafka-tls", c.KafkaTLSCertFile, c.KafkaTLSKeyFile)
	if err != nil {
		return nil, nil, err
	}
	config := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if c.KafkaTLSCAFile != "" {
		pool, err := loadCAs("kafka-tls", c.KafkaTLSCAFile)
		if err != nil {
			return nil, nil, err
		}
		// The broker's own clients (topic set-up) present its certificate:
		// it is trusted as a client too, and only the broker holds its key.
		own, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			return nil, nil, fmt.Errorf("--kafka-tls-cert-file: %w", err)
		}
		pool.AddCert(own)
		config.ClientCAs, config.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return config, users, nil
}

// embeddedCluster returns how this process's own clients reach its embedded
// broker: with the broker's SASL account, and over TLS that trusts exactly
// the broker's certificate, whatever names it carries.
func embeddedCluster(broker *bus.Broker, serverTLS *tls.Config, users []bus.SASLUser) (bus.Cluster, error) {
	cluster := bus.Cluster{Brokers: broker.Brokers()}
	if serverTLS != nil {
		own := serverTLS.Certificates[0]
		leaf, err := x509.ParseCertificate(own.Certificate[0])
		if err != nil {
			return cluster, fmt.Errorf("embedded broker certificate: %w", err)
		}
		cluster.TLS = &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{own},
			// Not a skipped check: VerifyConnection pins the one certificate
			// this process loaded itself, which is stricter than any CA.
			InsecureSkipVerify: true,
			VerifyConnection: func(state tls.ConnectionState) error {
				if len(state.PeerCertificates) == 0 || !state.PeerCertificates[0].Equal(leaf) {
					return errors.New("the embedded broker presented a certificate other than its own")
				}
				return nil
			},
		}
	}
	if len(users) > 0 {
		mechanism, err := bus.NewSASL(users[0].Mechanism, users[0].Name, users[0].Password)
		if err != nil {
			return cluster, err
		}
		cluster.SASL = mechanism
	}
	return cluster, nil
}

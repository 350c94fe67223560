package bus

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go/sasl"

	"marquee/internal/testpki"
)

const testSASLPassword = "s3cret-kafka-pw"

// securedBroker starts an embedded broker that serves TLS with server's certificate (asking
// clients for a certificate of ca when mutual) and accepts one SASL account.
func securedBroker(t *testing.T, server testpki.KeyPair, ca *testpki.CA, mutual bool, user SASLUser) *Broker {
	t.Helper()
	config := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{server.TLS}}
	if mutual {
		config.ClientCAs, config.ClientAuth = ca.Pool(), tls.RequireAndVerifyClientCert
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	broker, err := StartBroker(ctx, BrokerConfig{Addr: "127.0.0.1:0", Partitions: 2, Logger: testLogger(),
		TLS: config, Users: []SASLUser{user}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { broker.Close() })
	return broker
}

func mustSASL(t *testing.T, mechanism, user, password string) sasl.Mechanism {
	t.Helper()
	m, err := NewSASL(mechanism, user, password)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSecuredBroker runs every kind of client (admin, writer, consumer group, dead letters)
// against a broker that requires TLS and SASL, for each mechanism and with mutual TLS.
func TestSecuredBroker(t *testing.T) {
	ca := testpki.NewCA(t, "kafka-ca")
	server := ca.Issue(t, "broker", "127.0.0.1")
	client := ca.Issue(t, "client", "marquee-client")
	for _, tc := range []struct {
		name      string
		mechanism string
		mutual    bool
	}{
		{"TLS and SCRAM-SHA-512", SASLScramSHA512, false},
		{"TLS and SCRAM-SHA-256", SASLScramSHA256, false},
		{"TLS and PLAIN", SASLPlain, false},
		{"mutual TLS and SCRAM-SHA-512", SASLScramSHA512, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			broker := securedBroker(t, server, ca, tc.mutual, SASLUser{Mechanism: tc.mechanism, Name: "marquee", Password: testSASLPassword})
			cluster := Cluster{
				Brokers: broker.Brokers(),
				TLS:     &tls.Config{RootCAs: ca.Pool()},
				SASL:    mustSASL(t, tc.mechanism, "marquee", testSASLPassword),
			}
			if tc.mutual {
				cluster.TLS.Certificates = []tls.Certificate{client.TLS}
			}
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			topic := "secured." + strings.ReplaceAll(tc.mechanism, "-", "")
			deadLetters := topic + DeadLetterSuffix
			policies := []TopicPolicy{{Topic: topic, Configs: map[string]string{"cleanup.policy": "compact"}},
				{Topic: deadLetters, Configs: map[string]string{"cleanup.policy": "delete"}}}
			if err := ensureTopics(ctx, cluster, 2, policies, testLogger()); err != nil {
				t.Fatalf("ensure topics: %v", err)
			}
			if err := Ping(ctx, cluster); err != nil {
				t.Fatalf("ping: %v", err)
			}
			w, err := NewWriter(WriterConfig{Cluster: cluster, Logger: testLogger()})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			publish(t, w, topic, numbered("k", 20)...)

			cfg := testConsumerConfig(broker.Brokers(), topic, newGroup(t))
			cfg.Cluster = cluster
			got := newCollector()
			startConsumer(t, cfg, got.handle("secured"))
			got.waitKeys(t, keysOf(numbered("k", 20)))
			if lag, err := Lag(ctx, cluster, cfg.GroupID, topic); err != nil {
				t.Errorf("lag: %v", err)
			} else {
				t.Logf("lag after consuming: %d", lag)
			}

			// The dead-letter tools: kafka-go readers, and franz-go for DeleteRecords.
			publish(t, w, deadLetters, numbered("d", 5)...)
			read := 0
			if err := ReadDeadLetters(ctx, cluster, deadLetters, func(DeadLetterRecord) error { read++; return nil }); err != nil || read != 5 {
				t.Errorf("read dead letters: %d, %v; want 5", read, err)
			}
			results, err := PurgeDeadLetters(ctx, cluster, deadLetters, time.Now().Add(time.Hour))
			var purged int64
			for _, r := range results {
				purged += r.Deleted
			}
			if err != nil || purged != 5 {
				t.Errorf("purge dead letters: %d, %v; want 5", purged, err)
			}
		})
	}
}

// TestSecuredBrokerRefusals checks that a client the broker does not accept fails at once
// with its reason, and that no error quotes the password.
func TestSecuredBrokerRefusals(t *testing.T) {
	ca := testpki.NewCA(t, "kafka-ca")
	other := testpki.NewCA(t, "other-ca")
	server := ca.Issue(t, "broker", "127.0.0.1")
	strangerCert := other.Issue(t, "stranger", "stranger")
	user := SASLUser{Mechanism: SASLScramSHA512, Name: "marquee", Password: testSASLPassword}
	broker := securedBroker(t, server, ca, false, user)
	mutualBroker := securedBroker(t, server, ca, true, user)
	right := mustSASL(t, SASLScramSHA512, "marquee", testSASLPassword)
	for _, tc := range []struct {
		name    string
		broker  *Broker
		tls     *tls.Config
		sasl    sasl.Mechanism
		reason  string // in the error text
		authErr bool   // wraps ErrAuthentication
	}{
		{"wrong password", broker, &tls.Config{RootCAs: ca.Pool()}, mustSASL(t, SASLScramSHA512, "marquee", "not-the-password"), "SASL", true},
		{"unknown user", broker, &tls.Config{RootCAs: ca.Pool()}, mustSASL(t, SASLScramSHA512, "nobody", testSASLPassword), "SASL", true},
		{"other mechanism", broker, &tls.Config{RootCAs: ca.Pool()}, mustSASL(t, SASLScramSHA256, "marquee", testSASLPassword), "SASL", true},
		{"untrusted certificate", broker, &tls.Config{RootCAs: other.Pool()}, right, "certificate", true},
		{"system CAs only", broker, &tls.Config{}, right, "certificate", true},
		{"wrong server name", broker, &tls.Config{RootCAs: ca.Pool(), ServerName: "kafka.example.test"}, right, "certificate", true},
		{"no client certificate", mutualBroker, &tls.Config{RootCAs: ca.Pool()}, right, "TLS handshake", true},
		{"client certificate of another CA", mutualBroker, &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{strangerCert.TLS}}, right, "TLS handshake", true},
		{"plaintext to a TLS broker", broker, nil, right, "closed the connection", true},
		{"no SASL", broker, &tls.Config{RootCAs: ca.Pool()}, nil, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			cluster := Cluster{Brokers: tc.broker.Brokers(), TLS: tc.tls, SASL: tc.sasl}
			err := EnsureTopics(ctx, cluster, 1)
			if err == nil {
				t.Fatal("EnsureTopics succeeded, want a refusal")
			}
			if ctx.Err() != nil {
				t.Fatalf("EnsureTopics kept retrying until the deadline: %v", err)
			}
			t.Logf("error: %v", err)
			if got := errors.Is(err, ErrAuthentication); got != tc.authErr {
				t.Errorf("errors.Is(err, ErrAuthentication) = %v, want %v", got, tc.authErr)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not give the reason %q", err, tc.reason)
			}
			if strings.Contains(err.Error(), testSASLPassword) {
				t.Errorf("error %q quotes the password", err)
			}
		})
	}
}

// TestNewSASL checks the mechanisms MARQUEE_KAFKA_SASL_MECHANISM accepts.
func TestNewSASL(t *testing.T) {
	for _, tc := range []struct {
		mechanism, user, password string
		want                      string // mechanism name, or "" for an error
	}{
		{SASLPlain, "u", "p", "PLAIN"},
		{SASLScramSHA256, "u", "p", "SCRAM-SHA-256"},
		{SASLScramSHA512, "u", "p", "SCRAM-SHA-512"},
		{"scram-sha-512", "u", "p", ""},
		{"GSSAPI", "u", "p", ""},
		{SASLScramSHA512, "", "p", ""},
		{SASLScramSHA512, "u", "", ""},
	} {
		t.Run(tc.mechanism+"/"+tc.user+"/"+tc.password, func(t *testing.T) {
			m, err := NewSASL(tc.mechanism, tc.user, tc.password)
			switch {
			case tc.want == "" && err == nil:
				t.Errorf("NewSASL(%q) = %s, want an error", tc.mechanism, m.Name())
			case tc.want != "" && err != nil:
				t.Errorf("NewSASL(%q): %v", tc.mechanism, err)
			case tc.want != "" && m.Name() != tc.want:
				t.Errorf("NewSASL(%q).Name() = %q, want %q", tc.mechanism, m.Name(), tc.want)
			}
			if err != nil && tc.password != "" && strings.Contains(err.Error(), tc.password+"\"") {
				t.Errorf("error %q quotes the password", err)
			}
		})
	}
}

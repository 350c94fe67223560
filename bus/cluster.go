package bus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kgo"
	kgosasl "github.com/twmb/franz-go/pkg/sasl"
)

// Cluster says how to reach a Kafka cluster: its bootstrap brokers and how every connection to
// them is secured. Every client bus makes (writers, consumer-group readers, admin requests) is
// made from a Cluster, so one value secures them all. Without TLS and SASL connections are
// plaintext and unauthenticated, as they are to the embedded broker on loopback.
type Cluster struct {
	// Brokers are the bootstrap brokers, host:port.
	Brokers []string
	// TLS, when set, encrypts every connection and verifies the brokers' certificates against
	// its RootCAs (the system's when nil); a certificate in it is offered for mutual TLS.
	TLS *tls.Config
	// SASL, when set, authenticates every connection, after the TLS handshake when both are set.
	SASL sasl.Mechanism
}

// SASL mechanism names, as Kafka and MARQUEE_KAFKA_SASL_MECHANISM spell them.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// SASLMechanisms lists the mechanisms NewSASL accepts.
func SASLMechanisms() []string { return []string{SASLPlain, SASLScramSHA256, SASLScramSHA512} }

// NewSASL returns the client side of mechanism for user and password. The password is kept
// only inside the mechanism: no error of this package quotes it.
func NewSASL(mechanism, user, password string) (sasl.Mechanism, error) {
	if user == "" || password == "" {
		return nil, fmt.Errorf("bus: SASL %s needs a user name and a password", mechanism)
	}
	switch mechanism {
	case SASLPlain:
		return plain.Mechanism{Username: user, Password: password}, nil
	case SASLScramSHA256:
		return scram.Mechanism(scram.SHA256, user, password)
	case SASLScramSHA512:
		return scram.Mechanism(scram.SHA512, user, password)
	default:
		return nil, fmt.Errorf("bus: unknown SASL mechanism %q, want one of %v", mechanism, SASLMechanisms())
	}
}

// clientID names Marquee's connections in the brokers' logs and quotas.
const clientID = "marquee"

// dialTimeout bounds connecting to a broker, TLS and SASL handshakes included.
const dialTimeout = 10 * time.Second

// transport returns a transport of its own for the cluster, closed by the caller: kafka-go's
// DefaultTransport pools connections process-wide, and a pooled connection to a restarted
// broker fails its next request.
func (c Cluster) transport() *kafka.Transport {
	return &kafka.Transport{ClientID: clientID, DialTimeout: dialTimeout, TLS: c.TLS, SASL: c.SASL}
}

// dialer returns the dialer consumer-group readers connect with.
func (c Cluster) dialer() *kafka.Dialer {
	return &kafka.Dialer{ClientID: clientID, Timeout: dialTimeout, DualStack: true, TLS: c.TLS, SASLMechanism: c.SASL}
}

// ErrAuthentication marks a failure that retrying cannot mend: the brokers refused the SASL
// credentials, or their certificate (or ours) did not verify. Ping and EnsureTopics wrap it.
var ErrAuthentication = errors.New("kafka refused the connection's credentials or certificate")

// classifyConnectError wraps err with ErrAuthentication when it is a SASL or certificate
// failure of a connection to cluster, so that a process fails at start with the reason instead
// of retrying for ever.
func classifyConnectError(cluster Cluster, err error) error {
	if err == nil {
		return nil
	}
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
		certVerify       *tls.CertificateVerificationError
		recordHeader     tls.RecordHeaderError
		netErr           *net.OpError
	)
	switch {
	case errors.Is(err, kafka.SASLAuthenticationFailed), errors.Is(err, kafka.UnsupportedSASLMechanism),
		errors.Is(err, kafka.IllegalSASLState):
		return fmt.Errorf("%w: SASL: %w", ErrAuthentication, err)
	case cluster.SASL != nil && errors.Is(err, io.ErrUnexpectedEOF):
		// A broker may answer refused credentials by closing the connection, as kfake does;
		// kafka-go reads that as a failed authentication only when the close is clean. A TLS
		// listener spoken to in plaintext closes the connection the same way.
		return fmt.Errorf("%w: SASL: the broker closed the connection before authenticating it "+
			"(user name, password or mechanism refused, or a TLS port spoken to without TLS?): %w", ErrAuthentication, err)
	case errors.As(err, &certVerify), errors.As(err, &unknownAuthority), errors.As(err, &hostname), errors.As(err, &invalid):
		return fmt.Errorf("%w: the broker's TLS certificate did not verify: %w", ErrAuthentication, err)
	case errors.As(err, &netErr) && netErr.Op == "remote error":
		// A TLS alert from the broker, such as a missing or untrusted client certificate.
		return fmt.Errorf("%w: the broker refused the TLS handshake: %w", ErrAuthentication, err)
	case errors.As(err, &recordHeader):
		return fmt.Errorf("%w: the broker does not speak TLS on this port: %w", ErrAuthentication, err)
	}
	return err
}

// kgoOptions are the options of a franz-go client of the cluster, secured as
// the kafka-go clients are; bus uses franz-go only for the requests kafka-go
// lacks (DeleteRecords).
func (c Cluster) kgoOptions() []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...), kgo.ClientID(clientID), kgo.DialTimeout(dialTimeout)}
	if c.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(c.TLS.Clone()))
	}
	if c.SASL != nil {
		opts = append(opts, kgo.SASL(kgoSASL{c.SASL}))
	}
	return opts
}

// kgoSASL runs a kafka-go SASL mechanism for a franz-go client: the two
// libraries' challenge-response steps are the same exchange.
type kgoSASL struct{ m sasl.Mechanism }

func (k kgoSASL) Name() string { return k.m.Name() }

func (k kgoSASL) Authenticate(ctx context.Context, _ string) (kgosasl.Session, []byte, error) {
	sm, first, err := k.m.Start(ctx)
	if err != nil {
		return nil, nil, err
	}
	return kgoSession{ctx: ctx, sm: sm}, first, nil
}

type kgoSession struct {
	ctx context.Context
	sm  sasl.StateMachine
}

func (s kgoSession) Challenge(response []byte) (bool, []byte, error) {
	return s.sm.Next(s.ctx, response)
}

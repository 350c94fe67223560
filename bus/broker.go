package bus

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// BrokerConfig configures the embedded broker.
type BrokerConfig struct {
	// Addr is the host:port to listen on; the broker also advertises it to clients, so the host
	// must be one they can reach (an unspecified host such as ":9092" is refused). Port 0 picks
	// a free port (see Broker.Addr). Default 127.0.0.1:9092, where kcat looks.
	Addr string
	// DataDir persists topics, records and committed offsets; empty keeps everything in
	// memory and loses it on Close.
	//
	// Durability: every produced batch and every offset commit is written (write(2), no
	// user-space buffer) to the segment files and groups.log before it is acknowledged, so a
	// crash of the process (kill -9) loses nothing acknowledged. The files are fsynced on
	// segment roll and Close, not per batch, so an OS crash or power loss can lose the last
	// acknowledged writes, as with Kafka's default flush policy; set SyncWrites to close that.
	DataDir string
	// SyncWrites fsyncs every batch and commit before acknowledging it (kfake.SyncWrites).
	// Survives power loss; costs a disk flush per produce request.
	SyncWrites bool
	// Partitions is the partition count of topics created without one. Default 6
	// (MARQUEE_KAFKA_PARTITIONS); EnsureTopics names its count explicitly.
	Partitions int
	// Logger receives the broker's warnings and errors (its request log at debug level).
	// Default slog.Default().
	Logger *slog.Logger
	// TLS, when set, makes the broker speak only TLS, with this server configuration: its
	// certificate, and ClientCAs with ClientAuth for mutual TLS.
	TLS *tls.Config
	// Users, when any, turn on SASL: a connection must authenticate as one of them before any
	// request but ApiVersions. Each is a superuser: the broker keeps no ACLs.
	Users []SASLUser
}

// SASLUser is an account of the embedded broker.
type SASLUser struct {
	// Mechanism is SASLPlain, SASLScramSHA256 or SASLScramSHA512.
	Mechanism string
	Name      string
	Password  string
}

// Group session timeout bounds of the embedded broker: Kafka's defaults. kafka-go's default
// session timeout (30s) and the tests' 6s both lie inside them.
const (
	brokerMinSessionTimeout = 6 * time.Second
	brokerMaxSessionTimeout = 5 * time.Minute
)

// brokerOffsetsRetentionMinutes keeps committed offsets of an empty group for a year instead of
// Kafka's 7 days: the embedded broker serves only Marquee's own few groups, and a laptop
// install left off for a fortnight should resume where it stopped, not replay every topic.
const brokerOffsetsRetentionMinutes = 365 * 24 * 60

// brokerSegmentBytes is the size at which a partition's log rolls to a new segment file, instead
// of kfake's 100 MiB. The broker reads every segment whole when it starts, all partitions at
// once, so the segment size bounds the memory a start costs; smaller segments only mean more
// files. The README's "Speed layer" has the measurements.
const brokerSegmentBytes = 4 << 20

// Broker is the embedded single-node Kafka broker (franz-go's kfake) used when no external
// Kafka is configured. It speaks the Kafka protocol on Addr, so kafka-go and kcat use it like
// any broker. Close stops it and, with a DataDir, saves its state.
type Broker struct {
	cluster *kfake.Cluster
	addr    string
}

// StartBroker starts the embedded broker, loading the state persisted in cfg.DataDir if any,
// and returns once it accepts connections. ctx bounds only the start; the broker runs until
// Close.
func StartBroker(ctx context.Context, cfg BrokerConfig) (*Broker, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:9092"
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 6
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("bus: start broker: address %q: %w", cfg.Addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return nil, fmt.Errorf("bus: start broker: address %q: the broker advertises its listen address, so it needs a concrete host such as 127.0.0.1", cfg.Addr)
	}

	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		// kfake listens on 127.0.0.1:<port>; ListenFn binds exactly the configured address
		// instead, and kfake advertises whatever the listener reports.
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, cfg.Addr)
		}),
		kfake.ClusterID("marquee"),
		kfake.DefaultNumPartitions(cfg.Partitions),
		kfake.GroupMinSessionTimeout(brokerMinSessionTimeout),
		kfake.GroupMaxSessionTimeout(brokerMaxSessionTimeout),
		kfake.BrokerConfigs(map[string]string{
			"offsets.retention.minutes": strconv.Itoa(brokerOffsetsRetentionMinutes),
			"log.segment.bytes":         strconv.Itoa(brokerSegmentBytes),
		}),
		kfake.WithLogger(kfakeLogger{cfg.Logger}),
	}
	if cfg.TLS != nil {
		opts = append(opts, kfake.TLS(cfg.TLS))
	}
	for _, user := range cfg.Users {
		if !slices.Contains(SASLMechanisms(), user.Mechanism) {
			return nil, fmt.Errorf("bus: start broker: unknown SASL mechanism %q, want one of %v", user.Mechanism, SASLMechanisms())
		}
		if user.Name == "" || user.Password == "" {
			return nil, fmt.Errorf("bus: start broker: SASL %s needs a user name and a password", user.Mechanism)
		}
		opts = append(opts, kfake.Superuser(user.Mechanism, user.Name, user.Password))
	}
	if len(cfg.Users) > 0 {
		opts = append(opts, kfake.EnableSASL())
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
		if cfg.SyncWrites {
			opts = append(opts, kfake.SyncWrites())
		}
	}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("bus: start broker on %s: %w", cfg.Addr, err)
	}
	addrs := cluster.ListenAddrs()
	if len(addrs) != 1 {
		cluster.Close()
		return nil, fmt.Errorf("bus: start broker: expected one listener, got %v", addrs)
	}
	broker := &Broker{cluster: cluster, addr: addrs[0]}
	if err := broker.waitReady(ctx); err != nil {
		broker.Close()
		return nil, err
	}
	cfg.Logger.Info("bus: embedded broker started", "addr", broker.addr, "data_dir", cfg.DataDir,
		"tls", cfg.TLS != nil, "sasl", len(cfg.Users) > 0)
	return broker, nil
}

// waitReady returns once the listener accepts a connection.
func (b *Broker) waitReady(ctx context.Context) error {
	var dialer net.Dialer
	for {
		conn, err := dialer.DialContext(ctx, "tcp", b.addr)
		if err == nil {
			return conn.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bus: start broker: %s not reachable: %w", b.addr, errors.Join(err, ctx.Err()))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Addr is the address clients use: host:port, with the real port when Addr asked for port 0.
func (b *Broker) Addr() string { return b.addr }

// Brokers is Addr as a bootstrap list for WriterConfig and ConsumerConfig.
func (b *Broker) Brokers() []string { return []string{b.addr} }

// Close stops accepting connections and stops the broker; with a DataDir it first saves its
// state, so the next StartBroker on that directory resumes with every topic, record and
// committed offset. Clients still connected get errors. Close is idempotent.
func (b *Broker) Close() error {
	b.cluster.Close()
	return nil
}

// kfakeLogger adapts slog to kfake's logger. kfake's info level logs every request, so it
// goes to debug.
type kfakeLogger struct{ logger *slog.Logger }

func (l kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	var slogLevel slog.Level
	switch level {
	case kfake.LogLevelError:
		slogLevel = slog.LevelError
	case kfake.LogLevelWarn:
		slogLevel = slog.LevelWarn
	case kfake.LogLevelInfo, kfake.LogLevelDebug:
		slogLevel = slog.LevelDebug
	default:
		return
	}
	if l.logger.Enabled(context.Background(), slogLevel) {
		l.logger.Log(context.Background(), slogLevel, "kfake: "+fmt.Sprintf(format, args...))
	}
}

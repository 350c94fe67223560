package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ory/dockertest/v3"
	"github.com/ory/dockertest/v3/docker"

	"marquee/bus"
	"marquee/db"
)

// TestDockerPipeline runs the production path against real containers: a
// MySQL 8 server and an Apache Kafka broker in KRaft mode, started with
// dockertest. `ingest --once` publishes the head fixture to Kafka,
// `marquee load` writes it into MySQL 8, and `dev verify` finds the database
// equal to the feed. It skips wherever no Docker engine answers (as on the
// development and CI machines, which run the same path on MariaDB and the
// embedded broker instead).
func TestDockerPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MySQL 8 and Kafka containers")
	}
	pool, err := dockertest.NewPool("")
	if err == nil {
		pool.MaxWait = 3 * time.Minute
		err = pool.Client.Ping()
	}
	if err != nil {
		t.Skipf("no Docker engine answers (%v): skipping the MySQL 8 + Kafka container test", err)
	}
	dbURL := startMySQL8(t, pool)
	brokers := startKafkaContainer(t, pool)
	binary := buildMarquee(t)
	ctx := t.Context()

	common := []string{"--db", dbURL, "--kafka-brokers", brokers, "--http-addr", "127.0.0.1:0", "--log-format", "json"}
	published := runMarquee(ctx, t, binary, append([]string{"ingest", "--once", "--feed", testFeed(t), "--data-dir", t.TempDir()}, common...)...)
	if published.err != nil || !strings.HasPrefix(published.stdout, "status=completed seen=100 valid=100") {
		t.Fatalf("ingest --once: %v\n%s\n%s", published.err, published.stdout, tail(published.stderr))
	}
	load := startProcess(t, binary, append([]string{"load"}, common...)...)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		lag, err := bus.Lag(ctx, bus.Cluster{Brokers: []string{brokers}}, loaderGroup(bus.TopicPornstars), bus.TopicPornstars)
		if err == nil && lag == 0 {
			break
		}
		if load.exited() || time.Now().After(deadline) {
			t.Fatalf("the loader did not catch up (lag %d, %v)\n%s", lag, err, tail(load.stderr.String()))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := load.stop(t, 30*time.Second); err != nil {
		t.Errorf("load did not stop cleanly: %v", err)
	}
	verify := runMarquee(ctx, t, binary, "dev", "verify", "--feed", testFeed(t), "--db", dbURL)
	if verify.err != nil {
		t.Fatalf("dev verify on MySQL 8: %v\n%s", verify.err, tail(verify.stdout))
	}
	got := countFeedRows(t, dbURL)
	if got.performers != 100 || got.aliases != 274 || got.thumbnails != 291 || got.distinctURLs != 96 {
		t.Errorf("MySQL 8 holds %+v, want 100 performers, 274 aliases, 291 thumbnails, 96 distinct URLs", got)
	}
}

// startMySQL8 starts MySQL 8 with MySQL 8's defaults and returns the URL of
// an empty database; the container goes when the test ends.
func startMySQL8(t *testing.T, pool *dockertest.Pool) string {
	password := "marquee-test"
	container, err := pool.RunWithOptions(&dockertest.RunOptions{
		Repository: "mysql", Tag: "8.4",
		Env:          []string{"MYSQL_ROOT_PASSWORD=" + password, "MYSQL_DATABASE=marquee"},
		Cmd:          []string{"--character-set-server=utf8mb4", "--collation-server=utf8mb4_bin", "--mysqlx=OFF"},
		PortBindings: map[docker.Port][]docker.PortBinding{"3306/tcp": {{HostIP: "127.0.0.1"}}},
	}, func(hc *docker.HostConfig) { hc.AutoRemove = true })
	if err != nil {
		t.Fatalf("starting MySQL 8: %v", err)
	}
	t.Cleanup(func() { _ = pool.Purge(container) })
	dbURL := (&url.URL{Scheme: "mysql", User: url.UserPassword("root", password),
		Host: container.GetHostPort("3306/tcp"), Path: "/marquee"}).String()
	dsn, err := db.MySQLDSN(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	if err := pool.Retry(func() error {
		conn, err := sql.Open("mysql", dsn)
		if err != nil {
			return err
		}
		defer conn.Close()
		return conn.Ping()
	}); err != nil {
		t.Fatalf("MySQL 8 did not answer: %v", err)
	}
	return dbURL
}

// startKafkaContainer starts a one-node Kafka in KRaft mode whose listener is
// advertised at the host port it is published on, and returns that address.
func startKafkaContainer(t *testing.T, pool *dockertest.Pool) string {
	port := freeTCPPort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	container, err := pool.RunWithOptions(&dockertest.RunOptions{
		Repository: "apache/kafka", Tag: "3.9.1",
		Env: []string{
			"KAFKA_NODE_ID=1",
			"KAFKA_PROCESS_ROLES=broker,controller",
			"KAFKA_CONTROLLER_QUORUM_VOTERS=1@localhost:9093",
			"KAFKA_CONTROLLER_LISTENER_NAMES=CONTROLLER",
			"KAFKA_LISTENERS=PLAINTEXT://:9092,CONTROLLER://:9093",
			"KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://" + addr,
			"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
			"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR=1",
			"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR=1",
			"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR=1",
			"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS=0",
			"KAFKA_AUTO_CREATE_TOPICS_ENABLE=false",
		},
		PortBindings: map[docker.Port][]docker.PortBinding{"9092/tcp": {{HostIP: "127.0.0.1", HostPort: fmt.Sprint(port)}}},
	}, func(hc *docker.HostConfig) { hc.AutoRemove = true })
	if err != nil {
		t.Fatalf("starting Kafka: %v", err)
	}
	t.Cleanup(func() { _ = pool.Purge(container) })
	if err := pool.Retry(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return bus.Ping(ctx, bus.Cluster{Brokers: []string{addr}})
	}); err != nil {
		t.Fatalf("Kafka did not answer: %v", err)
	}
	return addr
}

package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"marquee/internal/responsecache"
)

// Config holds every setting of the binary. Each field is one flag and one
// environment variable (see flags); a subcommand declares only the settings
// it uses, so that its --help lists exactly those. Defaults are set in
// defaultConfig, each with the reason for its value.
type Config struct {
	// DataDir holds the embedded database, the lock file, and later the
	// broker log, the image files and the embedded API token.
	DataDir string
	// DB is the database URL: sqlite://PATH or mysql://user:pass@host:3306/db.
	// Empty means sqlite://DATA_DIR/marquee.db (see resolve).
	DB string
	// DBReplica is a MySQL read replica URL; empty reads from DB.
	DBReplica string
	// DBTLS is whether MySQL connections (primary and replica) use TLS:
	// false, true (required) or preferred (when the server offers it);
	// certificates are always verified.
	DBTLS dbTLSMode
	// DBTLSCAFile is a PEM file of the CAs that sign the MySQL servers'
	// certificates; empty trusts the system's CAs.
	DBTLSCAFile string
	// DBTLSCertFile and DBTLSKeyFile are a PEM client certificate and its
	// key, offered to the server for mutual TLS.
	DBTLSCertFile, DBTLSKeyFile string
	// HTTPAddr is where long-running commands serve HTTP.
	HTTPAddr string
	// PprofAddr, when set, is where long-running commands serve Go's
	// runtime profiles (/debug/pprof/), apart from the API.
	PprofAddr string
	// MigrateLockWait is how long to wait for another process's migration lock.
	MigrateLockWait time.Duration
	// ShutdownTimeout is how long in-flight HTTP requests may take to finish
	// after SIGINT or SIGTERM.
	ShutdownTimeout time.Duration
	// KafkaBrokers are external Kafka brokers, comma-separated; empty runs
	// the embedded broker.
	KafkaBrokers string
	// KafkaAddr is where the embedded broker listens.
	KafkaAddr string
	// KafkaPartitions is the partition count of the topics Marquee creates.
	KafkaPartitions int
	// KafkaTLS makes every Kafka connection use TLS. With external brokers
	// the files below are the client's; `marquee broker` (and the embedded
	// broker) serve TLS with KafkaTLSCertFile and KafkaTLSKeyFile instead.
	KafkaTLS bool
	// KafkaTLSCAFile is a PEM file of CAs: of the brokers' certificates for
	// a client (empty: the system's CAs), of the clients' certificates for
	// the embedded broker (empty: no client certificate asked for).
	KafkaTLSCAFile string
	// KafkaTLSCertFile and KafkaTLSKeyFile are a PEM certificate and key: the
	// client's for mutual TLS, or the embedded broker's own.
	KafkaTLSCertFile, KafkaTLSKeyFile string
	// KafkaTLSServerName is the name the brokers' certificates must carry,
	// when it is not the host of the broker address.
	KafkaTLSServerName string
	// KafkaSASLMechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty:
	// no SASL. The embedded broker then accepts exactly this one account.
	KafkaSASLMechanism string
	// KafkaSASLUsername and KafkaSASLPassword are the SASL account.
	KafkaSASLUsername, KafkaSASLPassword string
	// FeedURL is the feed source: an http(s) URL, a file:// URL or a path.
	FeedURL string
	// FeedSchedule is a five-field cron expression, in UTC.
	FeedSchedule string
	// FeedMaxBytes caps the feed body.
	FeedMaxBytes byteSize
	// FeedMaxShrink: no removals when the feed shrank by more than this share.
	FeedMaxShrink float64
	// FeedMaxRejected: no removals when more than this share of the feed's
	// items was rejected.
	FeedMaxRejected float64
	// FeedAbandonAfter: a running feed run whose process has not touched it
	// for this long (it died) is failed, freeing the slot for the next run.
	// The process touches its run every tenth of it.
	FeedAbandonAfter time.Duration
	// FeedRunsKeep is how long finished feed runs are kept, with their
	// rejects and warnings; the last completed run is kept regardless. Zero
	// keeps every run.
	FeedRunsKeep time.Duration
	// ImagesRetryCooldown is how long a failed image URL waits before a feed
	// run requests it again (and before the compactor fetches it again).
	ImagesRetryCooldown time.Duration
	// ImagesGC turns on the daily image garbage collection of `run` and
	// `imaging`.
	ImagesGC bool
	// ImagesGCGrace is how long stored bytes that no performer in the feed
	// uses are kept before the collection deletes them.
	ImagesGCGrace graceDuration
	// ImagesWorkers and ImagesPerHost bound the image compactor's concurrent
	// fetches, overall and per host.
	ImagesWorkers, ImagesPerHost int
	// ImagesMaxBytes caps an image body; ImagesMaxPixels its width x height.
	ImagesMaxBytes  byteSize
	ImagesMaxPixels int
	// ImagesAllowNetworks are networks the compactor may fetch from
	// although they are not public, for local testing. Link-local and cloud
	// metadata addresses open only to a network within their range.
	ImagesAllowNetworks networkList
	// ImagesAllowPrivateNetworks, deprecated, allows imaging.PrivateNetworks:
	// loopback, RFC 1918 and IPv6 unique local addresses.
	ImagesAllowPrivateNetworks bool
	// APITokens are the APIs' bearer tokens, comma-separated entries
	// [name=NAME:]TOKEN[:read] or [name=NAME:]sha256:HEX[:read] (see
	// auth.ParseTokens). Empty in `run`: one write token generated on first
	// start, its hash kept in DATA_DIR/api-token.
	APITokens string
	// APIRateLimit is how many requests per second one client (its token,
	// else its address) may make; 0 turns the limit off.
	APIRateLimit float64
	// ResponseCacheBytes bounds the APIs' response cache; 0 turns it off.
	ResponseCacheBytes byteSize
	// TrustedProxies are the networks of the reverse proxies whose
	// forwarding headers name the client (for the rate limit and the log);
	// empty: none, every client is the connection's peer.
	TrustedProxies networkList
	// GraphQLIntrospection allows __schema queries and serves the
	// playground, which needs them.
	GraphQLIntrospection bool
	// CORSOrigins are the origins whose pages may call the APIs and read
	// the images from a browser: "*" or exact origins; empty: none.
	CORSOrigins originList
	// PublicURL is the APIs' external base URL, for the absolute links they
	// hand out (Location, Link, image URLs); empty: relative links.
	PublicURL publicURL
	// ImagesPublicURL is the external base URL of the image bytes (a CDN);
	// empty: PublicURL + /images.
	ImagesPublicURL publicURL
	// ImagesStore is the image store's URL: file://PATH or
	// s3://BUCKET[/PREFIX]; empty means file://DATA_DIR/images.
	ImagesStore string
	// S3Endpoint, S3Region, S3AccessKeyID, S3SecretAccessKey, S3PathStyle
	// and S3TLSCAFile reach the bucket of an s3:// image store.
	S3Endpoint, S3Region, S3AccessKeyID, S3SecretAccessKey string
	S3PathStyle                                            bool
	S3TLSCAFile                                            string
	// ImagesWidths are the widths of image variants the API renders.
	ImagesWidths widthList
	// ImagesVariantsMaxBytes caps the stored variants' bytes.
	ImagesVariantsMaxBytes byteSize
	// ImagesRenders bounds the concurrent renders of one API process.
	ImagesRenders int
	// LogLevel is the least severe level logged.
	LogLevel slog.Level
	// LogFormat is text, json, or auto (text on a terminal, json otherwise).
	LogFormat logFormat
}

func defaultConfig() Config {
	return Config{
		// Relative, so that `make run` in a checkout keeps its state in the
		// checkout and needs no set-up.
		DataDir: "./data",
		// Empty: derived from the effective data dir in resolve, so that
		// --data-dir alone moves the database too.
		DB: "",
		// The documented port; behind a proxy or in compose it is remapped.
		HTTPAddr: ":8080",
		// Long enough for another instance's migrations to finish at the same
		// start-up; short enough that a lock left by a crash is reported in a
		// minute (release it with `marquee migrate unlock`).
		MigrateLockWait: 60 * time.Second,
		// Inside the 10s that `docker stop` grants before SIGKILL, leaving
		// time to close the database and release the lock after the server.
		ShutdownTimeout: 8 * time.Second,
		// Where docs/topics.md promises it, so `kcat -b 127.0.0.1:9092` reads the
		// topics; loopback only, since the embedded broker has no auth.
		KafkaAddr: "127.0.0.1:9092",
		// Six partitions let up to six loaders or compactors share a topic,
		// while a single process still reads them all cheaply.
		KafkaPartitions: 6,
		// The real feed (docs/feed.md).
		FeedURL: "https://ph-c3fuhehkfqh6huc0.z01.azurefd.net/feed_pornstars.json",
		// Daily at 02:00 UTC: the upstream feed is regenerated once a day.
		FeedSchedule: "0 2 * * *",
		// 25 times the real feed's 21 MB: room to grow, yet a runaway body
		// cannot fill the disk or the memory of a parser that streams anyway.
		FeedMaxBytes: 512 << 20,
		// Tens of thousands of compressed pages: every hot read of a busy
		// API, a small share of the memory an API process is given.
		ResponseCacheBytes: responsecache.DefaultMaxBytes,
		// A feed that lost more than a fifth of its performers overnight is
		// far likelier broken upstream than real.
		FeedMaxShrink: 0.20,
		// A healthy feed rejects a handful of items in thousands; one in
		// twenty rejected means its shape changed, and its absences cannot
		// be trusted.
		FeedMaxRejected: 0.05,
		// Five minutes: ten missed heartbeats of 30 s, so a slow database
		// never gets a live run taken over, while a crashed run blocks the
		// next one for minutes, not until the next day.
		FeedAbandonAfter: 5 * time.Minute,
		// 90 days: a quarter of daily runs to compare and to answer "since
		// when" from, while the table stays a few hundred rows.
		FeedRunsKeep: 90 * 24 * time.Hour,
		// A day: the next daily run tries again, not every run of the day.
		ImagesRetryCooldown: 24 * time.Hour,
		// On: without it the image store grows for ever.
		ImagesGC: true,
		// 30 days: a performer that leaves the feed and comes back within a
		// month (a feed glitch, a renewed licence) is not fetched again.
		ImagesGCGrace: graceDuration(30 * 24 * time.Hour),
		// 16 fetches at a CDN's 20-50 ms per image are 300-800 images/s:
		// the 15,000 images of the real feed in under a minute, as a polite
		// client of its one image host.
		ImagesWorkers: 16,
		ImagesPerHost: 16,
		// Real thumbnails are 10-60 KiB; 10 MiB admits any real photo and
		// bounds what a hostile server can make the compactor store.
		ImagesMaxBytes: 10 << 20,
		// 50 megapixels: any camera's photo, not a decompression bomb.
		ImagesMaxPixels: 50_000_000,
		// A list thumbnail, a card, and their 2x and 4x for retina
		// screens: few enough that every variant of an image is cacheable.
		ImagesWidths: "64,128,256,512,1024",
		// 2 GiB: every allowed width in two formats for tens of thousands
		// of thumbnails, a small share of a disk.
		ImagesVariantsMaxBytes: 2 << 30,
		ImagesRenders:          defaultImagesRenders(),
		// None: the image URLs are third-party input, and non-public
		// addresses are where the metadata service and the database live.
		ImagesAllowNetworks:        "",
		ImagesAllowPrivateNetworks: false,
		// 50 requests/s per client: far above what a person or a paging
		// script needs, low enough that one client cannot take the API.
		APIRateLimit: 50,
		// None: forwarding headers are whatever the client wrote, until an
		// operator names the proxies that write them.
		TrustedProxies: "",
		// On: the embedded mode is where people explore the API; `marquee
		// api` turns it off by default (see apiCommand).
		GraphQLIntrospection: true,
		// None: a browser page of another origin reads nothing until an
		// operator names the site that should.
		CORSOrigins: "",
		// Info: start-up, shutdown and problems, not every request.
		LogLevel:  slog.LevelInfo,
		LogFormat: logFormatAuto,
	}
}

// resolve fills in the settings whose defaults derive from others. Call it
// after parsing.
func (c *Config) resolve() {
	if c.DB == "" {
		c.DB = "sqlite://" + filepath.Join(c.DataDir, "marquee.db")
	}
}

// declareLogging declares the settings of the logger every command has.
func (c *Config) declareLogging(f *flags) {
	f.Text(&c.LogLevel, "log-level", "least severe `level` logged: debug, info, warn or error")
	f.Text(&c.LogFormat, "log-format", "log line `format`: text, json, or auto (text on a terminal, json otherwise)")
}

// declareDatabase declares the settings that locate the primary database.
func (c *Config) declareDatabase(f *flags) {
	f.String(&c.DataDir, "data-dir", "data `directory`: embedded database, lock file")
	f.String(&c.DB, "db", "database `URL`: sqlite://PATH or mysql://user:pass@host:3306/db (default sqlite://DATA_DIR/marquee.db)")
	f.Duration(&c.MigrateLockWait, "migrate-lock-wait", "how long to wait for another process's migration lock")
	c.declareDatabaseTLS(f)
}

// declareDatabaseTLS declares the settings of TLS to MySQL.
func (c *Config) declareDatabaseTLS(f *flags) {
	f.Text(&c.DBTLS, "db-tls", "MySQL over TLS, `mode`: false, true (required) or preferred (when the server offers it); certificates are always verified")
	f.String(&c.DBTLSCAFile, "db-tls-ca-file", "PEM `file` of the CAs that sign the MySQL servers' certificates (default: the system's CAs)")
	f.String(&c.DBTLSCertFile, "db-tls-cert-file", "PEM client certificate `file` offered to MySQL (mutual TLS)")
	f.String(&c.DBTLSKeyFile, "db-tls-key-file", "PEM `file` of the client certificate's private key")
}

// secretSettings are the settings that can hold a secret. Each also reads
// the variable <VARIABLE>_FILE: the path of a file holding the value
// (Docker and Kubernetes secrets), its trailing newline trimmed. Setting
// both is a usage error, so that no one wonders which of them counts.
var secretSettings = []string{"db", "db-replica", "api-tokens", "kafka-sasl-password", "s3-secret-access-key"}

// isSecretSetting reports whether the setting name can hold a secret.
func isSecretSetting(name string) bool { return slices.Contains(secretSettings, name) }

// withSecretFiles returns lookupEnv with the secret settings among declared
// read from their _FILE variables where those are set. The errors name the
// variables and paths, never a value.
func withSecretFiles(declared []string, lookupEnv func(string) (string, bool)) (func(string) (string, bool), error) {
	fromFiles := map[string]string{}
	for _, name := range declared {
		if !isSecretSetting(name) {
			continue
		}
		variable := envName(name)
		path, ok := lookupEnv(variable + "_FILE")
		if !ok || path == "" {
			continue
		}
		if value, ok := lookupEnv(variable); ok && value != "" {
			return nil, &usageError{fmt.Sprintf("%s and %s_FILE are both set: set only one", variable, variable)}
		}
		content, err := os.ReadFile(path)
		if err != nil {
			return nil, &usageError{fmt.Sprintf("%s_FILE: %v", variable, err)}
		}
		fromFiles[variable] = strings.TrimRight(string(content), "\r\n")
	}
	return func(variable string) (string, bool) {
		if value, ok := fromFiles[variable]; ok {
			return value, true
		}
		return lookupEnv(variable)
	}, nil
}

// declareReplica declares the read replica setting, for commands that serve reads.
func (c *Config) declareReplica(f *flags) {
	f.String(&c.DBReplica, "db-replica", "read replica `URL` (mysql:// only); reads go to the primary when empty")
}

// declareKafka declares the settings of the Kafka side: external brokers or
// the embedded one.
func (c *Config) declareKafka(f *flags) {
	f.String(&c.KafkaBrokers, "kafka-brokers", "comma-separated Kafka `brokers`; empty runs the embedded broker")
	f.String(&c.KafkaAddr, "kafka-addr", "listen `address` of the embedded broker")
	f.Int(&c.KafkaPartitions, "kafka-partitions", "partitions per topic created")
	c.declareKafkaSecurity(f)
}

// declareKafkaSecurity declares how Kafka connections are encrypted and
// authenticated (see Config.KafkaTLS for the embedded broker's side).
func (c *Config) declareKafkaSecurity(f *flags) {
	f.Bool(&c.KafkaTLS, "kafka-tls", "connect to Kafka over TLS (the embedded broker: serve TLS)")
	f.String(&c.KafkaTLSCAFile, "kafka-tls-ca-file", "PEM `file` of the CAs that sign the brokers' certificates (default: the system's CAs); for the embedded broker, of the clients' certificates it requires")
	f.String(&c.KafkaTLSCertFile, "kafka-tls-cert-file", "PEM certificate `file`: the client's for mutual TLS; for the embedded broker, its own")
	f.String(&c.KafkaTLSKeyFile, "kafka-tls-key-file", "PEM `file` of that certificate's private key")
	f.String(&c.KafkaTLSServerName, "kafka-tls-server-name", "`name` the brokers' certificates must carry (default: the host of each broker address)")
	f.String(&c.KafkaSASLMechanism, "kafka-sasl-mechanism", "SASL `mechanism`: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (empty: no SASL)")
	f.String(&c.KafkaSASLUsername, "kafka-sasl-username", "SASL user `name`")
	f.String(&c.KafkaSASLPassword, "kafka-sasl-password", "SASL `password`")
}

// declareFeed declares the settings of feed runs.
func (c *Config) declareFeed(f *flags) {
	f.String(&c.FeedURL, "feed-url", "feed `source`: an http(s) URL, a file:// URL or a path")
	f.String(&c.FeedSchedule, "feed-schedule", "feed run `schedule`: a five-field cron expression in UTC")
	f.Size(&c.FeedMaxBytes, "feed-max-bytes", "feed body cap")
	f.Float(&c.FeedMaxShrink, "feed-max-shrink", "no removals when the feed's distinct valid ids fell by more than this `share`")
	f.Float(&c.FeedMaxRejected, "feed-max-rejected", "no removals when more than this `share` of the feed's items was rejected")
	f.Duration(&c.FeedAbandonAfter, "feed-abandon-after", "fail a running feed run whose process has not touched it for this long (it died)")
	f.Duration(&c.FeedRunsKeep, "feed-runs-keep", "delete feed runs (with their rejects and warnings) that finished longer ago than this, daily; the last completed run stays; 0 keeps every run")
	c.declareRetryCooldown(f)
}

// declareRetryCooldown declares the cool-down of failed images, which feed
// runs and the compactor both honour.
func (c *Config) declareRetryCooldown(f *flags) {
	f.Duration(&c.ImagesRetryCooldown, "images-retry-cooldown", "how long a failed image URL waits before a feed run requests it again")
}

// declareImaging declares the settings of the image compactor (with
// declareRetryCooldown, which declareFeed includes).
func (c *Config) declareImaging(f *flags) {
	f.Int(&c.ImagesWorkers, "images-workers", "concurrent image fetches")
	f.Int(&c.ImagesPerHost, "images-per-host", "concurrent image fetches from one host")
	f.Size(&c.ImagesMaxBytes, "images-max-bytes", "image body cap")
	f.Int(&c.ImagesMaxPixels, "images-max-pixels", "cap of an image's width x height, read from its header")
	f.Text(&c.ImagesAllowNetworks, "images-allow-networks", "comma-separated `CIDRs` the compactor may fetch from although not public, e.g. 127.0.0.0/8 (local testing only); link-local and cloud metadata addresses only when named exactly (169.254.169.254/32)")
	f.Bool(&c.ImagesAllowPrivateNetworks, "images-allow-private-networks", "deprecated: the same as --images-allow-networks with loopback, RFC 1918 and IPv6 unique local networks (never link-local or metadata addresses)")
}

// declareImagesGC declares the settings of the image garbage collection;
// daily tells whether the command runs it every day.
func (c *Config) declareImagesGC(f *flags, daily bool) {
	if daily {
		f.Bool(&c.ImagesGC, "images-gc", "delete stored image bytes unused past --images-gc-grace daily (marquee imaging gc --apply)")
	}
	f.Text(&c.ImagesGCGrace, "images-gc-grace", "how long stored image bytes that no performer in the feed uses are kept: a `duration` such as 30d or 720h")
}

// graceDuration is a duration that also accepts whole days: "30d".
type graceDuration time.Duration

func (d graceDuration) MarshalText() ([]byte, error) {
	if day := 24 * time.Hour; time.Duration(d)%day == 0 && d > 0 {
		return []byte(strconv.FormatInt(int64(time.Duration(d)/day), 10) + "d"), nil
	}
	return []byte(time.Duration(d).String()), nil
}

func (d *graceDuration) UnmarshalText(text []byte) error {
	s := string(text)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 16)
		if err != nil || n == 0 {
			return errors.New("want a positive duration such as 30d or 720h")
		}
		*d = graceDuration(time.Duration(n) * 24 * time.Hour)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return errors.New("want a positive duration such as 30d or 720h")
	}
	*d = graceDuration(v)
	return nil
}

// checkImaging reports settings of the compactor that cannot work.
// checkFeed reports a feed setting out of its range as a usage error.
func (c *Config) checkFeed() error {
	if c.FeedRunsKeep < 0 {
		return &usageError{"--feed-runs-keep (MARQUEE_FEED_RUNS_KEEP) must not be negative"}
	}
	for _, share := range []struct {
		name  string
		value float64
	}{{"feed-max-shrink", c.FeedMaxShrink}, {"feed-max-rejected", c.FeedMaxRejected}} {
		if !(share.value >= 0 && share.value <= 1) { // NaN fails both comparisons
			return &usageError{fmt.Sprintf("--%s (%s) must be a share from 0 to 1, got %v", share.name, envName(share.name), share.value)}
		}
	}
	return nil
}

func (c *Config) checkImaging() error {
	for _, s := range []struct {
		name  string
		value int64
	}{
		{"images-workers", int64(c.ImagesWorkers)}, {"images-per-host", int64(c.ImagesPerHost)},
		{"images-max-bytes", int64(c.ImagesMaxBytes)}, {"images-max-pixels", int64(c.ImagesMaxPixels)},
	} {
		if s.value < 1 {
			return &usageError{fmt.Sprintf("--%s (%s) must be at least 1, got %d", s.name, envName(s.name), s.value)}
		}
	}
	if c.ImagesRetryCooldown < 0 {
		return &usageError{"--images-retry-cooldown must not be negative"}
	}
	return nil
}

// declareAPI declares the settings of the GraphQL and REST APIs.
func (c *Config) declareAPI(f *flags) {
	f.String(&c.APITokens, "api-tokens", "comma-separated bearer `tokens`: [name=NAME:]TOKEN or [name=NAME:]sha256:HEX (marquee token new), :read marks a read-only one (run: empty generates one, its hash kept in DATA_DIR/api-token)")
	f.Float(&c.APIRateLimit, "api-rate-limit", "`requests` per second per client (token, else address); 0 turns the limit off")
	f.Size(&c.ResponseCacheBytes, "response-cache-bytes", "memory bound of the APIs' cache of answers to reads; 0 turns it off")
	f.Text(&c.TrustedProxies, "trusted-proxies", "comma-separated `networks` (CIDR) of the reverse proxies whose Forwarded / X-Forwarded-For / X-Forwarded-Proto name the client (empty: none)")
	f.Bool(&c.GraphQLIntrospection, "graphql-introspection", "allow GraphQL introspection and serve the playground at /playground")
	f.Text(&c.CORSOrigins, "cors-origins", "`origins` whose browser pages may call the APIs and read /images: * or comma-separated exact origins such as https://www.example.test (empty: none; credentials never)")
	f.Text(&c.PublicURL, "public-url", "the APIs' external base `URL`, e.g. https://api.example.test: Location, Link and image URLs become absolute (empty: relative)")
	f.Text(&c.ImagesPublicURL, "images-public-url", "external base `URL` of the image bytes, e.g. a CDN's https://cdn.example.test/images (default PUBLIC_URL/images)")
}

// brokers returns the external brokers, or nil for the embedded broker.
func (c *Config) brokers() []string {
	var out []string
	for _, b := range strings.Split(c.KafkaBrokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// declareHTTP declares the settings of the HTTP server of long-running commands.
func (c *Config) declareHTTP(f *flags) {
	f.String(&c.HTTPAddr, "http-addr", "listen `address` for the API, /healthz, /readyz and /metrics")
	f.Duration(&c.ShutdownTimeout, "shutdown-timeout", "how long in-flight requests may take to finish after SIGINT or SIGTERM")
	f.String(&c.PprofAddr, "pprof-addr", "listen `address` for Go's runtime profiles (/debug/pprof/); empty serves none. Keep it private: a loopback address")
}

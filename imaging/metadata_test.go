package imaging

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"marquee/bus"
	"marquee/db"
	"marquee/db/dbtest"
	"marquee/imaging/imagingtest"
	"marquee/internal/testkit"
)

// outcomePublisher keeps the outcomes and dead letters published.
type outcomePublisher struct {
	mu       sync.Mutex
	outcomes []db.ImageState
	dead     []bus.Message
}

func (p *outcomePublisher) PublishDeadLetters(_ context.Context, _ string, letters ...bus.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dead = append(p.dead, letters...)
	return nil
}

func (p *outcomePublisher) Publish(_ context.Context, _ string, msgs ...bus.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range msgs {
		var state db.ImageState
		if err := json.Unmarshal(m.Value, &state); err != nil {
			return err
		}
		p.outcomes = append(p.outcomes, state)
	}
	return nil
}

// TestMetadataRedirectRefused: an image host the configuration allows
// (loopback, through the old switch or a network) redirects to a cloud
// metadata service, by address or by name; the compactor refuses to connect
// there and the image fails with the forbidden-address error. Host names
// resolve through the test's resolver, and the test's dialer refuses any
// connection beyond loopback that the policy let through, so nothing leaves
// the machine whatever the policy does.
func TestMetadataRedirectRefused(t *testing.T) {
	server := imagingtest.NewServer(t)
	const imageHost = "images.example"
	resolve := func(_ context.Context, host, port string) ([]netip.AddrPort, error) {
		portNumber, err := net.LookupPort("tcp", port)
		if err != nil {
			return nil, err
		}
		switch host {
		case imageHost:
			return []netip.AddrPort{server.AddrPort()}, nil
		case "metadata.google.internal":
			return []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("169.254.169.254"), uint16(portNumber))}, nil
		}
		addr, err := netip.ParseAddr(host)
		if err != nil {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		return []netip.AddrPort{netip.AddrPortFrom(addr, uint16(portNumber))}, nil
	}
	redirects := []struct {
		name, location, wantError string
	}{
		{"the metadata address", "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
			"forbidden address: 169.254.169.254:80 is a link-local or cloud metadata address"},
		{"a metadata host name", "http://metadata.google.internal/computeMetadata/v1/",
			"forbidden address: 169.254.169.254:80 is a link-local or cloud metadata address"},
		{"the metadata address on another port", "http://169.254.169.254:8080/",
			"forbidden address: 169.254.169.254:8080 is a link-local or cloud metadata address"},
		{"Alibaba Cloud's metadata address", "http://100.100.100.200/latest/meta-data/",
			"forbidden address: 100.100.100.200:80 is a link-local or cloud metadata address"},
		{"the allowed host itself", "http://" + imageHost + "/target.png", ""},
	}
	for i, r := range redirects {
		server.Handle("/redirect/"+strings.Repeat("x", i), imagingtest.Redirect(r.location))
	}
	store := testkit.OpenStore(t, dbtest.SQLiteURL(t))
	for _, config := range []struct {
		name      string
		configure func(cfg *Config)
	}{
		{"the old switch", func(cfg *Config) { cfg.AllowPrivateNetworks = true }},
		{"127.0.0.0/8", func(cfg *Config) { cfg.AllowNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} }},
		{"0.0.0.0/0 and ::/0", func(cfg *Config) {
			cfg.AllowNetworks = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
		}},
	} {
		for i, r := range redirects {
			t.Run(config.name+"/"+r.name, func(t *testing.T) {
				files, err := OpenFileStore(filepath.Join(t.TempDir(), "images"))
				if err != nil {
					t.Fatal(err)
				}
				pub := &outcomePublisher{}
				cfg := Config{Store: store, Publisher: pub, Files: files, Logger: slog.New(slog.DiscardHandler), Resolver: resolve,
					AttemptTimeout: time.Second, BackoffBase: time.Millisecond, BackoffMax: 10 * time.Millisecond}
				config.configure(&cfg)
				c, err := New(cfg)
				if err != nil {
					t.Fatal(err)
				}
				policyCheck := c.fetcher.dialer.dialer.Control
				c.fetcher.dialer.dialer.Control = func(network, address string, conn syscall.RawConn) error {
					if err := policyCheck(network, address, conn); err != nil {
						return err
					}
					if ap, err := netip.ParseAddrPort(address); err != nil || !ap.Addr().Unmap().IsLoopback() {
						t.Errorf("the policy let a connection to %s through", address)
						return errors.New("test: only loopback is dialed")
					}
					return nil
				}
				path := "/redirect/" + strings.Repeat("x", i)
				before := server.Requests(path)
				// A URL per configuration, so that no outcome recorded before counts.
				url := "http://" + imageHost + path + "?config=" + strings.ReplaceAll(config.name, " ", "-")
				dead, err := c.Handle(context.Background(), []bus.Message{requestMessage(t, url)})
				if err != nil || len(dead) != 0 {
					t.Fatalf("Handle = %v, %v; want the request settled", dead, err)
				}
				if len(pub.outcomes) != 1 {
					t.Fatalf("published %d outcomes, want 1", len(pub.outcomes))
				}
				got := pub.outcomes[0]
				if server.Requests(path) != before+1 {
					t.Errorf("the allowed image host got %d requests, want 1", server.Requests(path)-before)
				}
				if r.wantError == "" {
					if got.Status != db.ImageCached {
						t.Errorf("outcome %s (%s), want cached", got.Status, deref(got.Error))
					}
					return
				}
				if got.Status != db.ImageFailed || got.Attempts != 1 || !strings.Contains(deref(got.Error), r.wantError) {
					t.Errorf("outcome %s after %d attempts: %q; want failed at once with %q", got.Status, got.Attempts, deref(got.Error), r.wantError)
				}
			})
		}
	}
}

func requestMessage(t *testing.T, url string) bus.Message {
	t.Helper()
	hash := db.URLHash(url)
	value, err := json.Marshal(bus.ImageRequest{URLHash: hash, URL: url, RequestedAt: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	return bus.Message{Topic: bus.TopicImageRequests, Key: hash, Value: value}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

package imaging

import (
	"maps"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats are a Compactor's counters since it was made.
type Stats struct {
	// Requests counts the request messages handled (a redelivered one
	// counts again), undecodable ones aside.
	Requests int64
	// CacheHits counts requested hashes answered from the compactors'
	// record, without an HTTP request: cached, failed within the cool-down,
	// or settled by another compactor.
	CacheHits int64
	// Cached and Failed count the fetches this compactor finished.
	Cached, Failed int64
	// Failures counts failed fetches by reason (Reason* constants).
	Failures map[string]int64
	// Attempts counts HTTP GETs sent (a followed redirect is part of one).
	Attempts int64
	// Bytes counts the body bytes read, stored or not.
	Bytes int64
	// DuplicateContent counts fetched images whose bytes were stored
	// already, under another URL.
	DuplicateContent int64
	// InFlight is the number of fetches in progress.
	InFlight int64
}

// stats is the live, concurrently updated form of Stats.
type stats struct {
	requests, cacheHits, cached, failed, attempts, bytes, duplicates, inFlight atomic.Int64

	mu       sync.Mutex
	failures map[string]int64
}

func (s *stats) fail(reason string) {
	s.failed.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failures == nil {
		s.failures = map[string]int64{}
	}
	s.failures[reason]++
}

func (s *stats) snapshot() Stats {
	s.mu.Lock()
	failures := maps.Clone(s.failures)
	s.mu.Unlock()
	if failures == nil {
		failures = map[string]int64{}
	}
	return Stats{
		Requests: s.requests.Load(), CacheHits: s.cacheHits.Load(), Cached: s.cached.Load(), Failed: s.failed.Load(),
		Failures: failures, Attempts: s.attempts.Load(), Bytes: s.bytes.Load(),
		DuplicateContent: s.duplicates.Load(), InFlight: s.inFlight.Load(),
	}
}

// Metrics exports the counters of the compactors of a process to
// Prometheus, summed. Register it once; Add compactors as they are made.
type Metrics struct {
	mu         sync.Mutex
	compactors []*Compactor
}

// NewMetrics returns an empty collector.
func NewMetrics() *Metrics { return &Metrics{} }

// Add exports c's counters.
func (m *Metrics) Add(c *Compactor) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.compactors = append(m.compactors, c)
}

var (
	requestsDesc   = prometheus.NewDesc("marquee_imaging_requests_total", "Image requests the compactor handled.", nil, nil)
	cacheHitsDesc  = prometheus.NewDesc("marquee_imaging_cache_hits_total", "Image requests answered from the compactor's record without an HTTP request.", nil, nil)
	fetchesDesc    = prometheus.NewDesc("marquee_imaging_fetches_total", "Image fetches finished, by outcome (cached or failed).", []string{"status"}, nil)
	failuresDesc   = prometheus.NewDesc("marquee_imaging_failures_total", "Image fetches that failed, by reason.", []string{"reason"}, nil)
	attemptsDesc   = prometheus.NewDesc("marquee_imaging_http_requests_total", "HTTP GETs of images sent, retries included.", nil, nil)
	bytesDesc      = prometheus.NewDesc("marquee_imaging_downloaded_bytes_total", "Bytes of image bodies read.", nil, nil)
	duplicatesDesc = prometheus.NewDesc("marquee_imaging_duplicate_content_total", "Fetched images whose bytes were stored already under another URL.", nil, nil)
	inFlightDesc   = prometheus.NewDesc("marquee_imaging_fetches_in_flight", "Image fetches in progress.", nil, nil)
)

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{requestsDesc, cacheHitsDesc, fetchesDesc, failuresDesc, attemptsDesc, bytesDesc, duplicatesDesc, inFlightDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	compactors := append([]*Compactor(nil), m.compactors...)
	m.mu.Unlock()
	var sum Stats
	sum.Failures = map[string]int64{}
	for _, c := range compactors {
		s := c.Stats()
		sum.Requests += s.Requests
		sum.CacheHits += s.CacheHits
		sum.Cached += s.Cached
		sum.Failed += s.Failed
		sum.Attempts += s.Attempts
		sum.Bytes += s.Bytes
		sum.DuplicateContent += s.DuplicateContent
		sum.InFlight += s.InFlight
		for reason, n := range s.Failures {
			sum.Failures[reason] += n
		}
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(requestsDesc, sum.Requests)
	counter(cacheHitsDesc, sum.CacheHits)
	counter(fetchesDesc, sum.Cached, "cached")
	counter(fetchesDesc, sum.Failed, "failed")
	for reason, n := range sum.Failures {
		counter(failuresDesc, n, reason)
	}
	counter(attemptsDesc, sum.Attempts)
	counter(bytesDesc, sum.Bytes)
	counter(duplicatesDesc, sum.DuplicateContent)
	ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(sum.InFlight))
}

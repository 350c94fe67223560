package graph

import (
	"context"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"
)

// operationMetrics time GraphQL operations by name and type. The name comes
// from the client, so only well-formed names of the first maxOperationNames
// seen become labels; the rest count as "other", and unnamed ones as
// "anonymous".
type operationMetrics struct {
	duration *prometheus.HistogramVec
	total    *prometheus.CounterVec

	mu    sync.Mutex
	names map[string]bool
}

const maxOperationNames = 200

func newOperationMetrics(reg prometheus.Registerer) *operationMetrics {
	m := &operationMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "marquee_graphql_operation_duration_seconds",
			Help:    "Time to execute a GraphQL operation (after parsing and validation), by operation name and type.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .2, .5, 1, 2.5, 5, 15},
		}, []string{"operation", "type"}),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "marquee_graphql_operations_total",
			Help: "GraphQL operations executed, by operation name, type and outcome (ok, or error when the answer carries errors).",
		}, []string{"operation", "type", "outcome"}),
		names: map[string]bool{},
	}
	reg.MustRegister(m.duration, m.total)
	return m
}

// around is an AroundOperations middleware that observes each operation.
func (m *operationMetrics) around(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	start := time.Now()
	oc := graphql.GetOperationContext(ctx)
	name, kind := oc.OperationName, "unknown"
	if oc.Operation != nil {
		name, kind = oc.Operation.Name, string(oc.Operation.Operation)
	}
	name = m.label(name)
	respond := next(ctx)
	return func(ctx context.Context) *graphql.Response {
		res := respond(ctx)
		outcome := "ok"
		if res != nil && len(res.Errors) > 0 {
			outcome = "error"
		}
		m.duration.WithLabelValues(name, kind).Observe(time.Since(start).Seconds())
		m.total.WithLabelValues(name, kind, outcome).Inc()
		return res
	}
}

func (m *operationMetrics) label(name string) string {
	if name == "" {
		return "anonymous"
	}
	if len(name) > 64 || !isGraphQLName(name) {
		return "other"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.names[name] {
		return name
	}
	if len(m.names) >= maxOperationNames {
		return "other"
	}
	m.names[name] = true
	return name
}

// isGraphQLName reports whether s is a GraphQL Name: /[_A-Za-z][_0-9A-Za-z]*/.
func isGraphQLName(s string) bool {
	for i, c := range s {
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return s != ""
}

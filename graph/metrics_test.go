package graph_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"marquee/db/dbtest"
	"marquee/graph"
	"marquee/internal/testkit"
)

func TestOperationMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	e := newEnv(t, testkit.OpenStore(t, dbtest.SQLiteURL(t)), graph.Options{Registerer: reg})
	e.query(t, `query Page { pornstars(first: 1) { totalCount } }`, nil)
	e.query(t, `query Page { pornstars(first: 2) { totalCount } }`, nil)
	e.query(t, `{ feedRuns { totalCount } }`, nil)
	e.do(t, request{query: `query Bad { pornstar(id: "not-an-id") { name } }`})
	e.query(t, `query `+strings.Repeat("x", 65)+` { feedRuns { totalCount } }`, nil)

	want := `
# HELP marquee_graphql_operations_total GraphQL operations executed, by operation name, type and outcome (ok, or error when the answer carries errors).
# TYPE marquee_graphql_operations_total counter
marquee_graphql_operations_total{operation="Bad",outcome="error",type="query"} 1
marquee_graphql_operations_total{operation="Page",outcome="ok",type="query"} 2
marquee_graphql_operations_total{operation="anonymous",outcome="ok",type="query"} 1
marquee_graphql_operations_total{operation="other",outcome="ok",type="query"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "marquee_graphql_operations_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "marquee_graphql_operation_duration_seconds"); n != 4 {
		t.Errorf("%d duration series, want 4", n)
	}
}

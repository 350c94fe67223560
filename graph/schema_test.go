package graph_test

import (
	"bytes"
	"flag"
	"os"
	"testing"

	"github.com/vektah/gqlparser/v2/formatter"

	"marquee/graph/generated"
)

var update = flag.Bool("update", false, "rewrite testdata/schema.graphql from the schema")

// TestSchemaSnapshot: the schema clients see is testdata/schema.graphql. A
// change to it must be deliberate: run `go test ./graph -run
// TestSchemaSnapshot -update` and review the diff.
func TestSchemaSnapshot(t *testing.T) {
	var buf bytes.Buffer
	formatter.NewFormatter(&buf, formatter.WithIndent("  ")).FormatSchema(generated.NewExecutableSchema(generated.Config{}).Schema())
	const golden = "testdata/schema.graphql"
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (create it with -update)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("the schema differs from %s; if the change is meant, run with -update and review the diff:\n%s", golden, buf.String())
	}
}

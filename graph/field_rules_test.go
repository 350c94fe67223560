package graph_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"marquee/db"
	"marquee/graph"
	"marquee/graph/generated"
	"marquee/ingest"
	"marquee/ingest/ingesttest"
)

// camel is a store field name as GraphQL spells it.
func camel(snake string) string {
	words := strings.Split(snake, "_")
	for i := 1; i < len(words); i++ {
		words[i] = strings.ToUpper(words[i][:1]) + words[i][1:]
	}
	return strings.Join(words, "")
}

// TestNegativeValuesRefused: every integer field refuses a negative value
// on createPornstar and updatePornstar with BAD_USER_INPUT naming the
// field, with the rule's reason (the one REST and the store give); the
// bounds themselves are accepted.
func TestNegativeValuesRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		e := newEnv(t, s, graph.Options{})
		target := decode[struct {
			CreatePornstar performer `json:"createPornstar"`
		}](t, e.do(t, request{query: createMutation, token: writeToken,
			variables: map[string]any{"input": map[string]any{"name": "Target", "age": 30}}}).Data).CreatePornstar

		type field struct {
			path  string // in the input
			rule  db.FieldRule
			input func(v int64) map[string]any
		}
		var fields []field
		for _, r := range db.ProfileRules {
			if r.Kind == db.KindInteger {
				fields = append(fields, field{"input." + camel(r.Name), r, func(v int64) map[string]any {
					return map[string]any{"name": "N", camel(r.Name): v}
				}})
			}
		}
		for _, r := range db.ThumbnailRules {
			if r.Kind == db.KindInteger {
				fields = append(fields, field{"input.thumbnails.0." + r.Name, r, func(v int64) map[string]any {
					return map[string]any{"name": "N", "thumbnails": []any{map[string]any{"type": "pc", "url": "https://x.test/a.jpg", r.Name: v}}}
				}})
			}
		}
		for _, f := range fields {
			for _, mutation := range []string{"createPornstar", "updatePornstar"} {
				t.Run(f.path+" "+mutation, func(t *testing.T) {
					send := func(v int64) response {
						req := request{query: createMutation, token: writeToken, variables: map[string]any{"input": f.input(v)}}
						if mutation == "updatePornstar" {
							req.query = updateMutation
							req.variables["id"] = target.ID
						}
						return e.do(t, req)
					}
					res := send(-1)
					want := fmt.Sprintf("%s must be an integer from 0 to %d, not -1", f.path, f.rule.Max)
					if len(res.Errors) != 1 || res.Errors[0].code() != graph.CodeBadUserInput ||
						res.Errors[0].Extensions["field"] != f.path || res.Errors[0].Message != want {
						t.Fatalf("got %s\nwant BAD_USER_INPUT %q", res.Raw, want)
					}
					for _, bound := range []int64{f.rule.Min, f.rule.Max} {
						if res := send(bound); len(res.Errors) > 0 {
							t.Errorf("%d refused: %s", bound, res.Raw)
						}
					}
				})
			}
		}
	})
}

// TestSchemaStatesTheRules: the description of every input field a client
// writes states its field's rule word for word (GraphQL has no numeric
// constraints of its own), so the schema cannot drift from what is refused.
func TestSchemaStatesTheRules(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	inputs := []struct {
		input  string
		prefix string // of db.Rule names
		rules  []db.FieldRule
	}{
		{"CreatePornstarInput", "", append(append([]db.FieldRule{}, db.ProfileRules...), db.AliasesRule, db.ThumbnailsRule)},
		{"UpdatePornstarInput", "", append(append([]db.FieldRule{}, db.ProfileRules...), db.AliasesRule, db.ThumbnailsRule)},
		{"ThumbnailInput", "thumbnails/", db.ThumbnailRules},
	}
	for _, in := range inputs {
		def := schema.Types[in.input]
		if def == nil {
			t.Fatalf("no input %s", in.input)
		}
		for _, r := range in.rules {
			f := def.Fields.ForName(camel(r.Name))
			switch {
			case f == nil:
				t.Errorf("%s has no field %s", in.input, camel(r.Name))
			case !strings.Contains(f.Description, r.Constraint()):
				t.Errorf("%s.%s is described %q, which does not state its rule %q", in.input, f.Name, f.Description, r.Constraint())
			}
		}
	}
}

// TestFeedFieldWarnings: feed values their rule refuses are stored as
// unknown, and the run shows them through FeedRun.warnings and
// fieldWarnings.
func TestFeedFieldWarnings(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		source := filepath.Join(t.TempDir(), "feed.json")
		feed := `{"items": [
			{"id": 11, "name": "Negative", "attributes": {"age": -30, "stats": {"views": -5, "rank": 3}}},
			{"id": 12, "name": "Clean", "attributes": {"age": 30}}
		]}`
		if err := os.WriteFile(source, []byte(feed), 0o600); err != nil {
			t.Fatal(err)
		}
		logger := slog.New(slog.DiscardHandler)
		runner := &ingest.Runner{Store: s, Fetcher: ingest.NewFetcher("Marquee/test", logger), Logger: logger, Source: source,
			MaxShrink: 0.2, Publisher: ingesttest.LoadingPublisher{Loader: &ingest.Loader{Store: s, Logger: logger}}}
		if _, err := s.QueueRun(ctx, db.RequestedByCLI, true); err != nil {
			t.Fatal(err)
		}
		run, err := s.ClaimRun(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if summary, err := runner.Run(ctx, run); err != nil || summary.Status != db.RunCompleted {
			t.Fatalf("feed run: %+v, %v", summary, err)
		}

		e := newEnv(t, s, graph.Options{})
		got := decode[struct {
			FeedRuns struct {
				Nodes []struct {
					Warnings      int64 `json:"warnings"`
					ItemsRejected int64 `json:"itemsRejected"`
					FieldWarnings []struct {
						ItemIndex int    `json:"itemIndex"`
						FeedID    *int   `json:"feedId"`
						Field     string `json:"field"`
						Value     string `json:"value"`
						Reason    string `json:"reason"`
					} `json:"fieldWarnings"`
					First []struct {
						Field string `json:"field"`
					} `json:"first"`
				} `json:"nodes"`
			} `json:"feedRuns"`
			Negative struct {
				Age   *int   `json:"age"`
				Views *int64 `json:"views"`
				Rank  *int64 `json:"rank"`
			} `json:"negative"`
		}](t, e.query(t, `{
			feedRuns { nodes { warnings itemsRejected fieldWarnings { itemIndex feedId field value reason } first: fieldWarnings(first: 1) { field } } }
			negative: pornstarByFeedId(feedId: 11) { age views rank }
		}`, nil))
		if len(got.FeedRuns.Nodes) != 1 {
			t.Fatalf("runs %+v", got.FeedRuns.Nodes)
		}
		r := got.FeedRuns.Nodes[0]
		if r.Warnings != 2 || r.ItemsRejected != 0 || len(r.FieldWarnings) != 2 || len(r.First) != 1 || r.First[0].Field != "age" {
			t.Fatalf("run %+v", r)
		}
		if w := r.FieldWarnings[1]; w.ItemIndex != 0 || w.FeedID == nil || *w.FeedID != 11 || w.Field != "views" || w.Value != "-5" ||
			w.Reason != "must be an integer from 0 to 9223372036854775807, not -5" {
			t.Errorf("warning %+v", w)
		}
		if n := got.Negative; n.Age != nil || n.Views != nil || n.Rank == nil || *n.Rank != 3 {
			t.Errorf("performer 11: age %v views %v rank %v; want unknown, unknown, 3", n.Age, n.Views, n.Rank)
		}
		e.mustFail(t, request{query: `{ feedRuns { nodes { fieldWarnings(first: 0) { field } } } }`}, graph.CodeBadUserInput)
	})
}

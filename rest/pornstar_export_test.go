package rest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"marquee/db"
	"marquee/ingest/ingesttest"
	"marquee/internal/samples"
)

var exportDisposition = regexp.MustCompile(`^attachment; filename="pornstars-[0-9]{8}T[0-9]{6}Z\.ndjson"$`)

// listLines pages through GET /pornstars with query and returns every
// item's JSON, in id order: what the export of the same filters must be.
func listLines(t testing.TB, api *testAPI, query string) []string {
	t.Helper()
	var items []string
	var ids []int64
	path := "/api/v1/pornstars?limit=100"
	if query != "" {
		path += "&" + query
	}
	for next := path; next != ""; {
		r := api.get(next).wantStatus(t, http.StatusOK)
		var page struct {
			Data       []json.RawMessage `json:"data"`
			NextCursor *string           `json:"next_cursor"`
		}
		r.json(t, &page)
		for _, raw := range page.Data {
			var p struct{ ID int64 }
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatal(err)
			}
			items, ids = append(items, string(raw)), append(ids, p.ID)
		}
		next = ""
		if page.NextCursor != nil {
			next = path + "&cursor=" + *page.NextCursor
		}
	}
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return int(ids[a] - ids[b]) })
	out := make([]string, len(items))
	for i, j := range order {
		out[i] = items[j]
	}
	return out
}

// exportLines splits an NDJSON body into its lines, checking that the last
// one ends with a newline.
func exportLines(t testing.TB, body []byte) []string {
	t.Helper()
	if len(body) == 0 {
		return nil
	}
	if body[len(body)-1] != '\n' {
		t.Fatalf("the export does not end with a newline: ...%s", body[max(0, len(body)-80):])
	}
	return strings.Split(string(body[:len(body)-1]), "\n")
}

// TestExport checks that a filtered export is the list's pages of the same
// filters concatenated (in id order), byte for byte per performer, over more
// than one batch, with the headers of a download.
func TestExport(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		head := ingesttest.ReadFeed(t, samples.Head.Path(t))
		samples.SeedCopies(t, api.store, head, db.ExportBatchRows+1)
		api.create(`{"name": "Made Through The API", "aliases": ["Api"]}`)
		if _, err := api.store.MarkRemoved(t.Context(), []int64{head[0].FeedID, head[1].FeedID}); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name, query string
			wantRows    int // 0: just more than none
		}{
			{"no filter", "", db.ExportBatchRows + 1 + 1 - 2},
			{"removed any", "removed=any", db.ExportBatchRows + 1 + 1},
			{"removed only", "removed=true", 2},
			{"hair colour", "hair_color=blonde,brunette", 0},
			{"search", "q=api", 1},
			{"range and flag", "age_min=30&tattoos=true", 0},
			{"cached image", "has_image=true", 0},
			{"feed ids", fmt.Sprintf("feed_id=%d,%d", head[0].FeedID, head[5].FeedID), 2},
			{"nothing", "q=no-such-performer-at-all", -1},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				path := "/api/v1/pornstars/export"
				if tc.query != "" {
					path += "?" + tc.query
				}
				r := api.get(path).wantStatus(t, http.StatusOK)
				if ct := r.header.Get("Content-Type"); ct != NDJSONContentType {
					t.Errorf("Content-Type %q", ct)
				}
				if cd := r.header.Get("Content-Disposition"); !exportDisposition.MatchString(cd) {
					t.Errorf("Content-Disposition %q", cd)
				}
				got, want := exportLines(t, r.body), listLines(t, api, tc.query)
				switch {
				case tc.wantRows > 0 && len(got) != tc.wantRows, tc.wantRows == 0 && len(got) == 0, tc.wantRows < 0 && len(got) != 0:
					t.Errorf("%d rows exported, want %d", len(got), tc.wantRows)
				}
				if !slices.Equal(got, want) {
					t.Errorf("the export (%d lines) is not the list's pages (%d items)", len(got), len(want))
					for i := range min(len(got), len(want)) {
						if got[i] != want[i] {
							t.Fatalf("first difference, line %d:\n got %s\nwant %s", i+1, got[i], want[i])
						}
					}
				}
			})
		}
		t.Run("HEAD", func(t *testing.T) {
			r := api.do(req{method: http.MethodHead, path: "/api/v1/pornstars/export?removed=any"}).wantStatus(t, http.StatusOK)
			if r.header.Get("Content-Type") != NDJSONContentType || len(r.body) != 0 {
				t.Errorf("HEAD: %s, %d bytes", r.header.Get("Content-Type"), len(r.body))
			}
		})
	})
}

// TestExportParameters checks that the export takes the list's filters and
// refuses what it does not do.
func TestExportParameters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		cases := []struct{ query, parameter string }{
			{"limit=10", "limit"},
			{"cursor=abc", "cursor"},
			{"sort=name", "sort"},
			{"age_min=x", "age_min"},
			{"age_min=40&age_max=30", "age_min"},
			{"removed=maybe", "removed"},
			{"hair_color=", "hair_color"},
			{"colour=red", "colour"},
			{"q=a&q=b", "q"},
		}
		for _, tc := range cases {
			api.get("/api/v1/pornstars/export?"+tc.query).wantParameter(t, tc.parameter)
		}
		r := api.get("/api/v1/pornstars/export?%zz")
		r.wantProblem(t, http.StatusBadRequest, "invalid-parameter")
		api.do(req{method: http.MethodPost, path: "/api/v1/pornstars/export", token: "write"}).
			wantProblem(t, http.StatusMethodNotAllowed, "method-not-allowed")
	})
}

// pipeResponse is a ResponseWriter whose body is read through a pipe, as
// slowly as the test likes: the handler blocks in Write until the test reads.
type pipeResponse struct {
	header http.Header
	status int
	body   *io.PipeWriter
}

func (p *pipeResponse) Header() http.Header { return p.header }
func (p *pipeResponse) WriteHeader(code int) {
	if p.status == 0 {
		p.status = code
	}
}

func (p *pipeResponse) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return p.body.Write(b)
}

func (p *pipeResponse) Flush() {}

// startExport runs the handler on rq in the background and returns a reader
// of the body and a channel that gives what the handler panicked with (nil
// when it returned) once it ends.
func startExport(api *testAPI, rq *http.Request) (*bufio.Reader, *pipeResponse, <-chan any) {
	pr, pw := io.Pipe()
	w := &pipeResponse{header: http.Header{}, body: pw}
	done := make(chan any, 1)
	go func() {
		defer func() {
			v := recover()
			pw.Close()
			done <- v
		}()
		api.handler.ServeHTTP(w, rq)
	}()
	return bufio.NewReaderSize(pr, 512), w, done
}

// TestExportSnapshotWithSlowReader holds an export after its first line, as
// a slow client does, writes (API writes and a feed's), then reads the
// rest: the export is the database as of its start.
func TestExportSnapshotWithSlowReader(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		head := ingesttest.ReadFeed(t, samples.Head.Path(t))
		samples.SeedCopies(t, api.store, head, db.ExportBatchRows+50)
		doomed := api.create(`{"name": "Deleted During The Export"}`)
		before := listLines(t, api, "removed=any")

		body, w, done := startExport(api, httptest.NewRequest(http.MethodGet, "/api/v1/pornstars/export?removed=any", nil))
		first, err := body.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if w.status != http.StatusOK || w.header.Get("Content-Type") != NDJSONContentType {
			t.Fatalf("status %d, Content-Type %q", w.status, w.header.Get("Content-Type"))
		}
		// The handler is blocked writing its first batch: change rows of
		// both batches, add one and delete one.
		var last pornstarDoc
		if err := json.Unmarshal([]byte(before[len(before)-2]), &last); err != nil {
			t.Fatal(err)
		}
		api.do(req{method: http.MethodPatch, path: fmt.Sprintf("/api/v1/pornstars/%d", last.ID), body: `{"name": "Renamed During The Export"}`,
			ctype: mediaMergePatch, token: "write"}).wantStatus(t, http.StatusOK)
		api.do(req{method: http.MethodDelete, path: fmt.Sprintf("/api/v1/pornstars/%d", doomed.ID), token: "write"}).wantStatus(t, http.StatusNoContent)
		api.create(`{"name": "Created During The Export"}`)
		changed := head[3]
		changed.FeedID += 10_000_000 // a copy in the second batch
		changed.Name, changed.ContentHash = "Changed By The Feed", ""
		if _, err := api.store.UpsertProfiles(t.Context(), []db.Profile{changed, head[4]}); err != nil {
			t.Fatal(err)
		}
		if _, err := api.store.MarkRemoved(t.Context(), []int64{head[5].FeedID}); err != nil {
			t.Fatal(err)
		}

		rest, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		if v := <-done; v != nil {
			t.Fatalf("the handler panicked: %v", v)
		}
		got := exportLines(t, append([]byte(first), rest...))
		if !slices.Equal(got, before) {
			t.Errorf("the export (%d lines) is not the database as of its start (%d performers)", len(got), len(before))
			for i := range min(len(got), len(before)) {
				if got[i] != before[i] {
					t.Fatalf("first difference, line %d:\n got %s\nwant %s", i+1, got[i], before[i])
				}
			}
		}
		if after := listLines(t, api, "removed=any"); slices.Equal(after, before) || len(after) != len(before) {
			t.Fatalf("the writes did not change what the list shows as expected (%d rows, %d before)", len(after), len(before))
		}
		// And a new export shows them.
		r := api.get("/api/v1/pornstars/export?removed=any").wantStatus(t, http.StatusOK)
		if !slices.Equal(exportLines(t, r.body), listLines(t, api, "removed=any")) {
			t.Error("an export after the writes is not the list")
		}
	})
}

// TestExportCutOff checks that an export failing after its headers (here:
// its context ends while it streams) aborts the response, so the client
// sees a broken transfer rather than an end, and that every line it got is
// complete.
func TestExportCutOff(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		head := ingesttest.ReadFeed(t, samples.Head.Path(t))
		samples.SeedCopies(t, api.store, head, 2*db.ExportBatchRows+1)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		rq := httptest.NewRequestWithContext(ctx, http.MethodGet, "/api/v1/pornstars/export", nil)
		body, _, done := startExport(api, rq)
		if _, err := body.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		cancel()
		rest, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		if v := <-done; v != http.ErrAbortHandler {
			t.Fatalf("the handler ended with %v, want the response aborted (http.ErrAbortHandler)", v)
		}
		lines := exportLines(t, rest) // ends with a newline: no half line
		if len(lines)+1 >= 2*db.ExportBatchRows+1 {
			t.Fatalf("%d lines: the export was not cut off", len(lines)+1)
		}
		for i, line := range lines {
			var p pornstarDoc
			if err := json.Unmarshal([]byte(line), &p); err != nil || p.ID == 0 {
				t.Fatalf("line %d is not a complete performer: %v: %s", i+2, err, line)
			}
		}
		if !strings.Contains(api.logs.String(), "export cut off") {
			t.Errorf("the cut-off was not logged:\n%s", api.logs.String())
		}
	})
}

// TestExportWriteDeadlinePerBatch checks the export over a real connection
// to a server whose write timeout is far shorter than the export takes:
// each batch sets its own write deadline, so the export arrives whole.
func TestExportWriteDeadlinePerBatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		head := ingesttest.ReadFeed(t, samples.Head.Path(t))
		samples.SeedCopies(t, api.store, head, db.ExportBatchRows+1)
		srv := httptest.NewUnstartedServer(api.handler)
		srv.Config.WriteTimeout = time.Millisecond // over before the first batch is read
		srv.Start()
		t.Cleanup(srv.Close)
		res, err := srv.Client().Get(srv.URL + "/api/v1/pornstars/export")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatalf("reading the export: %v (after %d bytes)", err, len(body))
		}
		if got, want := exportLines(t, body), listLines(t, api, ""); !slices.Equal(got, want) {
			t.Errorf("%d lines, want the list's %d items", len(got), len(want))
		}
	})
}

package rest

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"marquee/db"
	"marquee/server"
)

// NDJSONContentType is the media type of the export: one JSON value per
// line (newline-delimited JSON). Compression middleware treats it as text.
const NDJSONContentType = "application/x-ndjson"

const (
	// exportTimeout bounds one export from its first read to its last byte:
	// the database holds its snapshot that long. Every batch must also reach
	// the client within exportBatchWriteTimeout, so only a client that keeps
	// reading, however slowly, comes near it; a whole feed streams in seconds.
	exportTimeout = 30 * time.Minute
	// exportBatchWriteTimeout is how long one batch may take to reach the
	// client; it replaces the server's WriteTimeout, which bounds ordinary
	// answers and would cut a long export off.
	exportBatchWriteTimeout = 60 * time.Second
)

// exportPornstars answers GET /pornstars/export: every performer matching
// the filters of GET /pornstars, as NDJSON, one performer per line exactly
// as a list page's data items, in id order, read in batches from one
// snapshot of the database (db.Store.Export), so memory stays bounded by a
// batch whatever the number of rows.
//
// Errors before the first line are problem documents. An error after it
// (the headers are sent) aborts the response: the connection is cut before
// the chunked body's end (HTTP/2: the stream is reset), which every HTTP
// client reports as an error; the last line received is always complete.
// Only a stream that ends properly holds the whole export.
func (a *api) exportPornstars(w http.ResponseWriter, r *http.Request) {
	values, ok := parseQuery(w, r)
	if !ok {
		return
	}
	filter, errs := parseExportQuery(values)
	if len(errs) > 0 {
		failParameters(w, r, errs)
		return
	}
	if r.Method == http.MethodHead {
		setExportHeaders(w)
		w.WriteHeader(http.StatusOK)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), exportTimeout)
	defer cancel()
	rc := http.NewResponseController(w)
	var (
		started bool
		lines   []byte // one batch, reused: its size bounds the export's memory
		rows    int
	)
	err := a.store.Export(ctx, filter, func(batch *db.ExportBatch) error {
		if !started {
			started = true
			setExportHeaders(w)
			w.WriteHeader(http.StatusOK)
		}
		children := &pornstarChildren{aliases: batch.Aliases, thumbs: batch.Thumbnails, images: batch.Images, links: a.imageLinks()}
		lines = lines[:0]
		for i := range batch.Items {
			p := newPornstarJSON(&batch.Items[i], children)
			lines = append(appendPornstar(lines, &p), '\n')
		}
		if err := rc.SetWriteDeadline(time.Now().Add(exportBatchWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		if _, err := w.Write(lines); err != nil {
			return err
		}
		rows += len(batch.Items)
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		return nil
	})
	switch {
	case err == nil && !started: // nothing matched: an empty export
		setExportHeaders(w)
		w.WriteHeader(http.StatusOK)
	case err != nil && !started:
		a.failListError(w, r, err)
	case err != nil:
		level := slog.LevelError
		if r.Context().Err() != nil {
			level = slog.LevelDebug // the client went away: nobody reads the rest
		}
		attrs := []any{"request_id", server.RequestID(r.Context()), "rows_sent", rows, "error", err}
		var dbErr *db.DatabaseError
		if errors.As(err, &dbErr) {
			attrs = append(attrs, "cause", dbErr.Cause())
		}
		a.log.Log(r.Context(), level, "rest: export cut off after its headers; response aborted", attrs...)
		panic(http.ErrAbortHandler)
	}
}

// setExportHeaders sets the headers of an export's answer. The file name
// says when the export was taken.
func setExportHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", NDJSONContentType)
	h.Set("Content-Disposition", `attachment; filename="pornstars-`+time.Now().UTC().Format("20060102T150405Z")+`.ndjson"`)
	h.Set("Cache-Control", "no-store")
}

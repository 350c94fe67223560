package rest

import (
	"encoding/json"
	"net/http"

	"marquee/db"
)

// maxRejectsShown bounds the rejected items GET /feed-runs/{id} lists; the
// run's items_rejected counts them all.
const maxRejectsShown = 100

// listFeedRuns answers GET /feed-runs: runs newest first.
func (a *api) listFeedRuns(w http.ResponseWriter, r *http.Request) {
	values, ok := parseQuery(w, r)
	if !ok {
		return
	}
	limit, cursor, errs := parsePage(values)
	if len(errs) > 0 {
		failParameters(w, r, errs)
		return
	}
	list, err := a.store.ListRuns(r.Context(), limit, cursor)
	if err != nil {
		a.failListError(w, r, err)
		return
	}
	body := pageJSON[feedRunJSON]{Data: make([]feedRunJSON, len(list.Runs)), Total: list.Total}
	for i := range list.Runs {
		body.Data[i] = newFeedRunJSON(&list.Runs[i])
	}
	if list.NextCursor != "" {
		body.NextCursor = &list.NextCursor
		setNextLink(w, a.publicURL+BasePath+"/feed-runs", values, list.NextCursor)
	}
	a.writeJSON(w, r, http.StatusOK, body, "")
}

// getFeedRun answers GET /feed-runs/{id}, with a sample of its rejects.
// Its ETag is a digest of the body: a running run's counters and heartbeat
// change without a new version.
func (a *api) getFeedRun(w http.ResponseWriter, r *http.Request) {
	id, ok := a.pathAndNoQuery(w, r)
	if !ok {
		return
	}
	run, err := a.store.GetRun(r.Context(), id)
	if err != nil {
		a.failStore(w, r, err)
		return
	}
	rejects, err := a.store.Rejects(r.Context(), id, maxRejectsShown)
	if err != nil {
		a.failStore(w, r, err)
		return
	}
	body := newFeedRunJSON(run)
	body.Rejects = make([]rejectJSON, len(rejects))
	for i, rej := range rejects {
		body.Rejects[i] = rejectJSON{ItemIndex: rej.ItemIndex, FeedID: rej.FeedID, Reason: rej.Reason}
	}
	a.writeFeedRunDetail(w, r, http.StatusOK, body)
}

// writeFeedRunDetail sends a run with its rejects list always present
// (empty rather than omitted).
func (a *api) writeFeedRunDetail(w http.ResponseWriter, r *http.Request, status int, run feedRunJSON) {
	type detail struct {
		feedRunJSON
		Rejects []rejectJSON `json:"rejects"`
	}
	rejects := run.Rejects
	if rejects == nil {
		rejects = []rejectJSON{}
	}
	a.writeJSON(w, r, status, detail{run, rejects}, "")
}

// listFeedRunWarnings answers GET /feed-runs/{id}/warnings: the field
// warnings the run recorded, in feed order, a page at a time.
func (a *api) listFeedRunWarnings(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "id")
	if !ok {
		return
	}
	values, ok := parseQuery(w, r)
	if !ok {
		return
	}
	limit, cursor, errs := parsePage(values)
	if len(errs) > 0 {
		failParameters(w, r, errs)
		return
	}
	list, err := a.store.Warnings(r.Context(), id, limit, cursor)
	if err != nil {
		a.failListError(w, r, err)
		return
	}
	body := pageJSON[warningJSON]{Data: make([]warningJSON, len(list.Warnings)), Total: list.Total}
	for i, fw := range list.Warnings {
		body.Data[i] = warningJSON{ItemIndex: fw.ItemIndex, FeedID: fw.FeedID, Field: fw.Field, Value: fw.Value, Reason: fw.Reason}
	}
	if list.NextCursor != "" {
		body.NextCursor = &list.NextCursor
		setNextLink(w, a.publicURL+feedRunPath(id)+"/warnings", values, list.NextCursor)
	}
	a.writeJSON(w, r, http.StatusOK, body, "")
}

// startFeedRunBody is the body of POST /feed-runs: {"force": true} at most.
type startFeedRunBody struct {
	Force bool
}

// startFeedRun answers POST /feed-runs: 202 with the queued run and its
// Location, or 409 naming the run that is already queued or running. The
// body is optional; force makes the run ignore the feed's conditional
// headers. A caller can never choose the feed URL.
func (a *api) startFeedRun(w http.ResponseWriter, r *http.Request) {
	if !requireWriter(w, r) || !noQuery(w, r) {
		return
	}
	var in startFeedRunBody
	if r.ContentLength != 0 || r.Header.Get("Content-Type") != "" {
		if !checkContentType(w, r, mediaJSON) {
			return
		}
		body, ok := a.readBody(w, r, true)
		if !ok {
			return
		}
		if body != nil {
			var errs []problemError
			if in, errs = decodeStartFeedRun(body); len(errs) > 0 {
				failValidation(w, r, errs)
				return
			}
		}
	}
	run, err := a.store.QueueRun(r.Context(), db.RequestedByAPI, in.Force)
	if err != nil {
		a.failStore(w, r, err)
		return
	}
	w.Header().Set("Location", a.publicURL+feedRunPath(run.ID))
	a.writeFeedRunDetail(w, r, http.StatusAccepted, newFeedRunJSON(run))
}

func decodeStartFeedRun(body []byte) (startFeedRunBody, []problemError) {
	var out startFeedRunBody
	var members map[string]json.RawMessage
	if !isObject(body) || json.Unmarshal(body, &members) != nil {
		return out, []problemError{pointerError("", "must be a JSON object")}
	}
	d := &fieldDecoder{}
	for _, name := range sortedKeys(members) {
		if name != "force" {
			d.add("/"+escapePointer(name), "is not a member; the body takes force at most")
			continue
		}
		if isNull(members[name]) {
			d.add("/force", "must be true or false")
			continue
		}
		if b := d.boolean(members[name], "/force"); b != nil {
			out.Force = *b
		}
	}
	return out, d.errs
}

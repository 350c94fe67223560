package rest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"marquee/auth"
	"marquee/db"
)

// Takedowns is what the takedown routes need (imaging.Takedowns, which
// records a takedown and deletes its files).
type Takedowns interface {
	TakeDown(ctx context.Context, in db.TakedownInput) (*db.Takedown, error)
	Lift(ctx context.Context, id int64, liftedBy string) (*db.Takedown, error)
	List(ctx context.Context) ([]db.Takedown, error)
}

// takedownJSON is a takedown as the API shows it.
type takedownJSON struct {
	ID              int64      `json:"id"`
	PerformerID     *int64     `json:"performer_id"`
	FeedID          *int64     `json:"feed_id"`
	URLHash         *string    `json:"url_hash"`
	Reason          string     `json:"reason"`
	TakenBy         string     `json:"taken_by"`
	CreatedAt       time.Time  `json:"created_at"`
	URLHashes       []string   `json:"url_hashes"`
	DeletedFiles    []string   `json:"deleted_files"`
	KeptFiles       []string   `json:"kept_files"`
	FilesNotDeleted []string   `json:"files_not_deleted,omitempty"`
	LiftedAt        *time.Time `json:"lifted_at"`
	LiftedBy        *string    `json:"lifted_by"`
}

func newTakedownJSON(td *db.Takedown) takedownJSON {
	orEmpty := func(l []string) []string {
		if l == nil {
			return []string{}
		}
		return l
	}
	return takedownJSON{
		ID: td.ID, PerformerID: td.PornstarID, FeedID: td.FeedID, URLHash: td.URLHash, Reason: td.Reason,
		TakenBy: td.TakenBy, CreatedAt: td.CreatedAt.UTC(), URLHashes: orEmpty(td.URLHashes),
		DeletedFiles: orEmpty(td.DeletedFiles), KeptFiles: orEmpty(td.KeptFiles),
		FilesNotDeleted: td.FilesNotDeleted, LiftedAt: utcPtr(td.LiftedAt), LiftedBy: td.LiftedBy,
	}
}

func takedownPath(id int64) string { return BasePath + "/takedowns/" + strconv.FormatInt(id, 10) }

// auditName is who the takedown routes record: the token's name (an
// unnamed token's is derived from its digest), or "api" for none.
func auditName(ctx context.Context) string {
	if name := auth.TokenName(ctx); name != "" {
		return name
	}
	return "api"
}

// listTakedowns answers GET /takedowns: every takedown, newest first. It
// needs a write token: the list names what was taken down and why.
func (a *api) listTakedowns(w http.ResponseWriter, r *http.Request) {
	if !requireWriter(w, r) || !noQuery(w, r) {
		return
	}
	list, err := a.takedowns.List(r.Context())
	if err != nil {
		a.failStore(w, r, err)
		return
	}
	body := struct {
		Data []takedownJSON `json:"data"`
	}{Data: make([]takedownJSON, len(list))}
	for i := range list {
		body.Data[i] = newTakedownJSON(&list[i])
	}
	a.writeJSON(w, r, http.StatusOK, body, "")
}

// createTakedown answers POST /takedowns: 201 with the takedown, in effect
// at once, and its Location; 409 when it is taken down already.
func (a *api) createTakedown(w http.ResponseWriter, r *http.Request) {
	if !requireWriter(w, r) || !noQuery(w, r) || !checkContentType(w, r, mediaJSON) {
		return
	}
	body, ok := a.readBody(w, r, false)
	if !ok {
		return
	}
	in, errs := decodeTakedown(body)
	if len(errs) > 0 {
		failValidation(w, r, errs)
		return
	}
	in.TakenBy = auditName(r.Context())
	td, err := a.takedowns.TakeDown(r.Context(), in)
	if err != nil {
		a.failTakedown(w, r, err)
		return
	}
	a.totals.clear()
	w.Header().Set("Location", a.publicURL+takedownPath(td.ID))
	a.writeJSON(w, r, http.StatusCreated, newTakedownJSON(td), "")
}

// liftTakedown answers DELETE /takedowns/{id}: the takedown stays on
// record, lifted; the next feed run restores what it kept out.
func (a *api) liftTakedown(w http.ResponseWriter, r *http.Request) {
	if !requireWriter(w, r) {
		return
	}
	id, ok := a.pathAndNoQuery(w, r)
	if !ok {
		return
	}
	td, err := a.takedowns.Lift(r.Context(), id, auditName(r.Context()))
	if err != nil {
		a.failTakedown(w, r, err)
		return
	}
	a.writeJSON(w, r, http.StatusOK, newTakedownJSON(td), "")
}

// failTakedown maps the errors of the takedown routes: a conflict is a
// takedown in effect already (or lifted already).
func (a *api) failTakedown(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, db.ErrConflict) {
		fail(w, r, kindConflict, "it is taken down already, or the takedown was lifted already")
		return
	}
	a.failStore(w, r, err)
}

// decodeTakedown reads {"performer_id"|"feed_id"|"url_hash", "reason"}.
func decodeTakedown(body []byte) (db.TakedownInput, []problemError) {
	var in db.TakedownInput
	var members map[string]json.RawMessage
	if !isObject(body) || json.Unmarshal(body, &members) != nil {
		return in, []problemError{pointerError("", "must be a JSON object")}
	}
	d := &fieldDecoder{}
	positive := func(name string) *int64 {
		var n int64
		if err := json.Unmarshal(members[name], &n); err != nil || n <= 0 {
			d.add("/"+name, "must be a positive integer")
			return nil
		}
		return &n
	}
	for _, name := range sortedKeys(members) {
		switch name {
		case "performer_id":
			in.PornstarID = positive(name)
		case "feed_id":
			in.FeedID = positive(name)
		case "url_hash":
			if s := d.str(members[name], "/url_hash", false); s != nil {
				if !db.IsSHA256Hex(*s) {
					d.add("/url_hash", "must be 64 lowercase hexadecimal digits (the SHA-256 of the image URL)")
				} else {
					in.URLHash = s
				}
			}
		case "reason":
			if s := d.str(members[name], "/reason", false); s != nil {
				in.Reason = *s
			}
		default:
			d.add("/"+escapePointer(name), "is not a member; the body takes performer_id, feed_id or url_hash, and reason")
		}
	}
	if len(d.errs) > 0 {
		return in, d.errs
	}
	named := 0
	for _, name := range []string{"performer_id", "feed_id", "url_hash"} {
		if _, ok := members[name]; ok {
			named++
		}
	}
	if named != 1 {
		d.add("", "name exactly one of performer_id, feed_id and url_hash")
	}
	if _, ok := members["reason"]; !ok {
		d.add("/reason", "is required")
	}
	return in, d.errs
}

package rest

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"marquee/db"
	"marquee/internal/async"
)

// listPornstars answers GET /pornstars: one page of performers matching the
// filters, in the requested order, with the cursor of the next page.
func (a *api) listPornstars(w http.ResponseWriter, r *http.Request) {
	values, ok := parseQuery(w, r)
	if !ok {
		return
	}
	q, errs := parsePornstarQuery(values)
	if len(errs) > 0 {
		failParameters(w, r, errs)
		return
	}
	// The total is counted beside the page, not after it: after a write
	// it is counted again, and a count can take as long as the page.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	total := async.Go(ctx, func(ctx context.Context) (int64, error) {
		return a.totals.get(ctx, q.filter, a.store.Count)
	})
	page, err := a.store.List(ctx, q.filter, q.order, db.Page{First: q.limit, After: q.cursor})
	if err != nil {
		a.failListError(w, r, err)
		return
	}
	n, err := total.Wait()
	if err != nil {
		a.failStore(w, r, err)
		return
	}
	rows := make([]*db.Pornstar, len(page.Items))
	for i := range page.Items {
		rows[i] = &page.Items[i]
	}
	children, err := a.loadChildren(r.Context(), a.replicaChildren(), rows)
	if err != nil {
		a.failStore(w, r, err)
		return
	}
	body := pageJSON[pornstarJSON]{Data: make([]pornstarJSON, len(page.Items)), Total: n}
	for i := range page.Items {
		body.Data[i] = newPornstarJSON(&page.Items[i], children)
	}
	if page.HasNextPage && len(page.Cursors) > 0 {
		next := page.Cursors[len(page.Cursors)-1]
		body.NextCursor = &next
		setNextLink(w, a.publicURL+BasePath+"/pornstars", values, next)
	}
	a.writeEncoded(w, r, http.StatusOK, "", func(dst []byte) []byte { return appendPornstarPage(dst, &body) })
}

// failListError maps an error of a list query: the store's field errors
// name a query parameter (400), anything else goes to failStore.
func (a *api) failListError(w http.ResponseWriter, r *http.Request, err error) {
	var fieldErr *db.FieldError
	if errors.As(err, &fieldErr) {
		failParameters(w, r, []problemError{parameterError(queryParamOf(fieldErr.Field), fieldErr.Reason)})
		return
	}
	a.failStore(w, r, err)
}

// queryParamOf names the query parameter behind a field of the store's
// list input (the store speaks of first and order, the API of limit and sort).
func queryParamOf(field string) string {
	head, _, _ := strings.Cut(field, "/")
	switch head {
	case "first", "last":
		return paramLimit
	case "order":
		return paramSort
	case "after", "before":
		return paramCursor
	case "facets":
		return paramFacet
	}
	if filter, ok := db.FilterFieldOf(field); ok {
		return filter.ParamNames()[0]
	}
	return head
}

// parseQuery parses the raw query strictly: a malformed escape or a
// semicolon is a 400, not a silently dropped parameter.
func parseQuery(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		failParameters(w, r, []problemError{{Detail: "the query string is malformed: use name=value pairs joined by &, percent-encoded"}})
		return nil, false
	}
	return values, true
}

// setNextLink sets Link: <...>; rel="next" to the same query with the next
// cursor.
func setNextLink(w http.ResponseWriter, path string, values url.Values, cursor string) {
	next := url.Values{}
	for k, v := range values {
		next[k] = v
	}
	next.Set(paramCursor, cursor)
	w.Header().Set("Link", "<"+path+"?"+next.Encode()+`>; rel="next"`)
}

// getPornstar answers GET /pornstars/{id}.
func (a *api) getPornstar(w http.ResponseWriter, r *http.Request) {
	id, ok := a.pathAndNoQuery(w, r)
	if !ok {
		return
	}
	p, err := a.store.Get(r.Context(), id)
	if err != nil {
		a.failStore(w, r, err)
		return
	}
	a.writePornstar(w, r, http.StatusOK, p, a.replicaChildren())
}

// getPornstarBySlug answers GET /pornstars/by-slug/{slug}: the performer
// as GET /pornstars/{id} shows it, with the same ETag.
func (a *api) getPornstarBySlug(w http.ResponseWriter, r *http.Request) {
	if !noQuery(w, r) {
		return
	}
	p, err := a.store.GetBySlug(r.Context(), r.PathValue("slug"))
	if err != nil {
		a.failStore(w, r, err)
		return
	}
	a.writePornstar(w, r, http.StatusOK, p, a.replicaChildren())
}

// writePornstar loads the performer's children and sends it with its ETag.
func (a *api) writePornstar(w http.ResponseWriter, r *http.Request, status int, p *db.Pornstar, from childrenReader) {
	children, err := a.loadChildren(r.Context(), from, []*db.Pornstar{p})
	if err != nil {
		a.failStore(w, r, err)
		return
	}
	out := newPornstarJSON(p, children)
	a.writeEncoded(w, r, status, pornstarETag(p, children), func(dst []byte) []byte {
		return append(appendPornstar(dst, &out), '\n')
	})
}

// listAliases answers GET /pornstars/{id}/aliases.
func (a *api) listAliases(w http.ResponseWriter, r *http.Request) {
	id, ok := a.pathAndNoQuery(w, r)
	if !ok {
		return
	}
	p, err := a.store.Get(r.Context(), id)
	if err != nil {
		a.failStore(w, r, err)
		return
	}
	aliases, err := a.store.AliasesOf(r.Context(), []*db.Pornstar{p})
	if err != nil {
		a.failStore(w, r, err)
		return
	}
	body := aliasesJSON{Data: make([]string, 0, len(aliases[id]))}
	for _, al := range aliases[id] {
		body.Data = append(body.Data, al.Alias)
	}
	a.writeJSON(w, r, http.StatusOK, body, "")
}

// listThumbnails answers GET /pornstars/{id}/thumbnails.
func (a *api) listThumbnails(w http.ResponseWriter, r *http.Request) {
	id, ok := a.pathAndNoQuery(w, r)
	if !ok {
		return
	}
	p, err := a.store.Get(r.Context(), id)
	if err != nil {
		a.failStore(w, r, err)
		return
	}
	thumbs, err := a.store.ThumbnailsOf(r.Context(), []*db.Pornstar{p})
	if err != nil {
		a.failStore(w, r, err)
		return
	}
	images, err := a.imagesOf(r.Context(), thumbs)
	if err != nil {
		a.failStore(w, r, err)
		return
	}
	body := thumbnailsJSON{Data: make([]thumbnailJSON, 0, len(thumbs[id]))}
	for _, t := range thumbs[id] {
		body.Data = append(body.Data, newThumbnailJSON(t, images, a.imageLinks()))
	}
	a.writeJSON(w, r, http.StatusOK, body, "")
}

// createPornstar answers POST /pornstars: 201 with the new performer and
// its Location. Records made here have no feed id; the feed never touches
// them.
func (a *api) createPornstar(w http.ResponseWriter, r *http.Request) {
	if !requireWriter(w, r) || !noQuery(w, r) || !checkContentType(w, r, mediaJSON) {
		return
	}
	body, ok := a.readBody(w, r, false)
	if !ok {
		return
	}
	in, errs := decodePornstar(body, writeCreate)
	if len(errs) > 0 {
		failValidation(w, r, errs)
		return
	}
	p, err := a.store.Create(r.Context(), in.in)
	if err != nil {
		a.failStore(w, r, err)
		return
	}
	a.totals.clear()
	w.Header().Set("Location", a.publicURL+pornstarPath(p.ID))
	a.writePornstar(w, r, http.StatusCreated, p, a.primaryChildren())
}

// replacePornstar answers PUT /pornstars/{id}: every writable member is
// replaced, absent ones become null (aliases and thumbnails empty).
func (a *api) replacePornstar(w http.ResponseWriter, r *http.Request) {
	a.update(w, r, true)
}

// patchPornstar answers PATCH /pornstars/{id} with a JSON Merge Patch (RFC
// 7396): members present are set, null clears them, absent ones stay.
func (a *api) patchPornstar(w http.ResponseWriter, r *http.Request) {
	a.update(w, r, false)
}

func (a *api) update(w http.ResponseWriter, r *http.Request, full bool) {
	if !requireWriter(w, r) {
		return
	}
	id, ok := a.pathAndNoQuery(w, r)
	if !ok {
		return
	}
	media := []string{mediaJSON}
	if !full {
		media = []string{mediaMergePatch, mediaJSON}
	}
	if !checkContentType(w, r, media...) {
		return
	}
	body, ok := a.readBody(w, r, false)
	if !ok {
		return
	}
	kind := writePatch
	if full {
		kind = writeReplace
	}
	in, errs := decodePornstar(body, kind)
	if len(errs) > 0 {
		failValidation(w, r, errs)
		return
	}
	ifVersion, ok := a.ifMatchVersion(w, r, id)
	if !ok {
		return
	}
	if len(in.readOnly) > 0 {
		// Read-only members must be as stored; the write then applies to
		// the version they were compared with.
		stored, err := a.store.GetPrimary(r.Context(), id)
		if err != nil {
			a.failStore(w, r, err)
			return
		}
		if errs := in.checkReadOnly(id, stored); len(errs) > 0 {
			failValidation(w, r, errs)
			return
		}
		if ifVersion == nil {
			ifVersion = &stored.Version
		}
	}
	patch := in.patch()
	if full {
		patch = db.ReplaceAll(in.in)
	}
	p, err := a.store.Update(r.Context(), id, patch, ifVersion)
	if err != nil {
		a.failStore(w, r, err)
		return
	}
	a.totals.clear() // the performer may have moved in or out of filters
	a.writePornstar(w, r, http.StatusOK, p, a.primaryChildren())
}

// deletePornstar answers DELETE /pornstars/{id}: 204, or 409 for a
// performer that comes from the feed.
func (a *api) deletePornstar(w http.ResponseWriter, r *http.Request) {
	if !requireWriter(w, r) {
		return
	}
	id, ok := a.pathAndNoQuery(w, r)
	if !ok {
		return
	}
	ifVersion, ok := a.ifMatchVersion(w, r, id)
	if !ok {
		return
	}
	if err := a.store.Delete(r.Context(), id, ifVersion); err != nil {
		a.failStore(w, r, err)
		return
	}
	a.totals.clear()
	w.WriteHeader(http.StatusNoContent)
}

// pathAndNoQuery reads the {id} of a route that takes no query parameters.
func (a *api) pathAndNoQuery(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, ok := pathID(w, r, "id")
	if !ok || !noQuery(w, r) {
		return 0, false
	}
	return id, true
}

// noQuery answers 400 when a route without parameters got some.
func noQuery(w http.ResponseWriter, r *http.Request) bool {
	values, ok := parseQuery(w, r)
	if !ok {
		return false
	}
	if errs := noParams(values); len(errs) > 0 {
		failParameters(w, r, errs)
		return false
	}
	return true
}

// ifMatchVersion reads If-Match for a write to performer id. It returns the
// version the write must find (nil: no condition) or answers 412 itself. An
// entity tag matches when its version part equals the performer's version:
// the rest of a performer's ETag follows its images, which writes do not
// touch. Weak tags never match (RFC 9110 strong comparison).
func (a *api) ifMatchVersion(w http.ResponseWriter, r *http.Request, id int64) (*int64, bool) {
	values := r.Header.Values("If-Match")
	if len(values) == 0 {
		return nil, true
	}
	var versions []int64
	for _, v := range values {
		for _, tag := range splitETags(v) {
			if tag == "*" {
				return nil, true
			}
			if version, ok := versionOfETag(tag); ok {
				versions = append(versions, version)
			}
		}
	}
	switch {
	case len(versions) == 0:
		fail(w, r, kindPrecondition, "If-Match names no version of this performer")
		return nil, false
	case len(versions) == 1:
		return &versions[0], true
	}
	// Several candidates: the store checks one version atomically, so pick
	// the current one if it is among them.
	current, err := a.store.GetPrimary(r.Context(), id)
	if err != nil {
		a.failStore(w, r, err)
		return nil, false
	}
	for _, v := range versions {
		if v == current.Version {
			return &v, true
		}
	}
	fail(w, r, kindPrecondition, "the resource has changed since the versions in If-Match")
	return nil, false
}

// versionOfETag reads the version of a strong performer ETag ("7-ab12..."
// or just "7").
func versionOfETag(tag string) (int64, bool) {
	if len(tag) < 2 || tag[0] != '"' || tag[len(tag)-1] != '"' {
		return 0, false
	}
	head, _, _ := strings.Cut(tag[1:len(tag)-1], "-")
	v, err := strconv.ParseInt(head, 10, 64)
	return v, err == nil && v > 0
}

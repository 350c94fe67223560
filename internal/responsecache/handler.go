package responsecache

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"marquee/auth"
	"marquee/server"
)

// Kind is the API a wrapped handler serves: it says which requests are
// looked up and which answers are kept.
type Kind int

const (
	// REST looks up GET and HEAD (HEAD from the GET's entry, without the
	// body) and keeps the 200 answers to GET that carry an ETag: every read
	// of a resource has one, and the streamed export none.
	REST Kind = iota
	// GraphQL looks up GET, and POST with a JSON body, and keeps the 200
	// answers the handler marked with MarkCacheable: queries answered
	// without errors, never mutations.
	GraphQL
)

// Wrap returns next answering from c where it can: next must be the API
// within the content coding (compression.Middleware) and behind the caller
// (auth.Tokens.Middleware), so that what c keeps is what the client gets.
// maxBody bounds the GraphQL bodies read for the key (next's own limit):
// larger ones pass through. A nil c returns next.
func (c *Cache) Wrap(next http.Handler, kind Kind, maxBody int64) http.Handler {
	if c == nil {
		return next
	}
	return &handler{cache: c, next: next, kind: kind, maxBody: maxBody}
}

type handler struct {
	cache   *Cache
	next    http.Handler
	kind    Kind
	maxBody int64
}

// markerKey carries the *atomic.Bool MarkCacheable sets.
type markerKey struct{}

// versionKey carries the data version the cache read for the request.
type versionKey struct{}

// VersionFrom returns the data version the cache read for ctx's request
// before the handler made its answer, and whether it read one. A handler
// that reuses results of its own (such as a total counted a moment ago)
// must reuse only those made at this version: the answer is kept as made
// at it.
func VersionFrom(ctx context.Context) (int64, bool) {
	v, ok := ctx.Value(versionKey{}).(int64)
	return v, ok
}

// MarkCacheable says the answer being made for ctx's request is the same
// for every identical request until the data changes: a GraphQL query
// answered without errors. It does nothing outside a wrapped handler.
func MarkCacheable(ctx context.Context) {
	if marker, ok := ctx.Value(markerKey{}).(*atomic.Bool); ok {
		marker.Store(true)
	}
}

// uncachedHeaders are request headers that ask for another answer than the
// whole current representation; such requests pass through.
var uncachedHeaders = []string{"Range", "If-Range", "If-Match", "If-Unmodified-Since", "If-Modified-Since"}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	caller := auth.CallerFrom(r.Context())
	if caller.BadToken {
		h.next.ServeHTTP(w, r)
		return
	}
	for _, name := range uncachedHeaders {
		if len(r.Header[name]) > 0 {
			h.next.ServeHTTP(w, r)
			return
		}
	}
	key, r, ok := h.key(r, caller.Role)
	if !ok {
		h.next.ServeHTTP(w, r)
		return
	}
	version, err := h.cache.opts.Version(r.Context())
	if err != nil {
		h.next.ServeHTTP(w, r) // the handler reports what is wrong with the database
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), versionKey{}, version))
	if e := h.cache.get(key, version); e != nil {
		if ok, _ := h.cache.opts.Limiter.Allow(caller.Key()); ok {
			h.cache.hits.Inc()
			server.SetRoute(r.Context(), e.route)
			serve(w, r, e)
			return
		}
		// Refused: next answers 429 (a refusal spends nothing).
	}
	h.cache.misses.Inc()
	marker := new(atomic.Bool)
	rec := &recorder{ResponseWriter: w, before: w.Header().Clone(), limit: h.cache.maxEntry, head: r.Method == http.MethodHead}
	h.next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), markerKey{}, marker)))
	if r.Method == http.MethodHead || !rec.storable() {
		return
	}
	// GraphQL answers all say no-store, to the clients' caches: whether
	// this one may be kept is what the handler marked.
	if h.kind == GraphQL && !marker.Load() ||
		h.kind == REST && (w.Header().Get("ETag") == "" || strings.Contains(w.Header().Get("Cache-Control"), "no-store")) {
		return
	}
	e := &entry{key: key, header: rec.header, added: rec.added, body: rec.body.Bytes(), route: server.Route(r.Context())}
	e.size = entrySize(key, e.header, e.added, e.body)
	h.cache.put(e, version)
}

// key is the normalised form of r, and r with its body still to be read;
// ok is false for requests the cache does not answer.
func (h *handler) key(r *http.Request, role auth.Role) (key string, _ *http.Request, ok bool) {
	var b strings.Builder
	b.WriteString(strconv.Itoa(int(h.kind)))
	b.WriteByte(' ')
	b.WriteString(coding(r))
	b.WriteByte(' ')
	b.WriteString(role.String())
	b.WriteByte(' ')
	switch {
	case r.Method == http.MethodGet || r.Method == http.MethodHead && h.kind == REST:
		b.WriteString("GET ")
		b.WriteString(r.URL.EscapedPath())
		b.WriteByte('?')
		b.WriteString(r.URL.Query().Encode()) // sorted by name
		return b.String(), r, true
	case r.Method == http.MethodPost && h.kind == GraphQL:
		body, r, ok := h.canonicalBody(r)
		if !ok {
			return "", r, false
		}
		b.WriteString("POST ")
		b.WriteString(r.URL.EscapedPath())
		b.WriteByte(' ')
		b.Write(body)
		return b.String(), r, true
	}
	return "", r, false
}

// canonicalBody reads a GraphQL POST body and returns it re-encoded with
// its object keys sorted, and r with the body to be read again. ok is false
// (and r's body whole) for a body that is not one JSON object of at most
// maxBody bytes.
func (h *handler) canonicalBody(r *http.Request) ([]byte, *http.Request, bool) {
	mediaType, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	if !strings.EqualFold(strings.TrimSpace(mediaType), "application/json") || r.Body == nil {
		return nil, r, false
	}
	read, err := io.ReadAll(io.LimitReader(r.Body, h.maxBody+1))
	r2 := r.Clone(r.Context())
	r2.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(read), r.Body), r.Body}
	if err != nil || int64(len(read)) > h.maxBody {
		return nil, r2, false
	}
	dec := json.NewDecoder(bytes.NewReader(read))
	dec.UseNumber()
	var doc map[string]any
	if dec.Decode(&doc) != nil || dec.More() {
		return nil, r2, false
	}
	canonical, err := json.Marshal(doc) // map keys are sorted at every level
	if err != nil {
		return nil, r2, false
	}
	return canonical, r2, true
}

// serve answers r from e: the whole answer, or 304 when If-None-Match
// names its ETag.
func serve(w http.ResponseWriter, r *http.Request, e *entry) {
	h := w.Header()
	for k, v := range e.header {
		h[k] = v
	}
	for k, v := range e.added {
		h[k] = append(slices.Clip(h[k]), v...)
	}
	if inm := r.Header["If-None-Match"]; len(inm) > 0 && matches(inm, h.Get("ETag")) {
		h.Del("Content-Length")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(e.body) //nolint:errcheck // the client went away; nothing to do
	}
}

// matches reports whether If-None-Match values name etag (weak
// comparison, RFC 9110 section 13.1.2).
func matches(values []string, etag string) bool {
	want := strings.TrimPrefix(etag, "W/")
	for _, v := range values {
		for tag := range strings.SplitSeq(v, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" || strings.TrimPrefix(tag, "W/") == want {
				return true
			}
		}
	}
	return false
}

// recorder passes an answer through to the client and keeps a copy of it:
// the headers the handler set (compared with those the writer had before)
// and the body, up to limit bytes.
type recorder struct {
	http.ResponseWriter
	before http.Header
	limit  int64
	head   bool

	status        int
	header, added http.Header
	body          bytes.Buffer
	overflow      bool
	flushed       bool
}

func (rec *recorder) WriteHeader(status int) {
	if rec.status == 0 && status >= 200 {
		rec.status = status
		rec.header, rec.added = http.Header{}, http.Header{}
		for k, v := range rec.ResponseWriter.Header() {
			was := rec.before[k]
			switch {
			case slices.Equal(was, v):
			case len(was) > 0 && len(v) > len(was) && slices.Equal(was, v[:len(was)]):
				rec.added[k] = slices.Clone(v[len(was):])
			default:
				rec.header[k] = slices.Clone(v)
			}
		}
	}
	rec.ResponseWriter.WriteHeader(status)
}

func (rec *recorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.WriteHeader(http.StatusOK)
	}
	if !rec.overflow && !rec.head {
		if int64(rec.body.Len()+len(b)) > rec.limit {
			rec.overflow = true
			rec.body = bytes.Buffer{}
		} else {
			rec.body.Write(b)
		}
	}
	return rec.ResponseWriter.Write(b)
}

// Flush sends what was written so far: the answer streams, and is not kept.
func (rec *recorder) Flush() {
	if rec.status == 0 {
		rec.WriteHeader(http.StatusOK)
	}
	rec.flushed = true
	http.NewResponseController(rec.ResponseWriter).Flush() //nolint:errcheck // as http.Flusher, which cannot fail
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// storable reports whether the whole answer was recorded and was a 200.
func (rec *recorder) storable() bool {
	return rec.status == http.StatusOK && !rec.overflow && !rec.flushed
}

package rest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// JSONContentType is the media type of every successful JSON response.
const JSONContentType = "application/json"

var bufferPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// writeJSON encodes v and sends it with status. A GET or HEAD answer carries
// etag (or, when etag is empty, one computed from the body) and honours
// If-None-Match with 304.
func (a *api) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any, etag string) {
	buf := bufferPool.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 1<<20 { // keep the pool from pinning rare huge bodies
			buf.Reset()
			bufferPool.Put(buf)
		}
	}()
	buf.Reset()
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		a.failInternal(w, r, err)
		return
	}
	a.writeBody(w, r, status, buf.Bytes(), etag)
}

// encodedPool holds the buffers of hand-encoded answers (see encode.go).
var encodedPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// writeEncoded sends the JSON that encode appends, as writeJSON does.
func (a *api) writeEncoded(w http.ResponseWriter, r *http.Request, status int, etag string, encode func([]byte) []byte) {
	bp := encodedPool.Get().(*[]byte)
	body := encode((*bp)[:0])
	a.writeBody(w, r, status, body, etag)
	if cap(body) <= 1<<20 { // keep the pool from pinning rare huge bodies
		*bp = body[:0]
		encodedPool.Put(bp)
	}
}

// writeBody sends an encoded JSON body, as writeJSON does.
func (a *api) writeBody(w http.ResponseWriter, r *http.Request, status int, body []byte, etag string) {
	h := w.Header()
	if etag == "" {
		etag = bodyETag(body)
	}
	h.Set("ETag", etag)
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		// Clients may keep the answer but must revalidate it (cheaply, with
		// If-None-Match): performers change with every feed run.
		h.Set("Cache-Control", "no-cache")
		if status == http.StatusOK && noneMatch(r.Header.Values("If-None-Match"), etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	h.Set("Content-Type", JSONContentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// bodyETag is the strong ETag of a representation that has no version of
// its own (lists, sub-collections, feed runs): a digest of its bytes.
func bodyETag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

// noneMatch reports whether If-None-Match header values match etag with
// the weak comparison of RFC 9110 section 13.1.2 ("*" matches anything).
func noneMatch(values []string, etag string) bool {
	want := strings.TrimPrefix(etag, "W/")
	for _, v := range values {
		for _, tag := range splitETags(v) {
			if tag == "*" || strings.TrimPrefix(tag, "W/") == want {
				return true
			}
		}
	}
	return false
}

// splitETags splits a list header of entity tags. Commas may only occur
// between tags (an opaque tag cannot contain a quote or comma here: every
// tag this API makes is hex or digits).
func splitETags(header string) []string {
	var out []string
	for _, part := range strings.Split(header, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

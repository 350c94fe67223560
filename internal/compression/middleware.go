package compression

import (
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzhttp"
	"github.com/klauspost/compress/gzhttp/writer"
)

// Middleware compresses the answers of next that are text (JSON, NDJSON,
// JavaScript, CSS, HTML, plain text) of at least MinSize bytes in the
// coding Negotiate chooses, and marks every answer `Vary: Accept-Encoding`.
// A compressed answer loses Content-Length and Accept-Ranges, and its ETag
// becomes ETag(etag, coding); the conditional headers of a request
// (If-None-Match, If-Match) reach next with those suffixes removed, so next
// compares the tags it makes, and a 304 answers with the tag the client
// sent. HEAD, 204 and 304 answers and answers that already have a
// Content-Encoding or Content-Range pass as they are. Image bytes must not
// be routed through it: they are compressed already.
func Middleware(next http.Handler) http.Handler {
	m := &middleware{next: next}
	for i, c := range Codings {
		for floorless, minSize := range []int{MinSize, 0} {
			m.coded[i][floorless] = mustWrap(c, minSize)(next)
		}
	}
	return m
}

type middleware struct {
	next http.Handler
	// coded[i][floorless] is next compressed in Codings[i], with the size
	// floor (0) or without it (1, when the client refuses identity).
	coded [3][2]http.Handler
}

// varyAcceptEncoding is shared by every answer's header map. It is never
// written in place: Header.Add appends to it, and appending to a full
// slice copies it.
var varyAcceptEncoding = []string{"Accept-Encoding"}

func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	coding, identityRefused := Identity, false
	if r.Method != http.MethodHead {
		coding, identityRefused = Negotiate(r.Header["Accept-Encoding"])
	}
	suffixed := hasCodingSuffix(r.Header["If-None-Match"]) || hasCodingSuffix(r.Header["If-Match"])
	if coding == Identity && !suffixed {
		addVary(w.Header())
		m.next.ServeHTTP(w, r)
		return
	}

	// The request next sees: its own tags in the conditional headers, and
	// the one coding gzhttp is to use.
	clientTags := r.Header["If-None-Match"]
	r = r.WithContext(r.Context())
	r.Header = r.Header.Clone()
	for _, name := range []string{"If-None-Match", "If-Match"} {
		if values := r.Header[name]; len(values) > 0 {
			r.Header[name] = plainETags(values)
		}
	}
	lw := &labelWriter{ResponseWriter: w, coding: coding, clientTags: clientTags}
	if coding == Identity {
		addVary(w.Header())
		m.next.ServeHTTP(lw, r)
		return
	}
	// gzhttp sends gzip for br (see mustWrap); labelWriter renames it.
	if coding == Zstd {
		r.Header.Set("Accept-Encoding", "zstd")
	} else {
		r.Header.Set("Accept-Encoding", "gzip")
	}
	floorless := 0
	if identityRefused {
		floorless = 1
	}
	m.coded[coding-Zstd][floorless].ServeHTTP(lw, r)
}

func addVary(h http.Header) {
	if len(h["Vary"]) == 0 {
		h["Vary"] = varyAcceptEncoding
		return
	}
	h.Add("Vary", "Accept-Encoding")
}

// mustWrap is gzhttp's wrapper producing coding c alone, with br put in
// the place of gzip (gzhttp makes gzip and zstd only). Its options are
// constants: an error is a bug of this file, which every test would show.
func mustWrap(c Coding, minSize int) func(http.Handler) http.HandlerFunc {
	var wrap func(http.Handler) http.HandlerFunc
	var err error
	// gzhttp suffixes gzip's tags with SuffixETag's "-gzip", zstd's with "-zstd".
	switch c {
	case Zstd:
		wrap, err = gzhttp.NewWrapper(gzhttp.MinSize(minSize), gzhttp.ContentTypeFilter(compressible),
			gzhttp.SuffixETag("-gzip"), gzhttp.EnableGzip(false))
	case Brotli:
		wrap, err = gzhttp.NewWrapper(gzhttp.MinSize(minSize), gzhttp.ContentTypeFilter(compressible),
			gzhttp.SuffixETag("-gzip"), gzhttp.EnableZstd(false),
			gzhttp.Implementation(writer.GzipWriterFactory{
				Levels: func() (int, int) { return dynamicBrotliLevel, dynamicBrotliLevel },
				New:    newBrotliWriter,
			}),
			gzhttp.CompressionLevel(dynamicBrotliLevel))
	default:
		wrap, err = gzhttp.NewWrapper(gzhttp.MinSize(minSize), gzhttp.ContentTypeFilter(compressible),
			gzhttp.SuffixETag("-gzip"), gzhttp.EnableZstd(false))
	}
	if err != nil {
		panic("compression: " + c.String() + ": " + err.Error())
	}
	return wrap
}

// compressible reports whether answers of contentType are text worth
// compressing. Images, fonts and archives are compressed already.
func compressible(contentType string) bool {
	mediaType, _, _ := strings.Cut(contentType, ";")
	mediaType = strings.ToLower(strings.TrimSpace(mediaType))
	switch mediaType {
	case "application/json", "application/x-ndjson", "application/javascript", "text/javascript",
		"text/css", "text/html", "text/plain":
		return true
	}
	return strings.HasPrefix(mediaType, "application/") && strings.HasSuffix(mediaType, "+json")
}

// dynamicBrotliLevel is br's level for answers compressed per request: the
// levels above it cost several times the CPU for a few percent.
const dynamicBrotliLevel = 4

// brotliWriters pools br encoders: each holds hash tables and buffers of
// hundreds of kilobytes.
var brotliWriters = sync.Pool{New: func() any { return brotli.NewWriterLevel(nil, dynamicBrotliLevel) }}

// pooledBrotli is one answer's br encoder; Close returns it to the pool.
type pooledBrotli struct{ *brotli.Writer }

func newBrotliWriter(w io.Writer, _ int) writer.GzipWriter {
	enc := brotliWriters.Get().(*brotli.Writer)
	enc.Reset(w)
	return &pooledBrotli{enc}
}

func (p *pooledBrotli) Close() error {
	if p.Writer == nil {
		return nil
	}
	err := p.Writer.Close()
	brotliWriters.Put(p.Writer)
	p.Writer = nil
	return err
}

// labelWriter sits between gzhttp and the client's ResponseWriter. When the
// answer goes out it names br where gzhttp named gzip, and on a 304 it
// sends the tag the client holds (with its coding suffix) in place of
// next's own.
type labelWriter struct {
	http.ResponseWriter
	coding      Coding
	clientTags  []string // If-None-Match as the client sent it
	wroteHeader bool
}

func (lw *labelWriter) WriteHeader(status int) {
	if !lw.wroteHeader && status >= 200 {
		lw.wroteHeader = true
		lw.label(status)
	}
	lw.ResponseWriter.WriteHeader(status)
}

func (lw *labelWriter) Write(b []byte) (int, error) {
	if !lw.wroteHeader {
		lw.WriteHeader(http.StatusOK)
	}
	return lw.ResponseWriter.Write(b)
}

func (lw *labelWriter) label(status int) {
	h := lw.ResponseWriter.Header()
	if lw.coding == Brotli && h.Get("Content-Encoding") == "gzip" {
		h.Set("Content-Encoding", Brotli.String())
		if etag := h.Get("ETag"); etag != "" {
			plain, _ := plainETag(etag)
			h.Set("ETag", ETag(plain, Brotli))
		}
	}
	if status == http.StatusNotModified {
		if tag := heldTag(lw.clientTags, h.Get("ETag")); tag != "" {
			h.Set("ETag", tag)
		}
	}
}

// Flush sends what was written so far (gzhttp flushes its encoder first).
func (lw *labelWriter) Flush() {
	if !lw.wroteHeader {
		lw.WriteHeader(http.StatusOK)
	}
	http.NewResponseController(lw.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (lw *labelWriter) Unwrap() http.ResponseWriter { return lw.ResponseWriter }

// heldTag is the tag among the client's If-None-Match values that names
// etag's representation in a coding, or "".
func heldTag(values []string, etag string) string {
	want := strings.TrimPrefix(etag, "W/")
	for _, v := range values {
		for tag := range strings.SplitSeq(v, ",") {
			tag = strings.TrimSpace(tag)
			if plain, ok := plainETag(tag); ok && strings.TrimPrefix(plain, "W/") == want {
				return tag
			}
		}
	}
	return ""
}

func hasCodingSuffix(values []string) bool {
	for _, v := range values {
		for tag := range strings.SplitSeq(v, ",") {
			if _, ok := plainETag(strings.TrimSpace(tag)); ok {
				return true
			}
		}
	}
	return false
}

// plainETags is a conditional header's values with every tag's coding
// suffix removed.
func plainETags(values []string) []string {
	out := make([]string, len(values))
	for i, v := range values {
		tags := strings.Split(v, ",")
		for j, tag := range tags {
			tags[j], _ = plainETag(strings.TrimSpace(tag))
		}
		out[i] = strings.Join(tags, ", ")
	}
	return out
}

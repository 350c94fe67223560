package rest

import (
	"math"
	"net/http"
	"strconv"
	"strings"
)

// The image bytes handler judges the Range header itself (RFC 9110 §14.1.2,
// §14.2) and hands http.ServeContent only a range set that ServeContent
// answers as the RFC asks; ServeContent keeps the preconditions, If-Range,
// 206 (one part or multipart/byteranges) and 416. On its own, ServeContent
// sends bytes=-0 as a 206 of no bytes (Content-Range: bytes 741-740/741), and
// refuses an unknown unit, an upper-case unit and invalid syntax with a 416
// without Content-Range, where the RFC has the header ignored.

// rangeVerdict is what RFC 9110 makes of a Range header for a representation
// of a known size.
type rangeVerdict int

const (
	// rangeIgnored: no header, an unknown range unit, invalid syntax (a
	// server may ignore those, and does), or a representation of no bytes.
	// The whole representation is served (200).
	rangeIgnored rangeVerdict = iota
	// rangeSatisfiable: at least one range overlaps the representation.
	rangeSatisfiable
	// rangeUnsatisfiable: valid byte ranges of which none overlaps: 416.
	rangeUnsatisfiable
)

// readRange judges the Range field lines of a request for a representation
// of size bytes. For rangeSatisfiable it also returns the satisfiable ranges
// alone, as a Range value that ServeContent reads exactly as the RFC does
// (positions past the end clamped, so no number is out of int64's reach).
// Range is a singleton field: more than one line is invalid.
func readRange(values []string, size int64) (rangeVerdict, string) {
	if len(values) != 1 {
		return rangeIgnored, ""
	}
	unit, set, ok := strings.Cut(values[0], "=")
	// Range units are case-insensitive; "bytes" is the only one served.
	if !ok || !strings.EqualFold(unit, "bytes") {
		return rangeIgnored, ""
	}
	var satisfiable []string
	specs := 0
	for spec := range strings.SplitSeq(set, ",") {
		// A list may hold empty elements and whitespace around its commas.
		spec = strings.Trim(spec, " \t")
		if spec == "" {
			continue
		}
		specs++
		first, last, ok := strings.Cut(spec, "-")
		if !ok {
			return rangeIgnored, ""
		}
		if first == "" { // a suffix-range: the last N bytes
			n, ok := rangePosition(last)
			if !ok {
				return rangeIgnored, ""
			}
			// A suffix-range is satisfiable only with a non-zero length.
			if n > 0 {
				satisfiable = append(satisfiable, "-"+strconv.FormatInt(min(n, size), 10))
			}
			continue
		}
		start, ok := rangePosition(first)
		if !ok {
			return rangeIgnored, ""
		}
		end := int64(math.MaxInt64) // an int-range without last-pos runs to the end
		if last != "" {
			if end, ok = rangePosition(last); !ok || digitsLess(last, first) {
				return rangeIgnored, "" // last-pos before first-pos is invalid
			}
		}
		// An int-range is satisfiable when it starts inside the representation.
		if start < size {
			satisfiable = append(satisfiable, strconv.FormatInt(start, 10)+"-"+strconv.FormatInt(min(end, size-1), 10))
		}
	}
	switch {
	case specs == 0:
		return rangeIgnored, "" // a range set holds at least one range
	case size == 0:
		// Nothing can be sent in a range of no bytes; clients that add a
		// Range to every request get the (empty) representation, as
		// ServeContent answers them.
		return rangeIgnored, ""
	case len(satisfiable) == 0:
		return rangeUnsatisfiable, ""
	}
	return rangeSatisfiable, "bytes=" + strings.Join(satisfiable, ",")
}

// rangePosition parses a first-pos, last-pos or suffix-length: one or more
// ASCII digits. A value beyond int64 is beyond any representation, and
// saturates.
func rangePosition(digits string) (int64, bool) {
	if digits == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			n = math.MaxInt64
			continue
		}
		n = n*10 + d
	}
	return n, true
}

// digitsLess reports whether the decimal a is less than the decimal b, both
// all digits, at any length.
func digitsLess(a, b string) bool {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// withRange prepares a request for ServeContent of a representation of size
// bytes: its Range replaced by what readRange makes of it. An unsatisfiable
// set becomes a range ServeContent answers 416 with Content-Range: bytes
// */size (after the preconditions and If-Range, which may still answer 304,
// 412 or the whole representation). r itself is left as it is.
func withRange(r *http.Request, size int64) *http.Request {
	values := r.Header.Values("Range")
	if len(values) == 0 {
		return r
	}
	verdict, ranges := readRange(values, size)
	r = r.WithContext(r.Context())
	r.Header = r.Header.Clone()
	switch verdict {
	case rangeIgnored:
		r.Header.Del("Range")
	case rangeSatisfiable:
		r.Header.Set("Range", ranges)
	case rangeUnsatisfiable:
		// A first-pos at the size is the one form ServeContent answers 416.
		r.Header.Set("Range", "bytes="+strconv.FormatInt(size, 10)+"-")
	}
	return r
}

// contentProblemWriter sends ServeContent's refusals as problem documents
// (ServeContent's own 416 body is plain text and its 412 has none): 412
// when If-Match names other bytes, 416 (keeping its Content-Range) when no
// range overlaps the size bytes. Any other answer passes through unchanged.
type contentProblemWriter struct {
	http.ResponseWriter
	r        *http.Request
	size     int64
	answered bool // a problem was sent; ServeContent's body is dropped
}

func (w *contentProblemWriter) WriteHeader(code int) {
	if w.answered {
		return
	}
	switch code {
	case http.StatusPreconditionFailed:
		w.answered = true
		fail(w.ResponseWriter, w.r, kindPrecondition, "If-Match names other bytes than this image's (its ETag is their SHA-256)")
	case http.StatusRequestedRangeNotSatisfiable:
		w.answered = true
		fail(w.ResponseWriter, w.r, kindRangeNotSatisfiable,
			"no byte range asked for overlaps the image's "+strconv.FormatInt(w.size, 10)+" bytes (a range that starts past the end, or the last 0 bytes)")
	default:
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *contentProblemWriter) Write(p []byte) (int, error) {
	if w.answered {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *contentProblemWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Package compression chooses the content coding of an HTTP answer (zstd, br
// or gzip, by the request's Accept-Encoding) and compresses answers with the
// pooled encoders of github.com/klauspost/compress and
// github.com/andybalholm/brotli. Middleware compresses answers made per
// request; Compress makes the codings of an answer made once (the
// playground's files).
package compression

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Coding is a content coding this package can produce.
type Coding uint8

const (
	Identity Coding = iota // no coding: the bytes as they are
	Zstd                   // zstd (RFC 8878)
	Brotli                 // br (RFC 7932)
	Gzip                   // gzip (RFC 1952)
)

// Codings are the codings other than Identity, in the order preferred when
// a client accepts several equally: zstd compresses about as well as br at
// a fraction of its CPU, and both beat gzip.
var Codings = []Coding{Zstd, Brotli, Gzip}

// String is the coding's name in Accept-Encoding and Content-Encoding.
func (c Coding) String() string {
	switch c {
	case Zstd:
		return "zstd"
	case Brotli:
		return "br"
	case Gzip:
		return "gzip"
	}
	return "identity"
}

// MinSize is the size under which an answer is sent as it is, unless the
// client refuses identity: below about a kilobyte a coding's framing and a
// round of compression cost more than the bytes they save.
const MinSize = 1024

// Negotiate chooses the coding of an answer from the request's
// Accept-Encoding header lines (RFC 9110 section 12.5.3): the accepted
// coding with the highest q-value, ties broken by the order of Codings;
// "*" stands for every coding not named; x-gzip is gzip. Identity is
// chosen when the header is absent, when no coding is accepted, or when
// identity (or "*") is named with a higher q-value than every accepted
// coding. identityRefused
// reports "identity;q=0" (or "*;q=0" without identity named): the coding
// is then used whatever the answer's size.
func Negotiate(acceptEncoding []string) (coding Coding, identityRefused bool) {
	if len(acceptEncoding) == 0 {
		return Identity, false
	}
	// q-values by Coding index; -1 is "not named".
	q := [4]float64{-1, -1, -1, -1}
	star := -1.0
	for _, line := range acceptEncoding {
		for line != "" {
			var element string
			element, line, _ = strings.Cut(line, ",")
			name, params, _ := strings.Cut(element, ";")
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			value, ok := qValue(params)
			if !ok {
				continue // a malformed element is ignored, as if absent
			}
			switch {
			case strings.EqualFold(name, "zstd"):
				q[Zstd] = value
			case strings.EqualFold(name, "br"):
				q[Brotli] = value
			case strings.EqualFold(name, "gzip"), strings.EqualFold(name, "x-gzip"):
				q[Gzip] = max(q[Gzip], value)
			case strings.EqualFold(name, "identity"):
				q[Identity] = value
			case name == "*":
				star = value
			}
		}
	}
	for i := range q {
		if q[i] < 0 {
			q[i] = star // -1 when "*" is absent too
		}
	}
	// Identity is acceptable unless excluded, but outweighs a coding only
	// when the client names it (or "*") with a higher q-value.
	identity := q[Identity]
	identityRefused = identity == 0
	best, bestQ := Identity, 0.0
	for _, c := range Codings {
		if q[c] > bestQ {
			best, bestQ = c, q[c]
		}
	}
	if bestQ < identity {
		return Identity, false
	}
	return best, identityRefused
}

// qValue reads the weight of one Accept-Encoding element from its
// parameters: 1 when absent; ok is false when it is not a number in [0, 1].
func qValue(params string) (float64, bool) {
	for params != "" {
		var param string
		param, params, _ = strings.Cut(params, ";")
		key, value, _ := strings.Cut(param, "=")
		if !strings.EqualFold(strings.TrimSpace(key), "q") {
			continue
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil || q < 0 || q > 1 {
			return 0, false
		}
		return q, true
	}
	return 1, true
}

// ETag is the entity tag of the representation of etag (a quoted tag, weak
// or strong) in coding c: the coding's name joined to the opaque tag with a
// dash, inside the quotes ("ab12" becomes "ab12-zstd"). The encoded bytes
// differ from the plain ones, so a cache must never take one for the other.
func ETag(etag string, c Coding) string {
	if c == Identity || etag == "" {
		return etag
	}
	end := strings.LastIndexByte(etag, '"')
	if end <= 0 {
		return etag + "-" + c.String()
	}
	return etag[:end] + "-" + c.String() + etag[end:]
}

// plainETag undoes ETag: the tag without its coding suffix, and whether it
// had one.
func plainETag(tag string) (string, bool) {
	end := strings.LastIndexByte(tag, '"')
	if end <= 0 {
		return tag, false
	}
	for _, c := range Codings {
		suffix := "-" + c.String()
		if strings.HasSuffix(tag[:end], suffix) {
			return tag[:end-len(suffix)] + tag[end:], true
		}
	}
	return tag, false
}

// Compress returns body in coding c at a dense level, for answers made
// once and sent many times. It is slow on megabytes (a fraction of a
// second), so callers compress once and keep the result.
func Compress(c Coding, body []byte) ([]byte, error) {
	var buf bytes.Buffer
	var err error
	switch c {
	case Zstd:
		var enc *zstd.Encoder
		enc, err = zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
		if err == nil {
			_, err = enc.Write(body)
			err = joinClose(err, enc.Close)
		}
	case Brotli:
		enc := brotli.NewWriterLevel(&buf, staticBrotliLevel)
		_, err = enc.Write(body)
		err = joinClose(err, enc.Close)
	case Gzip:
		var enc *gzip.Writer
		enc, err = gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if err == nil {
			_, err = enc.Write(body)
			err = joinClose(err, enc.Close)
		}
	default:
		return body, nil
	}
	if err != nil {
		return nil, fmt.Errorf("compression: %s: %w", c, err)
	}
	return buf.Bytes(), nil
}

// staticBrotliLevel is br's level for Compress: the levels above it cost
// many times the CPU (seconds for the playground's script) for a few
// percent.
const staticBrotliLevel = 9

func joinClose(err error, closeFn func() error) error {
	if closeErr := closeFn(); err == nil {
		err = closeErr
	}
	return err
}

// Decompress returns body decoded from coding c: what a client does with a
// compressed answer.
func Decompress(c Coding, body []byte) ([]byte, error) {
	var r io.Reader
	switch c {
	case Zstd:
		dec, err := zstd.NewReader(bytes.NewReader(body), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("compression: zstd: %w", err)
		}
		defer dec.Close()
		r = dec
	case Brotli:
		r = brotli.NewReader(bytes.NewReader(body))
	case Gzip:
		dec, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("compression: gzip: %w", err)
		}
		r = dec
	default:
		return body, nil
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("compression: %s: %w", c, err)
	}
	return out, nil
}

package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Media types of request bodies.
const (
	mediaJSON       = "application/json"
	mediaMergePatch = "application/merge-patch+json"
)

// maxJSONDepth bounds the nesting of request bodies: a performer nests three
// levels deep, so anything far deeper is an attack on the decoder.
const maxJSONDepth = 32

// checkContentType answers 415 unless the request's media type is one of
// accepted (with at most a utf-8 charset parameter).
func checkContentType(w http.ResponseWriter, r *http.Request, accepted ...string) bool {
	header := r.Header.Get("Content-Type")
	media, params, err := mime.ParseMediaType(header)
	ok := err == nil
	if ok {
		ok = false
		for _, a := range accepted {
			ok = ok || media == a
		}
		for k, v := range params {
			if k != "charset" || !strings.EqualFold(v, "utf-8") {
				ok = false
			}
		}
	}
	if !ok {
		if r.Method == http.MethodPatch {
			w.Header().Set("Accept-Patch", strings.Join(accepted, ", "))
		}
		got := "no Content-Type"
		if header != "" {
			got = "Content-Type " + strconv.Quote(truncate(header, 100))
		}
		fail(w, r, kindUnsupportedMedia, fmt.Sprintf("%s; send %s", got, strings.Join(accepted, " or ")))
		return false
	}
	return true
}

// readBody reads the whole request body under the size cap: 413 above it,
// 400 when it is not one well-formed JSON value in UTF-8 (or is empty and
// allowEmpty is false). 422 when an object repeats a member name (RFC 8259
// leaves the meaning of that open, so it is refused rather than guessed).
func (a *api) readBody(w http.ResponseWriter, r *http.Request, allowEmpty bool) ([]byte, bool) {
	if r.ContentLength > a.maxBody {
		fail(w, r, kindBodyTooLarge, fmt.Sprintf("the body is %d bytes; at most %d are accepted", r.ContentLength, a.maxBody))
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.maxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		fail(w, r, kindBodyTooLarge, fmt.Sprintf("the body is larger than %d bytes", a.maxBody))
		return nil, false
	case err != nil:
		fail(w, r, kindMalformedBody, "the body could not be read")
		return nil, false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if allowEmpty {
			return nil, true
		}
		fail(w, r, kindMalformedBody, "the body is empty; send a JSON object")
		return nil, false
	}
	if !utf8.Valid(body) {
		fail(w, r, kindMalformedBody, "the body is not valid UTF-8")
		return nil, false
	}
	if err := scanJSON(body); err != nil {
		var dup *duplicateMemberError
		if errors.As(err, &dup) {
			failValidation(w, r, []problemError{pointerError(dup.pointer, "is given more than once")})
			return nil, false
		}
		fail(w, r, kindMalformedBody, "the body is not valid JSON: "+err.Error())
		return nil, false
	}
	return body, true
}

type duplicateMemberError struct{ pointer string }

func (e *duplicateMemberError) Error() string { return e.pointer + " is given more than once" }

// scanJSON checks that body is exactly one JSON value, nested at most
// maxJSONDepth deep, whose objects never repeat a member name.
func scanJSON(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		object  bool
		names   map[string]bool
		pointer string
		index   int
		key     string // the member whose value comes next, in an object
		wantKey bool
	}
	var stack []*frame
	// childPointer is the pointer of the value about to start.
	childPointer := func() string {
		if len(stack) == 0 {
			return ""
		}
		f := stack[len(stack)-1]
		if f.object {
			return f.pointer + "/" + escapePointer(f.key)
		}
		return f.pointer + "/" + strconv.Itoa(f.index)
	}
	// valueDone advances the parent after a complete value.
	valueDone := func() {
		if len(stack) == 0 {
			return
		}
		f := stack[len(stack)-1]
		if f.object {
			f.wantKey = true
		} else {
			f.index++
		}
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return syntaxProblem(err)
		}
		if len(stack) > 0 {
			if f := stack[len(stack)-1]; f.object && f.wantKey {
				if d, ok := tok.(json.Delim); ok && d == '}' {
					stack = stack[:len(stack)-1]
					valueDone()
					if len(stack) == 0 && dec.More() {
						return errors.New("there is data after the JSON value")
					}
					continue
				}
				name := tok.(string) // the decoder guarantees a string here
				if f.names[name] {
					return &duplicateMemberError{pointer: f.pointer + "/" + escapePointer(name)}
				}
				f.names[name] = true
				f.key, f.wantKey = name, false
				continue
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) >= maxJSONDepth {
				return fmt.Errorf("nested more than %d levels deep", maxJSONDepth)
			}
			object := tok == json.Delim('{')
			stack = append(stack, &frame{object: object, names: map[string]bool{}, pointer: childPointer(), wantKey: object})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
		default:
			valueDone()
		}
		if len(stack) == 0 && dec.More() {
			return errors.New("there is data after the JSON value")
		}
	}
	if len(stack) > 0 {
		return errors.New("unexpected end of the body")
	}
	return nil
}

// syntaxProblem words a decoder error without Go type names.
func syntaxProblem(err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("%s (at byte %d)", strings.TrimPrefix(syn.Error(), "json: "), syn.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("unexpected end of the body")
	}
	return errors.New(strings.TrimPrefix(err.Error(), "json: "))
}

// escapePointer escapes a member name for a JSON pointer (RFC 6901).
func escapePointer(name string) string {
	if !strings.ContainsAny(name, "~/") {
		return name
	}
	return strings.ReplaceAll(strings.ReplaceAll(name, "~", "~0"), "/", "~1")
}

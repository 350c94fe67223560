package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"marquee/db"
)

// Limits of ParseFeed. Each keeps one hostile or broken document from costing
// more than a fixed amount of memory, whatever its size.
const (
	// MaxItemBytes is the largest feed item ParseFeed decodes; a larger one
	// is rejected, with the id its first MaxItemBytes hold, and skipped
	// without being held (only its brackets and strings are checked). Real
	// items are about 1 KiB, so 1 MiB leaves a thousandfold margin.
	MaxItemBytes = 1 << 20
	// maxHeaderValueBytes caps a top-level value other than items (site,
	// generationDate, itemsCount, unknown keys): a longer one is ignored.
	maxHeaderValueBytes = 64 << 10
	// maxNesting is how deep arrays and objects may nest, as in encoding/json.
	maxNesting = 10000
	// readBufferSize is how much ParseFeed reads from the source at a time.
	readBufferSize = 64 << 10
)

// ErrBrokenFeed is wrapped by every *FeedSyntaxError: the document is not a
// feed ParseFeed can read to its end, so a run must not trust its absences.
var ErrBrokenFeed = errors.New("broken feed document")

// FeedSyntaxError reports a structurally broken feed document: truncated
// JSON, data after the top-level value, a top level that is neither an object
// nor an array, an items value that is not an array, or bytes that are not
// JSON at all. It wraps ErrBrokenFeed.
type FeedSyntaxError struct {
	// Offset is the byte offset in the input where the problem was found.
	Offset int64
	Reason string
}

func (e *FeedSyntaxError) Error() string {
	return fmt.Sprintf("ingest: broken feed at byte %d: %s", e.Offset, e.Reason)
}

// Unwrap makes errors.Is(err, ErrBrokenFeed) true.
func (e *FeedSyntaxError) Unwrap() error { return ErrBrokenFeed }

// FeedHeader is what ParseFeed learnt about the document besides its items.
type FeedHeader struct {
	// Site is the top-level "site" value; empty when absent.
	Site string
	// GenerationDate is the top-level "generationDate" (RFC 3339, in UTC);
	// nil when absent or unreadable.
	GenerationDate *time.Time
	// ItemsCount is the top-level "itemsCount" as the feed states it (it
	// arrives after the items, and nothing checks it against them); nil
	// when absent or unreadable.
	ItemsCount *int64
	// BareArray is true when the document is a bare array of items rather
	// than the wrapper object.
	BareArray bool
	// Items is how many items were seen: delivered plus rejected. An item
	// whose bytes are not JSON breaks the document and is not counted.
	Items int
	// Rejected is how many of them were rejected.
	Rejected int
	// Warnings is how many values of delivered items were replaced with
	// unknown (see Warning).
	Warnings int
}

// Reject is one feed item that could not become a profile.
type Reject struct {
	// Index is the item's 0-based position in the items array.
	Index int
	// FeedID is the item's id when a valid one could be read.
	FeedID *int64
	// Reason says what is wrong, naming the feed path of the offending value
	// (e.g. `attributes.age: want an integer, got "abc"`).
	Reason string
}

// Warning is one value of a delivered item that its field's rule
// (db.FieldRule) refused: the item was kept with that value unknown.
type Warning struct {
	// Index is the item's 0-based position in the items array.
	Index  int
	FeedID int64
	// Field is the value's path in the profile, as the APIs name it
	// ("age", "thumbnails/0/width").
	Field string
	// Value is the refused value (as normalised: trimmed, numbers as
	// numbers), as JSON cut to a readable length.
	Value  string
	Reason string
}

// ParseFeed reads a feed document from r item by item, in memory bounded by
// MaxItemBytes whatever the document's size (plus a few bytes per distinct
// id, to find duplicates), and calls onProfile for each valid item and
// onReject for each invalid one, in feed order, on the calling goroutine.
// The profile passed to onProfile is the callback's to keep.
//
// It accepts the wrapper object (keys in any order, unknown keys ignored) and
// a bare array of items. Inside strings it tolerates the live feed's invalid
// \xNN escapes (each is the raw byte; the string is then decoded as UTF-8)
// and invalid UTF-8 (each bad byte becomes U+FFFD). An item that is JSON but
// not a valid performer (wrong types, no valid id, values the store would
// refuse, an id seen earlier in the document, more than MaxItemBytes) is
// rejected and parsing goes on.
//
// A structurally broken document ends the parse with a *FeedSyntaxError
// naming the byte offset; a read error is returned wrapped; an error from a
// callback stops the parse and is returned wrapped. Items delivered before
// an error stay delivered: the caller decides what a broken run means. The
// header is returned in every case, with the counts reached. ParseFeed has
// no context: to stop early, return an error (such as ctx.Err()) from a
// callback, or close the reader. A nil callback ignores what it would get.
// A value that its field's rule refuses is delivered as unknown and only
// counted in the header; ParseFeedWithWarnings also hands each one over.
func ParseFeed(r io.Reader, onProfile func(index int, p db.Profile) error, onReject func(Reject) error) (FeedHeader, error) {
	return ParseFeedWithWarnings(r, onProfile, onReject, nil)
}

// ParseFeedWithWarnings is ParseFeed that also calls onWarning for each
// value replaced with unknown, before onProfile gets the item.
func ParseFeedWithWarnings(r io.Reader, onProfile func(index int, p db.Profile) error, onReject func(Reject) error, onWarning func(Warning) error) (FeedHeader, error) {
	if onWarning == nil {
		onWarning = func(Warning) error { return nil }
	}
	if onProfile == nil {
		onProfile = func(int, db.Profile) error { return nil }
	}
	if onReject == nil {
		onReject = func(Reject) error { return nil }
	}
	p := &feedParser{
		scan:         feedScanner{r: r, buf: make([]byte, readBufferSize)},
		maxItemBytes: MaxItemBytes,
		onProfile:    onProfile,
		onReject:     onReject,
		onWarning:    onWarning,
		firstIndex:   make(map[int64]int),
	}
	err := p.parseDocument()
	return p.header, err
}

// feedParser walks the document's top level and hands each item to
// normalizeItem.
type feedParser struct {
	scan         feedScanner
	maxItemBytes int
	onProfile    func(int, db.Profile) error
	onReject     func(Reject) error
	onWarning    func(Warning) error

	header     FeedHeader
	firstIndex map[int64]int // feed id -> index of the item that first had it
	item       []byte        // the current item's bytes, reused
	repaired   []byte        // the current item after repairStrings, reused
}

func (p *feedParser) parseDocument() error {
	s := &p.scan
	if err := s.skipBOM(); err != nil {
		return err
	}
	if !s.skipSpace() {
		if err := s.readError(); err != nil {
			return err
		}
		return s.errorf("the document is empty")
	}
	switch c := s.peek(); c {
	case '{':
		if err := p.parseWrapper(); err != nil {
			return err
		}
	case '[':
		p.header.BareArray = true
		if err := p.parseItems(); err != nil {
			return err
		}
	default:
		return s.errorf("the document is %s, want an object or an array", kindOf(c))
	}
	if s.skipSpace() {
		return s.errorf("found %s after the end of the document", kindOf(s.peek()))
	}
	return s.readError()
}

// parseWrapper reads {"site": ..., "generationDate": ..., "items": [...],
// "itemsCount": ...} in any key order.
func (p *feedParser) parseWrapper() error {
	s := &p.scan
	s.pos++ // {
	if !s.skipSpace() {
		return s.endError("in the top-level object")
	}
	sawItems := false
	if s.peek() == '}' {
		s.pos++
	} else {
		for {
			if !s.skipSpace() {
				return s.endError("in the top-level object")
			}
			if c := s.peek(); c != '"' {
				return s.errorf("found %s, want a key of the top-level object", kindOf(c))
			}
			keyScan, err := s.scanValue(nil, maxHeaderValueBytes)
			if err != nil {
				return err
			}
			key, _ := decodeString(repairIfNeeded(keyScan))
			if !s.skipSpace() {
				return s.endError("after a top-level key")
			}
			if c := s.peek(); c != ':' {
				return s.errorf("found %s after the key %q, want ':'", kindOf(c), key)
			}
			s.pos++
			if !s.skipSpace() {
				return s.endError("after a top-level key")
			}
			if key == "items" {
				if sawItems {
					return s.errorf("the top-level key \"items\" appears twice")
				}
				sawItems = true
				if c := s.peek(); c != '[' {
					return s.errorf("items is %s, want an array", kindOf(c))
				}
				if err := p.parseItems(); err != nil {
					return err
				}
			} else {
				start := s.offset()
				value, err := s.scanValue(nil, maxHeaderValueBytes)
				if err != nil {
					return err
				}
				if err := p.setHeaderValue(key, start, value); err != nil {
					return err
				}
			}
			if !s.skipSpace() {
				return s.endError("in the top-level object")
			}
			c := s.peek()
			s.pos++
			if c == '}' {
				break
			}
			if c != ',' {
				s.pos--
				return s.errorf("found %s after the value of %q, want ',' or '}'", kindOf(c), key)
			}
		}
	}
	if !sawItems {
		return s.errorf("the top-level object has no items array")
	}
	return nil
}

// setHeaderValue records a known top-level value; unknown keys and values of
// the wrong type are ignored (the items are what matters), but a value that
// is not JSON breaks the document. A value over maxHeaderValueBytes is
// skipped unread.
func (p *feedParser) setHeaderValue(key string, start int64, value scannedValue) error {
	if value.truncated {
		return nil
	}
	raw := repairIfNeeded(value)
	var syntaxErr *json.SyntaxError
	if errors.As(checkJSON(raw), &syntaxErr) {
		offset := start
		if !value.needsRepair {
			offset += max(0, syntaxErr.Offset-1)
		}
		return &FeedSyntaxError{Offset: offset, Reason: fmt.Sprintf("the value of %q is not valid JSON: %v", key, syntaxErr)}
	}
	switch key {
	case "site":
		if site, ok := decodeString(raw); ok {
			p.header.Site = site
		}
	case "generationDate":
		if text, ok := decodeString(raw); ok {
			if t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(text)); err == nil {
				t = t.UTC()
				p.header.GenerationDate = &t
			}
		}
	case "itemsCount":
		if n, ok := parseInt(raw); ok {
			p.header.ItemsCount = &n
		}
	}
	return nil
}

// parseItems reads the items array, one item at a time.
func (p *feedParser) parseItems() error {
	s := &p.scan
	s.pos++ // [
	if !s.skipSpace() {
		return s.endError("in the items array")
	}
	if s.peek() == ']' {
		s.pos++
		return nil
	}
	for {
		if !s.skipSpace() {
			return s.endError("in the items array")
		}
		start := s.offset()
		value, err := s.scanValue(p.item[:0], p.maxItemBytes)
		p.item = value.data
		if err != nil {
			return err
		}
		index := p.header.Items
		if err := p.handleItem(index, start, value); err != nil {
			return err
		}
		if !s.skipSpace() {
			return s.endError("in the items array")
		}
		c := s.peek()
		s.pos++
		if c == ']' {
			return nil
		}
		if c != ',' {
			s.pos--
			return s.errorf("found %s after item %d, want ',' or ']'", kindOf(c), index)
		}
	}
}

// handleItem turns one scanned item into a profile or a reject.
func (p *feedParser) handleItem(index int, start int64, value scannedValue) error {
	var profile db.Profile
	var replaced []db.InvalidValue
	var invalid error
	if value.truncated {
		p.repaired = repairStrings(p.repaired[:0], value.data)
		if id := findItemID(p.repaired); id != nil {
			profile.FeedID = *id
		}
		invalid = fmt.Errorf("item: %d bytes, more than the limit of %d", value.size, p.maxItemBytes)
	} else {
		data := value.data
		if value.needsRepair {
			p.repaired = repairStrings(p.repaired[:0], data)
			data = p.repaired
		}
		profile, replaced, invalid = normalizeItem(data)
		var syntaxErr *json.SyntaxError
		if errors.As(invalid, &syntaxErr) {
			offset := start
			if !value.needsRepair { // repaired bytes no longer line up with the input
				offset += max(0, syntaxErr.Offset-1) // Offset counts the offending byte
			}
			return &FeedSyntaxError{Offset: offset, Reason: fmt.Sprintf("item %d is not valid JSON: %v", index, syntaxErr)}
		}
	}

	// The first item with an id claims it, whether it is valid or not.
	var feedID *int64
	if profile.FeedID > 0 {
		id := profile.FeedID
		feedID = &id
		if first, seen := p.firstIndex[id]; seen {
			return p.reject(index, feedID, fmt.Sprintf("duplicate id %d, first at item %d", id, first))
		}
		p.firstIndex[id] = index
	}
	if invalid != nil {
		return p.reject(index, feedID, invalid.Error())
	}
	p.header.Items++
	for _, v := range replaced {
		p.header.Warnings++
		w := Warning{Index: index, FeedID: profile.FeedID, Field: v.Field, Value: showValue(v.Value), Reason: v.Reason}
		if err := p.onWarning(w); err != nil {
			return fmt.Errorf("ingest: warning of item %d: %w", index, err)
		}
	}
	if err := p.onProfile(index, profile); err != nil {
		return fmt.Errorf("ingest: item %d (id %d): %w", index, profile.FeedID, err)
	}
	return nil
}

// showValue shows a refused value as JSON, cut to a readable length.
func showValue(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return describe(buf.Bytes())
}

func (p *feedParser) reject(index int, feedID *int64, reason string) error {
	p.header.Items++
	p.header.Rejected++
	if err := p.onReject(Reject{Index: index, FeedID: feedID, Reason: reason}); err != nil {
		return fmt.Errorf("ingest: reject of item %d: %w", index, err)
	}
	return nil
}

// findItemID reads the top-level "id" of an item from its first bytes (an
// item too large to decode): nil when they hold no valid id. prefix has been
// through repairStrings; it is walked in place, allocating nothing.
func findItemID(prefix []byte) *int64 {
	i := skipJSONSpace(prefix, 0)
	if i >= len(prefix) || prefix[i] != '{' {
		return nil
	}
	i++
	for {
		i = skipJSONSpace(prefix, i)
		keyEnd, ok := skipJSONValue(prefix, i)
		if !ok || prefix[i] != '"' {
			return nil
		}
		key := prefix[i:keyEnd]
		i = skipJSONSpace(prefix, keyEnd)
		if i >= len(prefix) || prefix[i] != ':' {
			return nil
		}
		i = skipJSONSpace(prefix, i+1)
		valueEnd, ok := skipJSONValue(prefix, i)
		if !ok {
			return nil
		}
		if name, _ := decodeString(key); strings.EqualFold(name, "id") {
			if id, ok := parseInt(prefix[i:valueEnd]); ok && id > 0 {
				return &id
			}
			return nil
		}
		i = skipJSONSpace(prefix, valueEnd)
		if i >= len(prefix) || prefix[i] != ',' {
			return nil
		}
		i++
	}
}

func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipJSONValue returns the end of the value starting at b[i]; ok is false
// when b ends first.
func skipJSONValue(b []byte, i int) (end int, ok bool) {
	depth, inString := 0, false
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case inString:
			if c == '\\' {
				i++
			} else if c == '"' {
				inString = false
				if depth == 0 {
					return i + 1, true
				}
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth--; depth < 0 {
				return i, true // the end of an enclosing value: a scalar ended
			}
			if depth == 0 {
				return i + 1, true
			}
		case depth == 0 && !scalarByte[c]:
			return i, true
		}
	}
	return i, false
}

// repairIfNeeded returns the scanned bytes with their strings repaired when
// the scanner saw something encoding/json would refuse.
func repairIfNeeded(v scannedValue) []byte {
	if !v.needsRepair {
		return v.data
	}
	return repairStrings(nil, v.data)
}

// repairStrings appends src to dst with the escapes encoding/json refuses
// inside strings rewritten, so that a string's meaning is what the live feed
// meant rather than a syntax error:
//
//   - \xNN (two hex digits) is the raw byte 0xNN; the string is decoded as
//     UTF-8 afterwards, so \xF0\x9F\x98\x8D is one emoji and bytes that do
//     not form UTF-8 become U+FFFD. Bytes that JSON must escape (", \ and
//     control bytes) are written escaped.
//   - A raw control byte (below 0x20) is written as \u00XX.
//   - Any other invalid escape (\q, \x without two hex digits, \u without
//     four) keeps its backslash as text: nothing is guessed.
//
// Outside strings src is copied unchanged. src may end inside a string (the
// prefix of an oversized item): what it holds is repaired all the same.
func repairStrings(dst, src []byte) []byte {
	dst = slices.Grow(dst, len(src)+len(src)/8)
	inString := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		if !inString {
			if c == '"' {
				inString = true
			}
			dst = append(dst, c)
			continue
		}
		switch {
		case c == '"':
			inString = false
			dst = append(dst, c)
		case c < 0x20:
			dst = appendEscapedByte(dst, c)
		case c != '\\':
			dst = append(dst, c)
		case i+1 >= len(src):
			dst = append(dst, '\\', '\\')
		default:
			next := src[i+1]
			switch {
			case next == 'x' && i+3 < len(src) && isHex(src[i+2]) && isHex(src[i+3]):
				dst = appendEscapedByte(dst, hexValue(src[i+2])<<4|hexValue(src[i+3]))
				i += 3
			case next == 'u' && i+5 < len(src) && isHex(src[i+2]) && isHex(src[i+3]) && isHex(src[i+4]) && isHex(src[i+5]):
				dst = append(dst, src[i:i+6]...)
				i += 5
			case next == '"' || next == '\\' || next == '/' || next == 'b' || next == 'f' || next == 'n' || next == 'r' || next == 't':
				dst = append(dst, c, next)
				i++
			default:
				dst = append(dst, '\\', '\\') // the backslash as text; next is read as usual
			}
		}
	}
	return dst
}

// appendEscapedByte appends one byte of string content, escaped when JSON
// requires it. Bytes of 0x80 and above are written raw.
func appendEscapedByte(dst []byte, b byte) []byte {
	const hexDigits = "0123456789abcdef"
	switch {
	case b == '"' || b == '\\':
		return append(dst, '\\', b)
	case b < 0x20:
		return append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
	}
	return append(dst, b)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func hexValue(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// appendDoubling is append that at least doubles the capacity when it
// grows: append's gentler growth for large slices would allocate several
// times an item's size while it is read.
func appendDoubling(dst, data []byte) []byte {
	if need := len(dst) + len(data); need > cap(dst) {
		grown := make([]byte, len(dst), max(need, 2*cap(dst), 4096))
		copy(grown, dst)
		dst = grown
	}
	return append(dst, data...)
}

// kindOf names what a value starting with c is, for error messages.
func kindOf(c byte) string {
	switch {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || '0' <= c && c <= '9':
		return "a number"
	case c >= 0x20 && c < 0x7F:
		return fmt.Sprintf("%q", c)
	}
	return fmt.Sprintf("byte 0x%02X", c)
}

// feedScanner reads the document through a fixed buffer and finds where each
// JSON value ends, without decoding it: depth, strings and escapes are all it
// tracks. Offsets are those of the input, before any repair.
type feedScanner struct {
	r        io.Reader
	buf      []byte
	pos, end int   // unread bytes are buf[pos:end]
	base     int64 // input offset of buf[0]
	eof      bool
	err      error  // a read error other than io.EOF
	stack    []byte // open '{' and '[' of the value being scanned
}

// scannedValue is one JSON value as the scanner found it.
type scannedValue struct {
	// data holds the value's bytes, or their first limit bytes when
	// truncated.
	data      []byte
	size      int64 // the value's full length in bytes
	truncated bool
	// needsRepair is set when a string holds something encoding/json
	// refuses (an escape other than \" \\ \/ \b \f \n \r \t, or a control
	// byte); repairStrings fixes it.
	needsRepair bool
}

func (s *feedScanner) offset() int64 { return s.base + int64(s.pos) }

// fill makes sure a byte is available at buf[pos], reading when needed; false
// at the end of the input or on a read error (see readError).
func (s *feedScanner) fill() bool {
	for empty := 0; s.pos >= s.end; empty++ {
		if s.eof || s.err != nil {
			return false
		}
		if empty == 100 {
			s.err = io.ErrNoProgress
			return false
		}
		s.base += int64(s.end)
		s.pos, s.end = 0, 0
		n, err := s.r.Read(s.buf)
		s.end = n
		switch {
		case err == io.EOF:
			s.eof = true
		case err != nil:
			s.err = err
		}
	}
	return true
}

func (s *feedScanner) peek() byte { return s.buf[s.pos] }

// skipSpace skips JSON whitespace; false when the input ended first.
func (s *feedScanner) skipSpace() bool {
	for s.fill() {
		for s.pos < s.end {
			switch s.buf[s.pos] {
			case ' ', '\t', '\n', '\r':
				s.pos++
			default:
				return true
			}
		}
	}
	return false
}

// skipBOM skips a UTF-8 byte order mark at the start of the input.
func (s *feedScanner) skipBOM() error {
	const bom = "\xEF\xBB\xBF"
	if !s.fill() || s.peek() != bom[0] {
		return s.readError()
	}
	for i := 0; i < len(bom); i++ {
		if !s.fill() {
			return s.endError("in a byte order mark")
		}
		if s.peek() != bom[i] {
			return s.errorf("found %s at the start of the document", kindOf(s.peek()))
		}
		s.pos++
	}
	return nil
}

func (s *feedScanner) readError() error {
	if s.err != nil {
		return fmt.Errorf("ingest: read feed at byte %d: %w", s.offset(), s.err)
	}
	return nil
}

// endError is the error for an input that stopped too early: the read error
// when there was one, else a truncated document.
func (s *feedScanner) endError(where string) error {
	if err := s.readError(); err != nil {
		return err
	}
	return &FeedSyntaxError{Offset: s.offset(), Reason: "unexpected end of the document " + where}
}

func (s *feedScanner) errorf(format string, args ...any) error {
	return &FeedSyntaxError{Offset: s.offset(), Reason: fmt.Sprintf(format, args...)}
}

// stringSpecial marks the bytes that end a run of plain string content.
var stringSpecial = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// scalarByte marks the bytes a number or literal may be made of; the value
// is validated when it is decoded.
var scalarByte = func() (t [256]bool) {
	for _, c := range []byte("0123456789+-.eEabcdefghijklmnopqrstuvwxyzABCDFGHIJKLMNOPQRSTUVWXYZ_") {
		t[c] = true
	}
	return t
}()

// simpleEscape marks the characters after a backslash that encoding/json
// accepts without more checks (\u needs four hex digits: repairStrings checks).
var simpleEscape = func() (t [256]bool) {
	for _, c := range []byte(`"\/bfnrt`) {
		t[c] = true
	}
	return t
}()

// scanValue reads the JSON value at the current position (whitespace already
// skipped), appending its bytes to dst while they fit in limit and counting
// the rest. It checks brackets and strings only; the bytes are validated when
// they are decoded.
func (s *feedScanner) scanValue(dst []byte, limit int) (scannedValue, error) {
	v := scannedValue{data: dst[:0]}
	chunk := s.pos // start of the part of buf not yet appended
	keep := func(end int) {
		n := end - chunk
		v.size += int64(n)
		if !v.truncated {
			if room := limit - len(v.data); n > room {
				v.data = appendDoubling(v.data, s.buf[chunk:chunk+room])
				v.truncated = true
			} else {
				v.data = appendDoubling(v.data, s.buf[chunk:end])
			}
		}
		chunk = s.pos
	}

	first := s.peek()
	switch {
	case first == '{' || first == '[' || first == '"':
	case scalarByte[first]:
		for {
			for s.pos < s.end && scalarByte[s.buf[s.pos]] {
				s.pos++
			}
			delimited := s.pos < s.end
			keep(s.pos)
			if delimited || !s.fill() {
				return v, s.readError()
			}
			chunk = s.pos
		}
	default:
		return v, s.errorf("found %s, want a value", kindOf(first))
	}

	s.stack = s.stack[:0]
	inString, escaped := false, false
	for {
		for s.pos < s.end {
			c := s.buf[s.pos]
			if inString {
				if escaped {
					escaped = false
					if !simpleEscape[c] {
						v.needsRepair = true
					}
					s.pos++
					continue
				}
				i := s.pos
				for i < s.end && !stringSpecial[s.buf[i]] {
					i++
				}
				s.pos = i
				if i == s.end {
					break
				}
				s.pos++
				switch s.buf[i] {
				case '"':
					inString = false
					if len(s.stack) == 0 {
						keep(s.pos)
						return v, nil
					}
				case '\\':
					escaped = true
				default:
					v.needsRepair = true // a raw control byte
				}
				continue
			}
			switch c {
			case '"':
				inString = true
			case '{', '[':
				if len(s.stack) == maxNesting {
					return v, s.errorf("values nest deeper than %d levels", maxNesting)
				}
				s.stack = append(s.stack, c)
			case '}', ']':
				open := byte('{')
				if c == ']' {
					open = '['
				}
				if top := s.stack[len(s.stack)-1]; top != open {
					want := byte('}')
					if top == '[' {
						want = ']'
					}
					return v, s.errorf("found %q, want %q", c, want)
				}
				s.stack = s.stack[:len(s.stack)-1]
				if len(s.stack) == 0 {
					s.pos++
					keep(s.pos)
					return v, nil
				}
			}
			s.pos++
		}
		keep(s.end)
		if !s.fill() {
			if inString {
				return v, s.endError("inside a string")
			}
			return v, s.endError("inside a value")
		}
		chunk = s.pos
	}
}

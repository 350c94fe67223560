package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"marquee/db"
)

// Normalisation turns one feed item into a db.Profile, as docs/feed.md describes:
//
//   - JSON null, an absent key and a blank string ("" or only spaces) all
//     mean unknown, which stays nil: never false, 0 or "". The exceptions are
//     id and name, which are required.
//   - Every integer may also come as a numeric string ("34"); an integral
//     number written with a fraction or exponent (34.0, 4.2e8) is accepted
//     when it is exact.
//   - Every boolean (wlStatus, tattoos, piercings) accepts true/false, the
//     strings "0"/"1"/"true"/"false" and the numbers 0/1.
//   - Single-valued text is trimmed of Unicode spaces (U+00A0 included);
//     gender and orientation are also lower-cased because the filters match
//     them exactly; link is kept byte for byte.
//   - hairColor and ethnicity become lists (split on "|", trimmed, empty
//     parts dropped, de-duplicated case-insensitively, first spelling kept).
//     A value with no parts left carries no information and is nil.
//   - aliases are trimmed, empty ones dropped and duplicates removed
//     case-insensitively (first spelling kept, the way db stores them). The
//     performer's own name and "glued" notes such as "Alana(als)" are real
//     data and stay. Absent aliases are nil; a present list, even one whose
//     entries were all dropped, is an empty list.
//   - thumbnails become one db.ProfileThumbnail per URL, in feed order;
//     entries without a non-empty URL are dropped.
//   - A value that its field's rule (db.FieldRule: bounds, lengths, UTF-8,
//     NUL) refuses becomes unknown and is reported as a field warning
//     (db.ReplaceInvalid); so does an integer too large for its column. The
//     item is kept. A refused name, or a value of the wrong type, rejects it.
//   - The result must pass db.ValidateProfile, and it carries its
//     ContentHash, computed with the unknowns.

// rawItem is one feed item with every field kept raw (slices of the item's
// bytes), so each conversion can name its path in a reject reason. Keys are
// matched exactly as the feed spells them; unknown keys are ignored, and of
// a repeated key the last wins, as in encoding/json.
type rawItem struct {
	ID, Name, License, WLStatus, Aliases, Link, Thumbnails, Attributes []byte
}

func (r *rawItem) set(key, value []byte) {
	switch string(key) {
	case "id":
		r.ID = value
	case "name":
		r.Name = value
	case "license":
		r.License = value
	case "wlStatus":
		r.WLStatus = value
	case "aliases":
		r.Aliases = value
	case "link":
		r.Link = value
	case "thumbnails":
		r.Thumbnails = value
	case "attributes":
		r.Attributes = value
	}
}

type rawAttributes struct {
	HairColor, Ethnicity, Tattoos, Piercings, BreastSize, BreastType, Gender, Orientation, Age, Stats []byte
}

func (r *rawAttributes) set(key, value []byte) {
	switch string(key) {
	case "hairColor":
		r.HairColor = value
	case "ethnicity":
		r.Ethnicity = value
	case "tattoos":
		r.Tattoos = value
	case "piercings":
		r.Piercings = value
	case "breastSize":
		r.BreastSize = value
	case "breastType":
		r.BreastType = value
	case "gender":
		r.Gender = value
	case "orientation":
		r.Orientation = value
	case "age":
		r.Age = value
	case "stats":
		r.Stats = value
	}
}

type rawStats struct {
	Subscriptions, MonthlySearches, Views, VideosCount, PremiumVideosCount, WhiteLabelVideoCount, Rank, RankPremium, RankWL []byte
}

func (r *rawStats) set(key, value []byte) {
	switch string(key) {
	case "subscriptions":
		r.Subscriptions = value
	case "monthlySearches":
		r.MonthlySearches = value
	case "views":
		r.Views = value
	case "videosCount":
		r.VideosCount = value
	case "premiumVideosCount":
		r.PremiumVideosCount = value
	case "whiteLabelVideoCount":
		r.WhiteLabelVideoCount = value
	case "rank":
		r.Rank = value
	case "rankPremium":
		r.RankPremium = value
	case "rankWl":
		r.RankWL = value
	}
}

type rawThumbnail struct {
	Type, Width, Height, URLs []byte
}

func (r *rawThumbnail) set(key, value []byte) {
	switch string(key) {
	case "type":
		r.Type = value
	case "width":
		r.Width = value
	case "height":
		r.Height = value
	case "urls":
		r.URLs = value
	}
}

// itemError is why one item cannot become a profile: the feed path of the
// offending value and what is wrong with it.
type itemError struct {
	path   string
	reason string
}

func (e *itemError) Error() string { return e.path + ": " + e.reason }

// normalizeItem decodes one feed item (a complete JSON value whose strings
// encoding/json accepts) into a valid profile with its content hash.
//
// Values that db.ReplaceInvalid replaced with unknown are returned with
// the profile. On failure the returned profile's FeedID is set when the
// item's id could be read, and the error is either a *json.SyntaxError (the
// bytes are not JSON: the document is broken, not the item) or a reason to
// reject the item.
func normalizeItem(item []byte) (db.Profile, []db.InvalidValue, error) {
	p := db.Profile{SchemaVersion: db.ProfileSchemaVersion}
	if !json.Valid(item) {
		return p, nil, checkJSON(item)
	}
	item = bytes.TrimLeft(item, " \t\r\n")
	if item[0] != '{' {
		return p, nil, &itemError{path: "item", reason: "want an object, got " + describe(item)}
	}
	var raw rawItem
	eachMember(item, raw.set)

	d := fieldDecoder{}
	if isAbsent(raw.ID) {
		return p, nil, &itemError{path: "id", reason: "missing"}
	}
	id, ok := parseInt(raw.ID)
	if !ok || id <= 0 {
		return p, nil, &itemError{path: "id", reason: "want a positive integer, got " + describe(raw.ID)}
	}
	p.FeedID = id

	p.Name = d.name(raw.Name)
	p.License = d.text("license", raw.License)
	p.WLStatus = d.boolean("wlStatus", raw.WLStatus)
	p.Aliases = d.aliases(raw.Aliases)
	p.Link = d.link(raw.Link)
	p.Thumbnails = d.thumbnails(raw.Thumbnails)
	d.attributes(raw.Attributes, &p.PornstarFields)
	if d.err != nil {
		return p, nil, d.err
	}

	// A value its field's rule refuses is third-party data gone wrong, not
	// a reason to lose the item: it becomes unknown, with a warning, and
	// the hash and the published profile carry the unknown.
	replaced := append(d.outOfRange, db.ReplaceInvalid(&p)...)
	if err := db.ValidateProfile(&p); err != nil {
		return p, nil, &itemError{path: "profile", reason: "the store would refuse it: " + err.Error()}
	}
	p.ContentHash = p.ComputeContentHash()
	return p, replaced, nil
}

// checkJSON returns the *json.SyntaxError of data, if any.
func checkJSON(data []byte) error {
	var v json.RawMessage
	err := json.Unmarshal(data, &v)
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return syntaxErr
	}
	return err
}

// eachMember calls set with the key and raw value of each member of the
// object raw, which must be valid JSON (normalizeItem checked the whole
// item), in order.
func eachMember(raw []byte, set func(key, value []byte)) {
	i := skipJSONSpace(raw, 1)
	for i < len(raw) && raw[i] == '"' {
		keyEnd, _ := skipJSONValue(raw, i)
		key := raw[i+1 : keyEnd-1]
		i = skipJSONSpace(raw, skipJSONSpace(raw, keyEnd)+1) // past ':'
		end, _ := skipJSONValue(raw, i)
		if bytes.IndexByte(key, '\\') >= 0 {
			decoded, _ := decodeString(raw[keyEnd-len(key)-2 : keyEnd])
			key = []byte(decoded)
		}
		set(key, raw[i:end])
		i = skipJSONSpace(raw, end)
		if i < len(raw) && raw[i] == ',' {
			i = skipJSONSpace(raw, i+1)
		}
	}
}

// eachElement calls fn with the index and raw value of each element of the
// array raw, which must be valid JSON.
func eachElement(raw []byte, fn func(index int, value []byte) bool) {
	i := skipJSONSpace(raw, 1)
	for index := 0; i < len(raw) && raw[i] != ']'; index++ {
		end, _ := skipJSONValue(raw, i)
		if !fn(index, raw[i:end]) {
			return
		}
		i = skipJSONSpace(raw, end)
		if i < len(raw) && raw[i] == ',' {
			i = skipJSONSpace(raw, i+1)
		}
	}
}

// fieldDecoder converts raw values, keeping the first error: after it, every
// method returns the zero value, so normalizeItem reads as a straight list.
type fieldDecoder struct {
	err *itemError
	// outOfRange are the integers too large for their column: each breaks
	// its field's rule like a negative one, so it is left unknown and
	// becomes a field warning, and the item is kept.
	outOfRange []db.InvalidValue
}

func (d *fieldDecoder) fail(path, reason string) {
	if d.err == nil {
		d.err = &itemError{path: path, reason: reason}
	}
}

func (d *fieldDecoder) name(raw []byte) string {
	if d.err != nil {
		return ""
	}
	if isAbsent(raw) {
		d.fail("name", "missing")
		return ""
	}
	s, ok := decodeString(raw)
	if !ok {
		d.fail("name", "want a string, got "+describe(raw))
		return ""
	}
	name := trimSpace(s)
	if name == "" {
		d.fail("name", "is empty")
	}
	return name
}

// text is an optional single-valued string, trimmed; blank is unknown.
func (d *fieldDecoder) text(path string, raw []byte) *string {
	if d.err != nil || isAbsent(raw) {
		return nil
	}
	s, ok := decodeString(raw)
	if !ok {
		d.fail(path, "want a string, got "+describe(raw))
		return nil
	}
	if s = trimSpace(s); s == "" {
		return nil
	}
	return &s
}

// lowerText is text lower-cased: the value a filter matches exactly.
func (d *fieldDecoder) lowerText(path string, raw []byte) *string {
	s := d.text(path, raw)
	if s != nil {
		lower := strings.ToLower(*s)
		s = &lower
	}
	return s
}

// link is kept byte for byte; blank is unknown.
func (d *fieldDecoder) link(raw []byte) *string {
	if d.err != nil || isAbsent(raw) {
		return nil
	}
	s, ok := decodeString(raw)
	if !ok {
		d.fail("link", "want a string, got "+describe(raw))
		return nil
	}
	if trimSpace(s) == "" {
		return nil
	}
	return &s
}

func (d *fieldDecoder) boolean(path string, raw []byte) *bool {
	if d.err != nil || isAbsent(raw) {
		return nil
	}
	value, known, ok := parseBool(raw)
	if !ok {
		d.fail(path, `want a boolean (true, false, "0", "1", 0 or 1), got `+describe(raw))
		return nil
	}
	if !known {
		return nil
	}
	return &value
}

// int64Value reads an integer at the feed's path into the store's field
// (a rule name, "views" or "thumbnails/0/width").
func (d *fieldDecoder) int64Value(path, field string, raw []byte) *int64 {
	if d.err != nil || isAbsent(raw) || isBlankString(raw) {
		return nil
	}
	n, ok := parseInt(raw)
	if !ok {
		if isLongInteger(raw) {
			d.beyondRange(field, raw)
			return nil
		}
		d.fail(path, "want an integer, got "+describe(raw))
		return nil
	}
	return &n
}

func (d *fieldDecoder) int32Value(path, field string, raw []byte) *int32 {
	n := d.int64Value(path, field, raw)
	if n == nil {
		return nil
	}
	if *n < math.MinInt32 || *n > math.MaxInt32 {
		d.beyondRange(field, raw)
		return nil
	}
	v := int32(*n)
	return &v
}

// beyondRange records an integer its field's column cannot hold, with the
// reason the field's rule gives for any number outside its bounds.
func (d *fieldDecoder) beyondRange(field string, raw []byte) {
	rule, _ := db.Rule(field)
	var refused *db.FieldError
	errors.As(rule.OutOfRange(field, strings.Trim(string(raw), `" `)), &refused)
	d.outOfRange = append(d.outOfRange, db.InvalidValue{Field: field, Value: json.RawMessage(raw), Reason: refused.Reason})
}

// isLongInteger reports whether raw is an integer, bare or in a string,
// that does not fit in 64 bits: a number too large for any column, not a
// value of the wrong type.
func isLongInteger(raw []byte) bool {
	text := string(raw)
	if s, ok := decodeString(raw); ok {
		text = trimSpace(s)
	}
	_, err := strconv.ParseInt(text, 10, 64)
	return errors.Is(err, strconv.ErrRange)
}

// tags is a multi-valued attribute: a pipe-joined string ("Blonde|Brunette")
// or, tolerated, an array of such strings.
func (d *fieldDecoder) tags(path string, raw []byte) db.StringList {
	if d.err != nil || isAbsent(raw) {
		return nil
	}
	var parts []string
	if s, ok := decodeString(raw); ok {
		parts = strings.Split(s, "|")
	} else if list, ok := d.stringList(path, raw); ok {
		for _, s := range list {
			parts = append(parts, strings.Split(s, "|")...)
		}
	} else {
		return nil
	}
	out := dedupeFold(parts)
	if len(out) == 0 {
		return nil // "" or "|" says nothing: unknown
	}
	return out
}

func (d *fieldDecoder) aliases(raw []byte) []string {
	if d.err != nil || isAbsent(raw) {
		return nil
	}
	list, ok := d.stringList("aliases", raw)
	if !ok {
		return nil
	}
	out := dedupeFold(list)
	if out == nil {
		out = []string{}
	}
	return out
}

// stringList decodes an array of strings; null entries are skipped.
func (d *fieldDecoder) stringList(path string, raw []byte) ([]string, bool) {
	if raw[0] != '[' {
		d.fail(path, "want an array of strings, got "+describe(raw))
		return nil, false
	}
	var out []string
	eachElement(raw, func(i int, entry []byte) bool {
		if isAbsent(entry) {
			return true
		}
		s, ok := decodeString(entry)
		if !ok {
			d.fail(fmt.Sprintf("%s[%d]", path, i), "want a string, got "+describe(entry))
			return false
		}
		out = append(out, s)
		return true
	})
	if d.err != nil {
		return nil, false
	}
	if out == nil {
		out = []string{}
	}
	return out, true
}

func (d *fieldDecoder) thumbnails(raw []byte) []db.ProfileThumbnail {
	if d.err != nil || isAbsent(raw) {
		return nil
	}
	if raw[0] != '[' {
		d.fail("thumbnails", "want an array, got "+describe(raw))
		return nil
	}
	out := []db.ProfileThumbnail{}
	var lastURL, lastHash string
	eachElement(raw, func(i int, entry []byte) bool {
		path := thumbnailPaths(i)
		if isAbsent(entry) {
			return true
		}
		if entry[0] != '{' {
			d.fail(path.entry, "want an object, got "+describe(entry))
			return false
		}
		var t rawThumbnail
		eachMember(entry, t.set)
		typ := d.text(path.typ, t.Type)
		width := d.int32Value(path.width, path.widthField, t.Width)
		height := d.int32Value(path.height, path.heightField, t.Height)
		var urls []string
		if !isAbsent(t.URLs) {
			urls, _ = d.stringList(path.urls, t.URLs)
		}
		if d.err != nil {
			return false
		}
		for _, u := range urls {
			if trimSpace(u) == "" {
				continue
			}
			if u != lastURL { // an item's thumbnails usually share one URL
				lastURL, lastHash = u, db.URLHash(u)
			}
			thumb := db.ProfileThumbnail{Width: width, Height: height, URL: u, URLHash: lastHash}
			if typ != nil {
				thumb.Type = *typ
			}
			out = append(out, thumb)
		}
		return true
	})
	if d.err != nil {
		return nil
	}
	return out
}

// thumbnailPath holds the reject paths of one thumbnail entry, and the
// store's names of its sizes for field warnings.
type thumbnailPath struct{ entry, typ, width, height, urls, widthField, heightField string }

// commonThumbnailPaths are built once: real items have three thumbnails.
var commonThumbnailPaths = func() (paths [8]thumbnailPath) {
	for i := range paths {
		paths[i] = newThumbnailPath(i)
	}
	return paths
}()

func thumbnailPaths(i int) thumbnailPath {
	if i < len(commonThumbnailPaths) {
		return commonThumbnailPaths[i]
	}
	return newThumbnailPath(i)
}

func newThumbnailPath(i int) thumbnailPath {
	entry := fmt.Sprintf("thumbnails[%d]", i)
	field := fmt.Sprintf("thumbnails/%d/", i)
	return thumbnailPath{entry, entry + ".type", entry + ".width", entry + ".height", entry + ".urls", field + "width", field + "height"}
}

func (d *fieldDecoder) attributes(raw []byte, f *db.PornstarFields) {
	if d.err != nil || isAbsent(raw) {
		return
	}
	if raw[0] != '{' {
		d.fail("attributes", "want an object, got "+describe(raw))
		return
	}
	var a rawAttributes
	eachMember(raw, a.set)
	f.HairColors = d.tags("attributes.hairColor", a.HairColor)
	f.Ethnicities = d.tags("attributes.ethnicity", a.Ethnicity)
	f.Tattoos = d.boolean("attributes.tattoos", a.Tattoos)
	f.Piercings = d.boolean("attributes.piercings", a.Piercings)
	f.BreastSize = d.int32Value("attributes.breastSize", "breast_size", a.BreastSize)
	f.BreastType = d.text("attributes.breastType", a.BreastType)
	f.Gender = d.lowerText("attributes.gender", a.Gender)
	f.Orientation = d.lowerText("attributes.orientation", a.Orientation)
	f.Age = d.int32Value("attributes.age", "age", a.Age)
	if d.err != nil || isAbsent(a.Stats) {
		return
	}
	if a.Stats[0] != '{' {
		d.fail("attributes.stats", "want an object, got "+describe(a.Stats))
		return
	}
	var s rawStats
	eachMember(a.Stats, s.set)
	f.Subscriptions = d.int64Value("attributes.stats.subscriptions", "subscriptions", s.Subscriptions)
	f.MonthlySearches = d.int64Value("attributes.stats.monthlySearches", "monthly_searches", s.MonthlySearches)
	f.Views = d.int64Value("attributes.stats.views", "views", s.Views)
	f.VideosCount = d.int64Value("attributes.stats.videosCount", "videos_count", s.VideosCount)
	f.PremiumVideosCount = d.int64Value("attributes.stats.premiumVideosCount", "premium_videos_count", s.PremiumVideosCount)
	f.WhiteLabelVideoCount = d.int64Value("attributes.stats.whiteLabelVideoCount", "white_label_video_count", s.WhiteLabelVideoCount)
	f.Rank = d.int64Value("attributes.stats.rank", "rank", s.Rank)
	f.RankPremium = d.int64Value("attributes.stats.rankPremium", "rank_premium", s.RankPremium)
	f.RankWL = d.int64Value("attributes.stats.rankWl", "rank_wl", s.RankWL)
}

// dedupeFold trims every value, drops empty ones and keeps the first
// spelling of each case-insensitive duplicate (strings.ToLower, the same
// key db uses for aliases and tags).
func dedupeFold(values []string) []string {
	var out []string
	var keys []string        // lower-cased kept values, for short lists
	var seen map[string]bool // for long lists, so a hostile item stays linear
	if len(values) > 32 {
		seen = make(map[string]bool, len(values))
	}
	for _, v := range values {
		v = trimSpace(v)
		if v == "" {
			continue
		}
		key := strings.ToLower(v)
		if seen != nil {
			if seen[key] {
				continue
			}
			seen[key] = true
		} else {
			if slices.Contains(keys, key) {
				continue
			}
			keys = append(keys, key)
		}
		out = append(out, v)
	}
	return out
}

// trimSpace removes Unicode spaces (U+00A0 and the other Zs characters, and
// the invisible zero-width space, word joiner and BOM) from both ends.
func trimSpace(s string) string {
	if s == "" || (s[0] < utf8.RuneSelf && s[0] > ' ' && s[len(s)-1] < utf8.RuneSelf && s[len(s)-1] > ' ') {
		return s // the common case: nothing to trim
	}
	return strings.TrimFunc(s, isTrimmable)
}

func isTrimmable(r rune) bool {
	return unicode.IsSpace(r) || unicode.Is(unicode.Zs, r) || r == '\u200B' || r == '\u2060' || r == '\uFEFF'
}

// isAbsent reports a missing key or JSON null.
func isAbsent(raw []byte) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// isBlankString reports a JSON string of only spaces: no information.
func isBlankString(raw []byte) bool {
	s, ok := decodeString(raw)
	return ok && trimSpace(s) == ""
}

// decodeString decodes a JSON string value; ok is false for other kinds.
// Invalid UTF-8 becomes U+FFFD, one per bad byte, as encoding/json does.
func decodeString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	body := raw[1 : len(raw)-1]
	if bytes.IndexByte(body, '\\') < 0 {
		if utf8.Valid(body) {
			return string(body), true // raw is valid JSON: no quote or control byte inside
		}
	} else if s, ok := unescapeSimple(body); ok {
		return s, true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// unescapeSimple decodes a string body whose escapes are all single
// characters (the feed's "\/" above all) and whose bytes are valid UTF-8;
// ok is false otherwise, for encoding/json to do it.
func unescapeSimple(body []byte) (string, bool) {
	if !utf8.Valid(body) {
		return "", false
	}
	out := make([]byte, 0, len(body))
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		if i++; i == len(body) {
			return "", false
		}
		switch body[i] {
		case '"', '\\', '/':
			out = append(out, body[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		default:
			return "", false // \u: let encoding/json pair the surrogates
		}
	}
	return string(out), true
}

// parseInt reads an integer from a JSON number or a numeric string.
func parseInt(raw []byte) (int64, bool) {
	if n, ok := parseDigits(raw); ok {
		return n, true // the common case, without allocating
	}
	text := string(raw)
	if s, ok := decodeString(raw); ok {
		text = trimSpace(s)
	}
	if text == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		return n, true
	}
	// 34.0 or 4.2e8: accept when exact (2^53 bounds float64's exact integers).
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

// parseDigits reads 1 to 18 decimal digits (no sign), which cannot overflow.
func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseBool reads a boolean; known is false for a blank string (unknown).
func parseBool(raw []byte) (value, known, ok bool) {
	switch string(raw) {
	case "true", "1":
		return true, true, true
	case "false", "0":
		return false, true, true
	}
	s, isString := decodeString(raw)
	if !isString {
		return false, false, false
	}
	switch s = trimSpace(s); {
	case s == "":
		return false, false, true
	case s == "1" || strings.EqualFold(s, "true"):
		return true, true, true
	case s == "0" || strings.EqualFold(s, "false"):
		return false, true, true
	}
	return false, false, false
}

// describe shows a raw value in a reject reason, cut to a readable length.
func describe(raw []byte) string {
	const maxShown = 40
	raw = bytes.TrimSpace(raw)
	if len(raw) <= maxShown {
		return string(raw)
	}
	cut := maxShown
	for cut > 0 && !utf8.RuneStart(raw[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes)", raw[:cut], len(raw))
}

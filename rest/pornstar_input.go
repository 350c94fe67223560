package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"marquee/db"
)

// readOnlyFields are members of a performer that the server sets. POST
// refuses them (422). PUT and PATCH accept them when they equal the stored
// values, so that a representation read with GET can be sent back as it is,
// and refuse them (422) otherwise, so that a client never believes it
// changed one; the image of a thumbnail is the state of another resource
// and is ignored there.
var readOnlyFields = []string{"id", "feed_id", "slug", "version", "removed_at", "deleted_at", "created_at", "updated_at"}

// writeKind is what a performer body is for.
type writeKind int

const (
	writeCreate  writeKind = iota // POST: a full body, no read-only members
	writeReplace                  // PUT: a full body, read-only members as stored
	writePatch                    // PATCH: any members, read-only ones as stored
)

// pornstarWrite is a decoded POST, PUT or PATCH body: the values given,
// which members were present (for PATCH), and the read-only members given
// (PUT, PATCH), to be compared with the stored performer.
type pornstarWrite struct {
	in       db.PornstarInput
	present  map[string]bool
	readOnly map[string]json.RawMessage
}

// writableField is one member a client may write: how to decode it into a
// PornstarInput, and how to carry it into a PornstarPatch.
type writableField struct {
	name   string
	decode func(d *fieldDecoder, raw json.RawMessage, in *db.PornstarInput)
	patch  func(in *db.PornstarInput, p *db.PornstarPatch)
}

// writableFields lists the members of a performer a client writes, in the
// order of the representation.
var writableFields = []writableField{
	{"name", func(d *fieldDecoder, raw json.RawMessage, in *db.PornstarInput) {
		if s := d.text(raw, "name", "name", false); s != nil {
			in.Name = *s
		}
	}, func(in *db.PornstarInput, p *db.PornstarPatch) { p.Name = db.Some(in.Name) }},
	nullableString("license", func(f *db.PornstarFields) **string { return &f.License }, func(p *db.PornstarPatch) *db.Optional[*string] { return &p.License }),
	{"wl_status", func(d *fieldDecoder, raw json.RawMessage, in *db.PornstarInput) {
		in.WLStatus = d.boolean(raw, "/wl_status")
	}, func(in *db.PornstarInput, p *db.PornstarPatch) { p.WLStatus = db.Some(in.WLStatus) }},
	nullableString("link", func(f *db.PornstarFields) **string { return &f.Link }, func(p *db.PornstarPatch) *db.Optional[*string] { return &p.Link }),
	{"hair_colors", func(d *fieldDecoder, raw json.RawMessage, in *db.PornstarInput) {
		in.HairColors = d.stringList(raw, "hair_colors", true)
	}, func(in *db.PornstarInput, p *db.PornstarPatch) { p.HairColors = db.Some(in.HairColors) }},
	{"ethnicities", func(d *fieldDecoder, raw json.RawMessage, in *db.PornstarInput) {
		in.Ethnicities = d.stringList(raw, "ethnicities", true)
	}, func(in *db.PornstarInput, p *db.PornstarPatch) { p.Ethnicities = db.Some(in.Ethnicities) }},
	{"tattoos", func(d *fieldDecoder, raw json.RawMessage, in *db.PornstarInput) {
		in.Tattoos = d.boolean(raw, "/tattoos")
	}, func(in *db.PornstarInput, p *db.PornstarPatch) { p.Tattoos = db.Some(in.Tattoos) }},
	{"piercings", func(d *fieldDecoder, raw json.RawMessage, in *db.PornstarInput) {
		in.Piercings = d.boolean(raw, "/piercings")
	}, func(in *db.PornstarInput, p *db.PornstarPatch) { p.Piercings = db.Some(in.Piercings) }},
	nullableInt32("breast_size", func(f *db.PornstarFields) **int32 { return &f.BreastSize }, func(p *db.PornstarPatch) *db.Optional[*int32] { return &p.BreastSize }),
	nullableString("breast_type", func(f *db.PornstarFields) **string { return &f.BreastType }, func(p *db.PornstarPatch) *db.Optional[*string] { return &p.BreastType }),
	nullableString("gender", func(f *db.PornstarFields) **string { return &f.Gender }, func(p *db.PornstarPatch) *db.Optional[*string] { return &p.Gender }),
	nullableString("orientation", func(f *db.PornstarFields) **string { return &f.Orientation }, func(p *db.PornstarPatch) *db.Optional[*string] { return &p.Orientation }),
	nullableInt32("age", func(f *db.PornstarFields) **int32 { return &f.Age }, func(p *db.PornstarPatch) *db.Optional[*int32] { return &p.Age }),
	nullableInt64("subscriptions", func(f *db.PornstarFields) **int64 { return &f.Subscriptions }, func(p *db.PornstarPatch) *db.Optional[*int64] { return &p.Subscriptions }),
	nullableInt64("monthly_searches", func(f *db.PornstarFields) **int64 { return &f.MonthlySearches }, func(p *db.PornstarPatch) *db.Optional[*int64] { return &p.MonthlySearches }),
	nullableInt64("views", func(f *db.PornstarFields) **int64 { return &f.Views }, func(p *db.PornstarPatch) *db.Optional[*int64] { return &p.Views }),
	nullableInt64("videos_count", func(f *db.PornstarFields) **int64 { return &f.VideosCount }, func(p *db.PornstarPatch) *db.Optional[*int64] { return &p.VideosCount }),
	nullableInt64("premium_videos_count", func(f *db.PornstarFields) **int64 { return &f.PremiumVideosCount }, func(p *db.PornstarPatch) *db.Optional[*int64] { return &p.PremiumVideosCount }),
	nullableInt64("white_label_video_count", func(f *db.PornstarFields) **int64 { return &f.WhiteLabelVideoCount }, func(p *db.PornstarPatch) *db.Optional[*int64] { return &p.WhiteLabelVideoCount }),
	nullableInt64("rank", func(f *db.PornstarFields) **int64 { return &f.Rank }, func(p *db.PornstarPatch) *db.Optional[*int64] { return &p.Rank }),
	nullableInt64("rank_premium", func(f *db.PornstarFields) **int64 { return &f.RankPremium }, func(p *db.PornstarPatch) *db.Optional[*int64] { return &p.RankPremium }),
	nullableInt64("rank_wl", func(f *db.PornstarFields) **int64 { return &f.RankWL }, func(p *db.PornstarPatch) *db.Optional[*int64] { return &p.RankWL }),
	{"aliases", func(d *fieldDecoder, raw json.RawMessage, in *db.PornstarInput) {
		in.Aliases = d.stringList(raw, "aliases", false)
	}, func(in *db.PornstarInput, p *db.PornstarPatch) { p.Aliases = db.Some(in.Aliases) }},
	{"thumbnails", func(d *fieldDecoder, raw json.RawMessage, in *db.PornstarInput) {
		in.Thumbnails = d.thumbnails(raw)
	}, func(in *db.PornstarInput, p *db.PornstarPatch) { p.Thumbnails = db.Some(in.Thumbnails) }},
}

func nullableString(name string, field func(*db.PornstarFields) **string, opt func(*db.PornstarPatch) *db.Optional[*string]) writableField {
	return writableField{name, func(d *fieldDecoder, raw json.RawMessage, in *db.PornstarInput) {
		*field(&in.PornstarFields) = d.text(raw, name, name, true)
	}, func(in *db.PornstarInput, p *db.PornstarPatch) { *opt(p) = db.Some(*field(&in.PornstarFields)) }}
}

func nullableInt32(name string, field func(*db.PornstarFields) **int32, opt func(*db.PornstarPatch) *db.Optional[*int32]) writableField {
	return writableField{name, func(d *fieldDecoder, raw json.RawMessage, in *db.PornstarInput) {
		if n := d.integer(raw, name, name); n != nil {
			v := int32(*n) // the rule bounds it to 32 bits
			*field(&in.PornstarFields) = &v
		}
	}, func(in *db.PornstarInput, p *db.PornstarPatch) { *opt(p) = db.Some(*field(&in.PornstarFields)) }}
}

func nullableInt64(name string, field func(*db.PornstarFields) **int64, opt func(*db.PornstarPatch) *db.Optional[*int64]) writableField {
	return writableField{name, func(d *fieldDecoder, raw json.RawMessage, in *db.PornstarInput) {
		*field(&in.PornstarFields) = d.integer(raw, name, name)
	}, func(in *db.PornstarInput, p *db.PornstarPatch) { *opt(p) = db.Some(*field(&in.PornstarFields)) }}
}

// decodePornstar decodes a performer body (already checked by readBody).
// A full body (POST, PUT) must name the performer; a merge patch may hold
// any subset of the members, null clearing one (RFC 7396). Every value is
// checked against its field's rule (db.FieldRule), and every problem found
// is returned, each with the JSON pointer of its member.
func decodePornstar(body []byte, kind writeKind) (*pornstarWrite, []problemError) {
	d := &fieldDecoder{kind: kind}
	var members map[string]json.RawMessage
	if !isObject(body) {
		return nil, []problemError{pointerError("", "must be a JSON object")}
	}
	if err := json.Unmarshal(body, &members); err != nil { // scanJSON accepted it: cannot happen
		return nil, []problemError{pointerError("", "must be a JSON object")}
	}
	out := &pornstarWrite{present: map[string]bool{}, readOnly: map[string]json.RawMessage{}}
	known := map[string]bool{}
	for _, f := range writableFields {
		known[f.name] = true
		raw, ok := members[f.name]
		if !ok {
			continue
		}
		out.present[f.name] = true
		f.decode(d, raw, &out.in)
	}
	for _, name := range sortedKeys(members) {
		switch {
		case known[name]:
		case slices.Contains(readOnlyFields, name) && kind != writeCreate:
			out.readOnly[name] = members[name]
		case slices.Contains(readOnlyFields, name):
			d.add("/"+escapePointer(name), "is read-only")
		default:
			d.add("/"+escapePointer(name), "is not a member of a performer")
		}
	}
	if kind != writePatch && !out.present["name"] {
		d.add("/name", "is required")
	}
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	if out.in.Aliases == nil {
		out.in.Aliases = []string{}
	}
	if out.in.Thumbnails == nil {
		out.in.Thumbnails = []db.ProfileThumbnail{}
	}
	return out, nil
}

// checkReadOnly compares the read-only members of a PUT or PATCH body with
// the stored performer (path id): each that differs is a problem.
func (w *pornstarWrite) checkReadOnly(id int64, stored *db.Pornstar) []problemError {
	d := &fieldDecoder{}
	for _, name := range sortedKeys(w.readOnly) {
		raw := w.readOnly[name]
		var same bool
		var shown string
		switch name {
		case "id":
			same, shown = sameInteger(raw, &id), strconv.FormatInt(id, 10)
		case "feed_id":
			same, shown = sameInteger(raw, stored.ExternalID), "null"
			if stored.ExternalID != nil {
				shown = strconv.FormatInt(*stored.ExternalID, 10)
			}
		case "slug":
			var slug string
			same, shown = json.Unmarshal(raw, &slug) == nil && slug == stored.Slug, strconv.Quote(stored.Slug)
		case "version":
			same, shown = sameInteger(raw, &stored.Version), strconv.FormatInt(stored.Version, 10)
		case "created_at":
			same, shown = sameTime(raw, &stored.CreatedAt), formatTime(&stored.CreatedAt)
		case "updated_at":
			same, shown = sameTime(raw, &stored.UpdatedAt), formatTime(&stored.UpdatedAt)
		case "removed_at":
			same, shown = sameTime(raw, stored.RemovedAt), formatTime(stored.RemovedAt)
		case "deleted_at":
			same, shown = sameTime(raw, stored.DeletedAt), formatTime(stored.DeletedAt)
		}
		if !same {
			d.add("/"+name, "is read-only: it can only be sent as stored ("+shown+")")
		}
	}
	return d.errs
}

// sameInteger reports whether raw is the JSON of *want (null for nil).
func sameInteger(raw json.RawMessage, want *int64) bool {
	if isNull(raw) || want == nil {
		return isNull(raw) && want == nil
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	return err == nil && n == *want
}

// sameTime reports whether raw is an RFC 3339 time equal to *want (null for nil).
func sameTime(raw json.RawMessage, want *time.Time) bool {
	if isNull(raw) || want == nil {
		return isNull(raw) && want == nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return err == nil && t.Equal(*want)
}

func formatTime(t *time.Time) string {
	if t == nil {
		return "null"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// patch turns a decoded merge patch into the store's partial update.
func (w *pornstarWrite) patch() db.PornstarPatch {
	var p db.PornstarPatch
	for _, f := range writableFields {
		if w.present[f.name] {
			f.patch(&w.in, &p)
		}
	}
	return p
}

// fieldDecoder decodes member values, collecting a problem per bad one.
type fieldDecoder struct {
	kind writeKind
	errs []problemError
}

func (d *fieldDecoder) add(pointer, detail string) {
	d.errs = append(d.errs, pointerError(pointer, detail))
}

// refuse adds the problem of a *db.FieldError (a rule refused a value);
// a nil error adds nothing. It reports whether it added one.
func (d *fieldDecoder) refuse(err error) bool {
	var fe *db.FieldError
	if !errors.As(err, &fe) {
		return false
	}
	d.add(fieldPointer(fe.Field), fe.Reason)
	return true
}

// rule returns the rule of a field; every member a client writes has one.
func rule(field string) db.FieldRule {
	r, ok := db.Rule(field)
	if !ok {
		panic("rest: no rule for " + field)
	}
	return r
}

// text decodes a string member at field path and checks it against the
// rule of ruleName; null is nil when nullable, an error otherwise.
func (d *fieldDecoder) text(raw json.RawMessage, field, ruleName string, nullable bool) *string {
	s := d.str(raw, fieldPointer(field), nullable)
	if s != nil && d.refuse(rule(ruleName).CheckText(field, *s)) {
		return nil
	}
	return s
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

func isObject(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

// str decodes a string; null is nil when nullable, an error otherwise.
func (d *fieldDecoder) str(raw json.RawMessage, pointer string, nullable bool) *string {
	if isNull(raw) {
		if !nullable {
			d.add(pointer, "must be a string, not null")
		}
		return nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		d.add(pointer, "must be a string")
		return nil
	}
	return &s
}

// boolean decodes a nullable boolean.
func (d *fieldDecoder) boolean(raw json.RawMessage, pointer string) *bool {
	if isNull(raw) {
		return nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		d.add(pointer, "must be true, false or null")
		return nil
	}
	return &b
}

// maxExponent bounds the exponent of a number written with one (1e3): an
// integer that fits in 64 bits never needs more, and a huge exponent would
// make the exact conversion expensive.
const maxExponent = 40

// integer decodes a nullable integer at field path and checks it against
// the rule of ruleName. A number with a zero fraction (25.0, 2.5e1) is an
// integer, as in JSON Schema.
func (d *fieldDecoder) integer(raw json.RawMessage, field, ruleName string) *int64 {
	if isNull(raw) {
		return nil
	}
	r := rule(ruleName)
	text := string(bytes.TrimSpace(raw))
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		var ok bool
		n, ok = exactInteger(text)
		if !ok {
			d.add(fieldPointer(field), fmt.Sprintf("must be an integer from %d to %d, or null", r.Min, r.Max))
			return nil
		}
	}
	if d.refuse(r.CheckInteger(field, n)) {
		return nil
	}
	return &n
}

// maxNumberText bounds the JSON text of a number exactInteger reads.
const maxNumberText = 64

// exactInteger reads a JSON number with a fraction or exponent whose value
// is an integer that fits in 64 bits.
func exactInteger(text string) (int64, bool) {
	if text == "" || !(text[0] == '-' || '0' <= text[0] && text[0] <= '9') {
		return 0, false // a string, boolean, array or object
	}
	// An int64 with a fraction of zeros and an exponent fits in far fewer
	// bytes; longer text is refused before big.Rat spends time on it.
	if len(text) > maxNumberText {
		return 0, false
	}
	if i := strings.IndexAny(text, "eE"); i >= 0 {
		exp, err := strconv.Atoi(strings.TrimPrefix(text[i+1:], "+"))
		if err != nil || exp > maxExponent || exp < -maxExponent {
			return 0, false
		}
	}
	var r big.Rat
	if _, ok := r.SetString(text); !ok || !r.IsInt() || !r.Num().IsInt64() {
		return 0, false
	}
	return r.Num().Int64(), true
}

// stringList decodes the array of strings of field and checks it against
// the field's rule. null is nil (unknown) when nullable, and the empty list
// otherwise (RFC 7396: null removes).
func (d *fieldDecoder) stringList(raw json.RawMessage, field string, nullable bool) db.StringList {
	if isNull(raw) {
		if nullable {
			return nil
		}
		return db.StringList{}
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		d.add(fieldPointer(field), "must be an array of strings")
		return nil
	}
	r := rule(field)
	if d.refuse(r.CheckCount(field, len(items))) {
		return nil
	}
	out := make(db.StringList, 0, len(items))
	for i, item := range items {
		at := field + "/" + strconv.Itoa(i)
		if s := d.str(item, fieldPointer(at), false); s != nil && !d.refuse(r.CheckItem(at, *s)) {
			out = append(out, *s)
		}
	}
	return out
}

// thumbnailMembers are the members of one thumbnail a client writes;
// url_hash, when given, must be the hash of url.
var thumbnailMembers = []string{"type", "width", "height", "url", "url_hash"}

// thumbnails decodes the thumbnails array; null is the empty list. Each
// member is checked against its rule; a thumbnail's image (read-only) is
// refused by POST and ignored by PUT and PATCH.
func (d *fieldDecoder) thumbnails(raw json.RawMessage) []db.ProfileThumbnail {
	if isNull(raw) {
		return []db.ProfileThumbnail{}
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		d.add("/thumbnails", "must be an array of thumbnail objects")
		return nil
	}
	if d.refuse(rule("thumbnails").CheckCount("thumbnails", len(items))) {
		return nil
	}
	out := make([]db.ProfileThumbnail, 0, len(items))
	for i, item := range items {
		at := "thumbnails/" + strconv.Itoa(i)
		var members map[string]json.RawMessage
		if !isObject(item) || json.Unmarshal(item, &members) != nil {
			d.add(fieldPointer(at), "must be a thumbnail object")
			continue
		}
		var t db.ProfileThumbnail
		for _, name := range sortedKeys(members) {
			switch {
			case slices.Contains(thumbnailMembers, name):
			case name == "image" && d.kind != writeCreate:
			case name == "image":
				d.add(fieldPointer(at)+"/image", "is read-only")
			default:
				d.add(fieldPointer(at)+"/"+escapePointer(name), "is not a member of a thumbnail")
			}
		}
		for _, m := range []struct {
			name string
			dst  *string
		}{{"type", &t.Type}, {"url", &t.URL}} {
			if raw, ok := members[m.name]; ok {
				if s := d.text(raw, at+"/"+m.name, "thumbnails/"+m.name, false); s != nil {
					*m.dst = *s
				}
			} else {
				d.add(fieldPointer(at)+"/"+m.name, "is required")
			}
		}
		if raw, ok := members["url_hash"]; ok {
			if s := d.str(raw, fieldPointer(at)+"/url_hash", false); s != nil {
				t.URLHash = *s
			}
		}
		for _, dim := range []struct {
			name string
			dst  **int32
		}{{"width", &t.Width}, {"height", &t.Height}} {
			if raw, ok := members[dim.name]; ok {
				if n := d.integer(raw, at+"/"+dim.name, "thumbnails/"+dim.name); n != nil {
					v := int32(*n) // the rule bounds it to 32 bits
					*dim.dst = &v
				}
			}
		}
		out = append(out, t)
	}
	return out
}

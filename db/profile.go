package db

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	"marquee/internal/jsontext"
)

// ProfileSchemaVersion is the schema_version of the profiles this code writes.
const ProfileSchemaVersion = 1

// Profile is one performer as the feed describes it, normalised: the value of
// a marquee.pornstars message and the input of Store.UpsertProfiles. The JSON
// names are the topic's (docs/topics.md).
type Profile struct {
	SchemaVersion int   `json:"schema_version"`
	FeedID        int64 `json:"feed_id"`
	PornstarFields
	Aliases     []string           `json:"aliases"`
	Thumbnails  []ProfileThumbnail `json:"thumbnails"`
	ContentHash string             `json:"content_hash"`
}

// ProfileThumbnail is one URL of one thumbnail entry of a profile.
type ProfileThumbnail struct {
	Type    string `json:"type"`
	Width   *int32 `json:"width"`
	Height  *int32 `json:"height"`
	URL     string `json:"url"`
	URLHash string `json:"url_hash"`
}

// ComputeContentHash returns the lowercase hex SHA-256 of the canonical JSON
// (sorted keys at every level, no spaces, no HTML escaping, 64-bit numbers
// exact, unknown as null) of p without content_hash: the bytes that
// marshalling p, decoding it into maps and marshalling those again with
// HTML escaping off would give, written directly.
func (p *Profile) ComputeContentHash() string {
	buf := make([]byte, 0, 1024)
	buf = appendCanonicalProfile(buf, p)
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:])
}

// appendCanonicalProfile appends the canonical JSON of p without
// content_hash; its keys are written in sorted order.
func appendCanonicalProfile(b []byte, p *Profile) []byte {
	f := &p.PornstarFields
	b = append(b, `{"age":`...)
	b = appendOptInt(b, f.Age)
	b = append(b, `,"aliases":`...)
	b = appendStrings(b, p.Aliases)
	b = append(b, `,"breast_size":`...)
	b = appendOptInt(b, f.BreastSize)
	b = append(b, `,"breast_type":`...)
	b = appendOptString(b, f.BreastType)
	b = append(b, `,"ethnicities":`...)
	b = appendStrings(b, f.Ethnicities)
	b = append(b, `,"feed_id":`...)
	b = strconv.AppendInt(b, p.FeedID, 10)
	b = append(b, `,"gender":`...)
	b = appendOptString(b, f.Gender)
	b = append(b, `,"hair_colors":`...)
	b = appendStrings(b, f.HairColors)
	b = append(b, `,"license":`...)
	b = appendOptString(b, f.License)
	b = append(b, `,"link":`...)
	b = appendOptString(b, f.Link)
	b = append(b, `,"monthly_searches":`...)
	b = appendOptInt(b, f.MonthlySearches)
	b = append(b, `,"name":`...)
	b = jsontext.AppendReencodedString(b, f.Name)
	b = append(b, `,"orientation":`...)
	b = appendOptString(b, f.Orientation)
	b = append(b, `,"piercings":`...)
	b = appendOptBool(b, f.Piercings)
	b = append(b, `,"premium_videos_count":`...)
	b = appendOptInt(b, f.PremiumVideosCount)
	b = append(b, `,"rank":`...)
	b = appendOptInt(b, f.Rank)
	b = append(b, `,"rank_premium":`...)
	b = appendOptInt(b, f.RankPremium)
	b = append(b, `,"rank_wl":`...)
	b = appendOptInt(b, f.RankWL)
	b = append(b, `,"schema_version":`...)
	b = strconv.AppendInt(b, int64(p.SchemaVersion), 10)
	b = append(b, `,"subscriptions":`...)
	b = appendOptInt(b, f.Subscriptions)
	b = append(b, `,"tattoos":`...)
	b = appendOptBool(b, f.Tattoos)
	b = append(b, `,"thumbnails":`...)
	if p.Thumbnails == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range p.Thumbnails {
			t := &p.Thumbnails[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"height":`...)
			b = appendOptInt(b, t.Height)
			b = append(b, `,"type":`...)
			b = jsontext.AppendReencodedString(b, t.Type)
			b = append(b, `,"url":`...)
			b = jsontext.AppendReencodedString(b, t.URL)
			b = append(b, `,"url_hash":`...)
			b = jsontext.AppendReencodedString(b, t.URLHash)
			b = append(b, `,"width":`...)
			b = appendOptInt(b, t.Width)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"videos_count":`...)
	b = appendOptInt(b, f.VideosCount)
	b = append(b, `,"views":`...)
	b = appendOptInt(b, f.Views)
	b = append(b, `,"white_label_video_count":`...)
	b = appendOptInt(b, f.WhiteLabelVideoCount)
	b = append(b, `,"wl_status":`...)
	b = appendOptBool(b, f.WLStatus)
	return append(b, '}')
}

func appendOptInt[T int32 | int64](b []byte, v *T) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	return strconv.AppendInt(b, int64(*v), 10)
}

func appendOptBool(b []byte, v *bool) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	return strconv.AppendBool(b, *v)
}

func appendOptString(b []byte, v *string) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	return jsontext.AppendReencodedString(b, *v)
}

func appendStrings[L ~[]string](b []byte, l L) []byte {
	if l == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsontext.AppendReencodedString(b, s)
	}
	return append(b, ']')
}

// URLHash is the key of an image URL everywhere in Marquee: the lowercase hex
// SHA-256 of the URL with only its scheme and host lower-cased.
func URLHash(rawURL string) string {
	sum := sha256.Sum256([]byte(normalizeImageURL(rawURL)))
	return hex.EncodeToString(sum[:])
}

// normalizeImageURL lower-cases the scheme and host of a URL and nothing
// else; it works on the text, so it never re-escapes the path.
func normalizeImageURL(rawURL string) string {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return rawURL
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority := rest[:end]
	userinfo := ""
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		userinfo, authority = authority[:at+1], authority[at+1:]
	}
	return strings.ToLower(scheme) + "://" + userinfo + strings.ToLower(authority) + rest[end:]
}

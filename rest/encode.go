package rest

import (
	"strconv"
	"time"

	"marquee/internal/jsontext"
)

// The hot answers (a page of performers, one performer) are encoded by hand:
// encoding/json's reflection was a large share of a list request's CPU time
// (README, "Speed layer"). The
// output is byte for byte what encoding/json (with HTML escaping off) makes
// of the same structs; TestEncodeMatchesEncodingJSON holds it to that, so a
// member added to pornstarJSON, thumbnailJSON or imageJSON without being
// added here fails the tests.

// appendPornstarPage appends the JSON of a page of performers and a newline.
func appendPornstarPage(dst []byte, page *pageJSON[pornstarJSON]) []byte {
	dst = append(dst, `{"data":[`...)
	for i := range page.Data {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendPornstar(dst, &page.Data[i])
	}
	dst = append(dst, `],"next_cursor":`...)
	dst = appendOptString(dst, page.NextCursor)
	dst = append(dst, `,"total":`...)
	dst = strconv.AppendInt(dst, page.Total, 10)
	return append(dst, "}\n"...)
}

// appendPornstar appends the JSON of one performer.
func appendPornstar(dst []byte, p *pornstarJSON) []byte {
	f := &p.PornstarFields
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendInt(dst, p.ID, 10)
	dst = append(dst, `,"feed_id":`...)
	dst = appendOptInt64(dst, p.FeedID)
	dst = append(dst, `,"slug":`...)
	dst = jsontext.AppendString(dst, p.Slug)
	dst = append(dst, `,"name":`...)
	dst = jsontext.AppendString(dst, f.Name)
	dst = append(dst, `,"license":`...)
	dst = appendOptString(dst, f.License)
	dst = append(dst, `,"wl_status":`...)
	dst = appendOptBool(dst, f.WLStatus)
	dst = append(dst, `,"link":`...)
	dst = appendOptString(dst, f.Link)
	dst = append(dst, `,"hair_colors":`...)
	dst = appendStrings(dst, f.HairColors)
	dst = append(dst, `,"ethnicities":`...)
	dst = appendStrings(dst, f.Ethnicities)
	dst = append(dst, `,"tattoos":`...)
	dst = appendOptBool(dst, f.Tattoos)
	dst = append(dst, `,"piercings":`...)
	dst = appendOptBool(dst, f.Piercings)
	dst = append(dst, `,"breast_size":`...)
	dst = appendOptInt32(dst, f.BreastSize)
	dst = append(dst, `,"breast_type":`...)
	dst = appendOptString(dst, f.BreastType)
	dst = append(dst, `,"gender":`...)
	dst = appendOptString(dst, f.Gender)
	dst = append(dst, `,"orientation":`...)
	dst = appendOptString(dst, f.Orientation)
	dst = append(dst, `,"age":`...)
	dst = appendOptInt32(dst, f.Age)
	dst = append(dst, `,"subscriptions":`...)
	dst = appendOptInt64(dst, f.Subscriptions)
	dst = append(dst, `,"monthly_searches":`...)
	dst = appendOptInt64(dst, f.MonthlySearches)
	dst = append(dst, `,"views":`...)
	dst = appendOptInt64(dst, f.Views)
	dst = append(dst, `,"videos_count":`...)
	dst = appendOptInt64(dst, f.VideosCount)
	dst = append(dst, `,"premium_videos_count":`...)
	dst = appendOptInt64(dst, f.PremiumVideosCount)
	dst = append(dst, `,"white_label_video_count":`...)
	dst = appendOptInt64(dst, f.WhiteLabelVideoCount)
	dst = append(dst, `,"rank":`...)
	dst = appendOptInt64(dst, f.Rank)
	dst = append(dst, `,"rank_premium":`...)
	dst = appendOptInt64(dst, f.RankPremium)
	dst = append(dst, `,"rank_wl":`...)
	dst = appendOptInt64(dst, f.RankWL)
	dst = append(dst, `,"aliases":`...)
	dst = appendStrings(dst, p.Aliases)
	dst = append(dst, `,"thumbnails":`...)
	if p.Thumbnails == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i := range p.Thumbnails {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendThumbnail(dst, &p.Thumbnails[i])
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"version":`...)
	dst = strconv.AppendInt(dst, p.Version, 10)
	dst = append(dst, `,"removed_at":`...)
	dst = appendOptTime(dst, p.RemovedAt)
	dst = append(dst, `,"deleted_at":`...)
	dst = appendOptTime(dst, p.DeletedAt)
	dst = append(dst, `,"created_at":`...)
	dst = appendTime(dst, p.CreatedAt)
	dst = append(dst, `,"updated_at":`...)
	dst = appendTime(dst, p.UpdatedAt)
	return append(dst, '}')
}

func appendThumbnail(dst []byte, t *thumbnailJSON) []byte {
	dst = append(dst, `{"type":`...)
	dst = jsontext.AppendString(dst, t.Type)
	dst = append(dst, `,"width":`...)
	dst = appendOptInt32(dst, t.Width)
	dst = append(dst, `,"height":`...)
	dst = appendOptInt32(dst, t.Height)
	dst = append(dst, `,"url":`...)
	dst = jsontext.AppendString(dst, t.URL)
	dst = append(dst, `,"url_hash":`...)
	dst = jsontext.AppendString(dst, t.URLHash)
	dst = append(dst, `,"image":`...)
	dst = appendImage(dst, &t.Image)
	return append(dst, '}')
}

func appendImage(dst []byte, img *imageJSON) []byte {
	dst = append(dst, `{"url_hash":`...)
	dst = jsontext.AppendString(dst, img.URLHash)
	dst = append(dst, `,"status":`...)
	dst = jsontext.AppendString(dst, img.Status)
	dst = append(dst, `,"url":`...)
	dst = appendOptString(dst, img.URL)
	dst = append(dst, `,"source_url":`...)
	dst = jsontext.AppendString(dst, img.SourceURL)
	dst = append(dst, `,"content_type":`...)
	dst = appendOptString(dst, img.ContentType)
	dst = append(dst, `,"content_sha256":`...)
	dst = appendOptString(dst, img.ContentSHA256)
	dst = append(dst, `,"bytes":`...)
	dst = appendOptInt64(dst, img.Bytes)
	dst = append(dst, `,"width":`...)
	dst = appendOptInt32(dst, img.Width)
	dst = append(dst, `,"height":`...)
	dst = appendOptInt32(dst, img.Height)
	dst = append(dst, `,"attempts":`...)
	dst = strconv.AppendInt(dst, int64(img.Attempts), 10)
	dst = append(dst, `,"error":`...)
	dst = appendOptString(dst, img.Error)
	dst = append(dst, `,"fetched_at":`...)
	dst = appendOptTime(dst, img.FetchedAt)
	dst = append(dst, `,"srcset":`...)
	dst = appendOptString(dst, img.Srcset)
	dst = append(dst, `,"placeholder":`...)
	dst = appendOptString(dst, img.Placeholder)
	return append(dst, '}')
}

func appendOptString(dst []byte, s *string) []byte {
	if s == nil {
		return append(dst, "null"...)
	}
	return jsontext.AppendString(dst, *s)
}

func appendOptInt64(dst []byte, v *int64) []byte {
	if v == nil {
		return append(dst, "null"...)
	}
	return strconv.AppendInt(dst, *v, 10)
}

func appendOptInt32(dst []byte, v *int32) []byte {
	if v == nil {
		return append(dst, "null"...)
	}
	return strconv.AppendInt(dst, int64(*v), 10)
}

func appendOptBool(dst []byte, v *bool) []byte {
	if v == nil {
		return append(dst, "null"...)
	}
	return strconv.AppendBool(dst, *v)
}

func appendStrings(dst []byte, list []string) []byte {
	if list == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, s := range list {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsontext.AppendString(dst, s)
	}
	return append(dst, ']')
}

// appendTime appends t as time.Time's MarshalJSON does (RFC 3339 with
// nanoseconds, trailing zeros dropped).
func appendTime(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

func appendOptTime(dst []byte, t *time.Time) []byte {
	if t == nil {
		return append(dst, "null"...)
	}
	return appendTime(dst, *t)
}

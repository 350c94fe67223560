package model

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"marquee/imaging/variant"
)

// Image is an image URL and what Marquee knows of it. url and srcset are
// methods: they build the links of the image and its variants.
type Image struct {
	URLHash       string
	SourceURL     string
	Status        ImageStatus
	ContentType   *string
	ContentSha256 *string
	Bytes         *int64
	Width         *int
	Height        *int
	Attempts      int
	Error         *string
	FetchedAt     *time.Time
	Placeholder   *string

	links ImageLinks
}

// ImageLinks are where image bytes and their variants are served.
type ImageLinks struct {
	// Base is the base of image URLs: the relative /images where the image
	// handler serves them, or an absolute base in front of it (a CDN's).
	Base string
	// Widths are the allowed widths of variants, ascending; empty: the
	// server renders none.
	Widths []int
}

// URL is where the cached bytes are served, nil unless the image is
// cached: the original, or with width the variant of that width and format
// (nil: negotiated by the browser's Accept). A width outside the allowed
// list, or a format without a width, is an *InputError.
func (i *Image) URL(width *int, format *ImageFormat) (*string, error) {
	if format != nil && width == nil {
		return nil, &InputError{Message: "url: format needs a width"}
	}
	if width != nil && !slices.Contains(i.links.Widths, *width) {
		return nil, &InputError{Message: fmt.Sprintf("url: width must be one of %s", joinInts(i.links.Widths))}
	}
	if i.Status != ImageStatusCached {
		return nil, nil
	}
	url := i.links.Base + "/" + i.URLHash
	if width != nil {
		url += "?w=" + strconv.Itoa(*width) + formatParam(format)
	}
	return &url, nil
}

// Srcset is the srcset of a cached image: its variants at the allowed
// widths below its own width, then the original at its width (no variant
// is larger than the original); nil unless cached with a known width, or
// when no variants are rendered. With a format, every candidate is a
// variant in it (the original at its own width too).
func (i *Image) Srcset(format *ImageFormat) *string {
	if i.Status != ImageStatusCached || len(i.links.Widths) == 0 || i.Width == nil || *i.Width <= 0 {
		return nil
	}
	name := ""
	if format != nil {
		name = strings.ToLower(format.String())
	}
	out := variant.Srcset(i.links.Base+"/"+i.URLHash, *i.Width, i.links.Widths, name)
	return &out
}

func formatParam(format *ImageFormat) string {
	if format == nil {
		return ""
	}
	return "&format=" + strings.ToLower(format.String())
}

func joinInts(values []int) string {
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = strconv.Itoa(v)
	}
	return strings.Join(parts, ", ")
}

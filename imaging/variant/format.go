// Package variant renders and caches the variants of cached images: an
// original resized to one of the allowed widths and encoded as JPEG, PNG,
// WebP or AVIF, with its orientation applied and its metadata stripped.
package variant

import (
	"strings"

	"marquee/imaging"
)

// Format is an output format of variants.
type Format string

// The formats a variant can be encoded in.
const (
	JPEG Format = "jpeg"
	PNG  Format = "png"
	WebP Format = "webp"
	AVIF Format = "avif"
)

// TypeAVIF is the content type of AVIF variants (originals are never AVIF).
const TypeAVIF = "image/avif"

// Formats lists every format, in the order of the API's enumeration.
var Formats = []Format{AVIF, WebP, JPEG, PNG}

// ParseFormat returns the format named s (case-insensitive), or false.
func ParseFormat(s string) (Format, bool) {
	f := Format(strings.ToLower(s))
	switch f {
	case JPEG, PNG, WebP, AVIF:
		return f, true
	}
	return "", false
}

// ContentType is the media type of variants in f.
func (f Format) ContentType() string {
	switch f {
	case JPEG:
		return imaging.TypeJPEG
	case PNG:
		return imaging.TypePNG
	case WebP:
		return imaging.TypeWebP
	case AVIF:
		return TypeAVIF
	}
	return ""
}

// OriginalFormat is the format of variants of an original of contentType
// when the client names none it prefers: the original's own, except that
// GIF (whose palette would band a resized image) becomes PNG.
func OriginalFormat(contentType string) Format {
	switch contentType {
	case imaging.TypeJPEG:
		return JPEG
	case imaging.TypeWebP:
		return WebP
	default:
		return PNG
	}
}

// Negotiate picks the format of a variant from a request's Accept header:
// AVIF when the client accepts image/avif, else WebP when it accepts
// image/webp, else the original's format (OriginalFormat). Only explicit
// media types count: browsers that can show AVIF or WebP say so by name,
// while */* or image/* says nothing about which formats a client decodes.
// A media type with q=0 is refused.
func Negotiate(accept string, originalType string) Format {
	accepted := map[string]bool{}
	for _, part := range strings.Split(accept, ",") {
		fields := strings.Split(part, ";")
		mediaType := strings.ToLower(strings.TrimSpace(fields[0]))
		refused := false
		for _, param := range fields[1:] {
			name, value, _ := strings.Cut(strings.TrimSpace(param), "=")
			if strings.EqualFold(strings.TrimSpace(name), "q") && isZeroQ(strings.TrimSpace(value)) {
				refused = true
			}
		}
		if !refused {
			accepted[mediaType] = true
		}
	}
	switch {
	case accepted[TypeAVIF]:
		return AVIF
	case accepted[imaging.TypeWebP]:
		return WebP
	}
	return OriginalFormat(originalType)
}

// isZeroQ reports whether a qvalue (RFC 9110) is zero: "0", "0.", "0.0"...
func isZeroQ(value string) bool {
	if value == "" || value[0] != '0' {
		return false
	}
	return strings.Trim(value[1:], ".0") == "" && strings.Count(value, ".") <= 1
}

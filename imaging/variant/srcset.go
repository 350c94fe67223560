package variant

import (
	"slices"
	"strconv"
	"strings"
)

// Srcset is the srcset of the cached image at url, width pixels wide, for
// an img element: its variants at the allowed widths (ascending) below its
// own, then the image at its own width, which no variant exceeds. format ""
// leaves each variant's format to the browser's Accept and ends with the
// original; a format (a lowercase name, as the format parameter takes it)
// makes every candidate a variant in it, the original's size being the
// variant of the smallest allowed width not below it (none when every
// allowed width is below it). Both APIs answer it.
func Srcset(url string, width int, widths []int, format string) string {
	param := ""
	if format != "" {
		param = "&format=" + format
	}
	var b strings.Builder
	for _, w := range widths {
		if w >= width {
			break
		}
		b.WriteString(url + "?w=" + strconv.Itoa(w) + param + " " + strconv.Itoa(w) + "w, ")
	}
	switch {
	case format == "":
		b.WriteString(url + " " + strconv.Itoa(width) + "w")
	default:
		if at := slices.IndexFunc(widths, func(w int) bool { return w >= width }); at >= 0 {
			b.WriteString(url + "?w=" + strconv.Itoa(widths[at]) + param + " " + strconv.Itoa(width) + "w")
		}
	}
	return strings.TrimSuffix(b.String(), ", ")
}

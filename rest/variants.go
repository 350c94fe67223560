package rest

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"marquee/db"
	"marquee/imaging/variant"
)

// FilesVariants renders and keeps the variants of cached images
// (variant.Cache).
type FilesVariants interface {
	Get(ctx context.Context, original variant.Original, spec variant.Spec) (*variant.Served, error)
}

// variantRetryAfter is how long a client should wait after a 503 for a
// variant still rendering: the render goes on, and is usually done by then.
const variantRetryAfter = "1"

// variantRequest is a request's variant parameters: Width 0 asks for the
// original; Format "" is negotiated from Accept.
type variantRequest struct {
	width, height int
	format        variant.Format
}

// readVariantRequest reads w, h and format. Widths and heights must be in
// widths (so no client can make the server render sizes without end); h and
// format need w; each parameter appears once.
func readVariantRequest(r *http.Request, widths []int) (variantRequest, []problemError) {
	var req variantRequest
	var errs []problemError
	query := r.URL.Query()
	names := make([]string, len(widths))
	for i, w := range widths {
		names[i] = strconv.Itoa(w)
	}
	allowed := strings.Join(names, ",")
	size := func(name string) int {
		values := query[name]
		if len(values) == 0 {
			return 0
		}
		n, err := strconv.Atoi(values[0])
		if len(values) > 1 || err != nil || !slices.Contains(widths, n) {
			if len(widths) == 0 {
				errs = append(errs, parameterError(name, "this server renders no variants"))
			} else {
				errs = append(errs, parameterError(name, "must be one of "+allowed))
			}
			return 0
		}
		return n
	}
	req.width, req.height = size("w"), size("h")
	if values := query["format"]; len(values) > 0 {
		f, ok := variant.ParseFormat(values[0])
		if len(values) > 1 || !ok {
			errs = append(errs, parameterError("format", "must be one of avif, webp, jpeg, png"))
		}
		req.format = f
	}
	if !query.Has("w") && (query.Has("h") || query.Has("format")) {
		errs = append(errs, parameterError("w", "is required with h or format"))
	}
	return req, errs
}

// serveVariant answers a request for a variant of img, a cached image: in
// the requested format, else the one Accept prefers (with Vary: Accept), with
// the variant's own strong ETag and the caching, conditional and range
// handling of originals.
func (h *filesHandler) serveVariant(w http.ResponseWriter, r *http.Request, img *db.Image, req variantRequest) {
	header := w.Header()
	format := req.format
	if format == "" {
		format = variant.Negotiate(r.Header.Get("Accept"), *img.ContentType)
		header.Add("Vary", "Accept")
	}
	served, err := h.variants.Get(r.Context(), variant.Original{ContentSHA256: *img.ContentSHA256, ContentType: *img.ContentType},
		variant.Spec{Width: req.width, Height: req.height, Format: format})
	switch {
	case errors.Is(err, variant.ErrBusy):
		header.Set("Retry-After", variantRetryAfter)
		fail(w, r, kindRenderBusy, "the variant is being rendered; ask again in a moment")
		return
	case errors.Is(err, variant.ErrOriginalMissing):
		h.log.Error("rest: the bytes of a cached image are missing", "url_hash", img.URLHash, "content_sha256", *img.ContentSHA256)
		fail(w, r, kindNotFound, "the bytes of this image are not available")
		return
	case errors.Is(err, variant.ErrTooManyPixels), errors.Is(err, variant.ErrUndecodable):
		fail(w, r, kindUnrenderable, "this image cannot be rendered at another size or format; its original is served without w")
		return
	case err != nil && r.Context().Err() != nil:
		return // the client has gone
	case err != nil:
		h.internal(w, r, "render image variant", err)
		return
	}
	defer served.Body.Close()
	header.Set("ETag", `"`+served.ETag+`"`)
	header.Set("Cache-Control", filesCacheControl)
	header.Set("Content-Type", served.ContentType)
	header.Set("X-Content-Type-Options", "nosniff")
	header.Set("Content-Security-Policy", "default-src 'none'")
	w = &contentProblemWriter{ResponseWriter: w, r: r, size: served.Size}
	http.ServeContent(w, withRange(r, served.Size), "", time.Time{}, served.Body)
}

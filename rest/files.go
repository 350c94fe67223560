package rest

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"marquee/db"
	"marquee/server"
)

// FilesPattern is where the handler of NewFilesHandler is mounted (outside
// /api/v1: these are the image bytes, not a JSON resource). A GET pattern
// also answers HEAD.
const FilesPattern = "GET " + filesBase + "/{url_hash}"

// FilesPreflightPattern is where a CORS middleware in front of the handler
// answers the preflights of FilesPattern.
const FilesPreflightPattern = "OPTIONS " + filesBase + "/{url_hash}"

// filesBase is the path below which FilesPattern serves the bytes: the base
// of image URLs unless Options.ImagesURL names another.
const filesBase = "/images"

// FilesImageStore is what the image bytes handler needs of db.Store: the
// outcome of one image URL, by URL hash (db.ErrNotFound while pending,
// db.ErrTakenDown once taken down).
type FilesImageStore interface {
	Image(ctx context.Context, urlHash string) (*db.Image, error)
}

// FilesContent opens stored image bytes by their content hash
// (imaging.Contents, over a directory or a bucket). It must refuse any hash
// that is not 64 lowercase hex digits, and report missing bytes with an
// error satisfying errors.Is(err, fs.ErrNotExist). A Seek followed by a
// Read must read from there on without reading what lies before, so that
// ranges cost only their bytes.
type FilesContent interface {
	Open(ctx context.Context, contentSHA256 string) (io.ReadSeekCloser, error)
}

// FilesOptions configure NewFilesHandler.
type FilesOptions struct {
	// Store and Content are required.
	Store   FilesImageStore
	Content FilesContent
	// Variants renders the variants asked for with ?w= (and h=, format=)
	// in the sizes of Widths; without it, or with no widths, every such
	// request is refused with 400.
	Variants FilesVariants
	Widths   []int
	// Logger receives internal errors (default: discarded).
	Logger *slog.Logger
}

// filesCacheControl lets every cache keep an image for a year without
// asking again: the bytes behind a URL hash never change once cached, and
// the ETag is their content hash.
const filesCacheControl = "public, max-age=31536000, immutable"

// NewFilesHandler returns the handler of GET and HEAD /images/{url_hash}:
// the cached bytes of one image URL, with the content type sniffed when it
// was fetched, a strong ETag (the content's SHA-256), immutable caching,
// 304 for a matching If-None-Match, 412 for an If-Match of other bytes and
// byte ranges (RFC 9110: an unsatisfiable range set is 416 with
// Content-Range: bytes */SIZE, a Range of another unit or invalid syntax is
// ignored). Every refusal is a problem document. A hash that is not 64
// lowercase hex digits is 400; an image that is unknown, pending or failed is
// 404; one taken down is 451. With ?w= it serves a variant instead
// (serveVariant). The file read is chosen by the content hash recorded for the URL hash,
// never by anything in the request, so no request can read any other file.
func NewFilesHandler(opts FilesOptions) (http.Handler, error) {
	if opts.Store == nil || opts.Content == nil {
		return nil, errors.New("rest: new files handler: a store and a content store are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	widths := opts.Widths
	if opts.Variants == nil {
		widths = nil
	}
	return &filesHandler{store: opts.Store, content: opts.Content, variants: opts.Variants, widths: widths, log: opts.Logger}, nil
}

type filesHandler struct {
	store    FilesImageStore
	content  FilesContent
	variants FilesVariants
	widths   []int
	log      *slog.Logger
}

func (h *filesHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		fail(w, r, kindMethodNotAllowed, "images are read with GET or HEAD")
		return
	}
	urlHash := r.PathValue("url_hash")
	if !db.IsSHA256Hex(urlHash) {
		failParameters(w, r, []problemError{urlHashError})
		return
	}
	variantReq, errs := readVariantRequest(r, h.widths)
	if len(errs) > 0 {
		failParameters(w, r, errs)
		return
	}
	img, err := h.store.Image(r.Context(), urlHash)
	switch {
	case errors.Is(err, db.ErrTakenDown):
		fail(w, r, kindUnavailableLegal, "this image was taken down")
		return
	case errors.Is(err, db.ErrNotFound):
		fail(w, r, kindNotFound, "no image is cached for this URL hash (yet)")
		return
	case err != nil:
		h.internal(w, r, "load image", err)
		return
	}
	if img.Status != db.ImageCached || img.ContentSHA256 == nil || img.ContentType == nil {
		fail(w, r, kindNotFound, "the image of this URL hash is "+img.Status+", not cached")
		return
	}
	if variantReq.width > 0 {
		h.serveVariant(w, r, img, variantReq)
		return
	}
	file, err := h.content.Open(r.Context(), *img.ContentSHA256)
	if errors.Is(err, fs.ErrNotExist) {
		// The record says cached but the bytes are gone (a data dir restored
		// without its images): an operator's problem, a client's 404.
		h.log.Error("rest: the bytes of a cached image are missing", "url_hash", urlHash, "content_sha256", *img.ContentSHA256)
		fail(w, r, kindNotFound, "the bytes of this image are not available")
		return
	}
	if err != nil {
		h.internal(w, r, "open image", err)
		return
	}
	defer file.Close()
	size, err := file.Seek(0, io.SeekEnd)
	if err == nil {
		_, err = file.Seek(0, io.SeekStart)
	}
	if err != nil {
		h.internal(w, r, "size image", err)
		return
	}
	header := w.Header()
	header.Set("ETag", `"`+*img.ContentSHA256+`"`)
	header.Set("Cache-Control", filesCacheControl)
	header.Set("Content-Type", *img.ContentType)
	// The type was sniffed from the bytes when they were fetched; browsers
	// must not sniff again, nor run anything these bytes might contain.
	header.Set("X-Content-Type-Options", "nosniff")
	header.Set("Content-Security-Policy", "default-src 'none'")
	// ServeContent answers HEAD, If-Match, If-None-Match (against the ETag
	// set above, 304 with the caching headers kept), If-Range and the byte
	// ranges that withRange lets through; no Last-Modified.
	w = &contentProblemWriter{ResponseWriter: w, r: r, size: size}
	http.ServeContent(w, withRange(r, size), "", time.Time{}, file)
}

// internal logs err, with a database error's cause, and answers 500
// without any of its text.
func (h *filesHandler) internal(w http.ResponseWriter, r *http.Request, what string, err error) {
	attrs := []any{"request_id", server.RequestID(r.Context()), "path", r.URL.Path, "err", err}
	var dbErr *db.DatabaseError
	if errors.As(err, &dbErr) {
		attrs = append(attrs, "cause", dbErr.Cause()) // operators' log only
	}
	h.log.Error("rest: "+what, attrs...)
	fail(w, r, kindInternal, "the image could not be served")
}

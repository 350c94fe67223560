package rest

import (
	"errors"
	"net/http"

	"marquee/db"
)

// urlHashError refuses a url_hash path parameter that is not a URL hash.
var urlHashError = parameterError("url_hash", "must be 64 lowercase hexadecimal digits (the SHA-256 of the image URL)")

// getImage answers GET /images/{url_hash}: the state and metadata of one
// image URL. The bytes of a cached image are served at /images/{url_hash},
// outside this API. A hash no thumbnail refers to is 404; one that a
// thumbnail refers to but that has no outcome yet is pending.
func (a *api) getImage(w http.ResponseWriter, r *http.Request) {
	urlHash := r.PathValue("url_hash")
	if !db.IsSHA256Hex(urlHash) {
		failParameters(w, r, []problemError{urlHashError})
		return
	}
	if !noQuery(w, r) {
		return
	}
	img, err := a.store.Image(r.Context(), urlHash)
	switch {
	case err == nil:
		a.writeJSON(w, r, http.StatusOK, newImageJSON(a.imageLinks(), urlHash, img.URL, img), imageETag(img))
	case errors.Is(err, db.ErrTakenDown):
		fail(w, r, kindUnavailableLegal, "this image was taken down")
	case errors.Is(err, db.ErrNotFound):
		sourceURL, err := a.store.ThumbnailURL(r.Context(), urlHash)
		if err != nil {
			a.failStore(w, r, err)
			return
		}
		a.writeJSON(w, r, http.StatusOK, newImageJSON(a.imageLinks(), urlHash, sourceURL, nil), imageETag(nil))
	default:
		a.failStore(w, r, err)
	}
}

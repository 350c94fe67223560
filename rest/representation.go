package rest

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"time"

	"marquee/db"
	"marquee/imaging/variant"
)

// pornstarJSON is a performer as the API shows it: the profile fields of
// the feed (unknown is null) with its aliases, thumbnails and their image
// states nested, and the record's bookkeeping. Field names are the
// snake_case forms of GraphQL's Pornstar fields.
type pornstarJSON struct {
	ID     int64  `json:"id"`
	FeedID *int64 `json:"feed_id"`
	Slug   string `json:"slug"`
	db.PornstarFields
	Aliases    []string        `json:"aliases"`
	Thumbnails []thumbnailJSON `json:"thumbnails"`
	Version    int64           `json:"version"`
	RemovedAt  *time.Time      `json:"removed_at"`
	DeletedAt  *time.Time      `json:"deleted_at"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
}

// thumbnailJSON is one URL of one thumbnail entry, with its image state.
type thumbnailJSON struct {
	Type    string    `json:"type"`
	Width   *int32    `json:"width"`
	Height  *int32    `json:"height"`
	URL     string    `json:"url"`
	URLHash string    `json:"url_hash"`
	Image   imageJSON `json:"image"`
}

// imageJSON is the state of one image URL. URL is where the cached bytes
// are served, null until the image is cached.
type imageJSON struct {
	URLHash       string     `json:"url_hash"`
	Status        string     `json:"status"`
	URL           *string    `json:"url"`
	SourceURL     string     `json:"source_url"`
	ContentType   *string    `json:"content_type"`
	ContentSHA256 *string    `json:"content_sha256"`
	Bytes         *int64     `json:"bytes"`
	Width         *int32     `json:"width"`
	Height        *int32     `json:"height"`
	Attempts      int32      `json:"attempts"`
	Error         *string    `json:"error"`
	FetchedAt     *time.Time `json:"fetched_at"`
	// Srcset lists the image's variants for an img element's srcset, null
	// until it is cached.
	Srcset *string `json:"srcset"`
	// Placeholder is the BlurHash of a cached image (docs/images.md).
	Placeholder *string `json:"placeholder"`
}

// aliasesJSON is the body of GET /pornstars/{id}/aliases.
type aliasesJSON struct {
	Data []string `json:"data"`
}

// thumbnailsJSON is the body of GET /pornstars/{id}/thumbnails.
type thumbnailsJSON struct {
	Data []thumbnailJSON `json:"data"`
}

// pageJSON is the body of every list: one page, the cursor of the next one
// (null on the last page) and how many items the whole list holds.
type pageJSON[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
	Total      int64   `json:"total"`
}

func pornstarPath(id int64) string { return BasePath + "/pornstars/" + strconv.FormatInt(id, 10) }

func feedRunPath(id int64) string { return BasePath + "/feed-runs/" + strconv.FormatInt(id, 10) }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// imageLinks are where image bytes and their variants are served.
type imageLinks struct {
	// base is the base of image URLs (Options.ImagesURL).
	base string
	// widths are the allowed widths of variants, ascending.
	widths []int
}

func (a *api) imageLinks() imageLinks { return imageLinks{base: a.imagesURL, widths: a.imageWidths} }

// srcset is the srcset of a cached image width pixels wide: its variants at
// the allowed widths below its own, then the original at its width (no
// variant is larger than the original). Each variant's format follows the
// browser's Accept.
func (l imageLinks) srcset(urlHash string, width *int32) *string {
	if len(l.widths) == 0 || width == nil || *width <= 0 {
		return nil
	}
	out := variant.Srcset(l.base+"/"+urlHash, int(*width), l.widths, "")
	return &out
}

// newImageJSON shows the image of urlHash: img is its row, nil while the
// image is pending; the bytes of a cached one are at links.base/urlHash.
func newImageJSON(links imageLinks, urlHash, sourceURL string, img *db.Image) imageJSON {
	out := imageJSON{URLHash: urlHash, Status: db.ImagePending, SourceURL: sourceURL}
	if img == nil {
		return out
	}
	out.Status = img.Status
	if img.Status == db.ImageCached {
		url := links.base + "/" + urlHash
		out.URL = &url
		out.Srcset = links.srcset(urlHash, img.Width)
		out.Placeholder = img.Placeholder
	}
	out.ContentType, out.ContentSHA256, out.Bytes = img.ContentType, img.ContentSHA256, img.Bytes
	out.Width, out.Height, out.Attempts, out.Error = img.Width, img.Height, img.Attempts, img.Error
	out.FetchedAt = utcPtr(img.FetchedAt)
	return out
}

func newThumbnailJSON(t db.Thumbnail, images map[string]db.Image, links imageLinks) thumbnailJSON {
	var img *db.Image
	if row, ok := images[t.URLHash]; ok {
		img = &row
	}
	return thumbnailJSON{
		Type: t.Type, Width: t.Width, Height: t.Height, URL: t.URL, URLHash: t.URLHash,
		Image: newImageJSON(links, t.URLHash, t.URL, img),
	}
}

// pornstarChildren are the rows a page of performers needs besides its own,
// loaded with one query per relation whatever the page size.
type pornstarChildren struct {
	aliases map[int64][]db.Alias
	thumbs  map[int64][]db.Thumbnail
	images  map[string]db.Image
	// links are where the images are served.
	links imageLinks
}

// childrenReader loads the aliases and thumbnails of performers: through
// the store's children cache from the read handle, or from the primary
// after a write.
type childrenReader struct {
	aliases    func(context.Context, []*db.Pornstar) (map[int64][]db.Alias, error)
	thumbnails func(context.Context, []*db.Pornstar) (map[int64][]db.Thumbnail, error)
}

func (a *api) replicaChildren() childrenReader {
	return childrenReader{a.store.AliasesOf, a.store.ThumbnailsOf}
}

func (a *api) primaryChildren() childrenReader {
	return childrenReader{
		aliases: func(ctx context.Context, rows []*db.Pornstar) (map[int64][]db.Alias, error) {
			return a.store.AliasesFromPrimary(ctx, idsOf(rows))
		},
		thumbnails: func(ctx context.Context, rows []*db.Pornstar) (map[int64][]db.Thumbnail, error) {
			return a.store.ThumbnailsFromPrimary(ctx, idsOf(rows))
		},
	}
}

func idsOf(rows []*db.Pornstar) []int64 {
	ids := make([]int64, len(rows))
	for i, p := range rows {
		ids[i] = p.ID
	}
	return ids
}

// loadChildren loads the aliases, thumbnails and image states of rows:
// aliases and thumbnails with from (one query each, none where the store's
// children cache has the rows' versions); image states always fresh, with
// one query (they change without a write to the performer).
func (a *api) loadChildren(ctx context.Context, from childrenReader, rows []*db.Pornstar) (*pornstarChildren, error) {
	c := &pornstarChildren{links: a.imageLinks()}
	if len(rows) == 0 {
		c.aliases, c.thumbs, c.images = map[int64][]db.Alias{}, map[int64][]db.Thumbnail{}, map[string]db.Image{}
		return c, nil
	}
	var err error
	if c.aliases, err = from.aliases(ctx, rows); err != nil {
		return nil, err
	}
	if c.thumbs, err = from.thumbnails(ctx, rows); err != nil {
		return nil, err
	}
	if c.images, err = a.imagesOf(ctx, c.thumbs); err != nil {
		return nil, err
	}
	return c, nil
}

// imagesOf reads the image states of thumbs' URLs, in one query, keyed by
// URL hash; a hash missing from it is pending.
func (a *api) imagesOf(ctx context.Context, thumbs map[int64][]db.Thumbnail) (map[string]db.Image, error) {
	var hashes []string
	seen := map[string]bool{}
	for _, list := range thumbs {
		for _, t := range list {
			if !seen[t.URLHash] {
				seen[t.URLHash] = true
				hashes = append(hashes, t.URLHash)
			}
		}
	}
	if len(hashes) == 0 {
		return map[string]db.Image{}, nil
	}
	return a.store.Images(ctx, hashes)
}

func newPornstarJSON(p *db.Pornstar, c *pornstarChildren) pornstarJSON {
	out := pornstarJSON{
		ID: p.ID, FeedID: p.ExternalID, Slug: p.Slug, PornstarFields: p.PornstarFields,
		Aliases: make([]string, 0, len(c.aliases[p.ID])), Thumbnails: make([]thumbnailJSON, 0, len(c.thumbs[p.ID])),
		Version: p.Version, RemovedAt: utcPtr(p.RemovedAt), DeletedAt: utcPtr(p.DeletedAt), CreatedAt: p.CreatedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC(),
	}
	for _, al := range c.aliases[p.ID] {
		out.Aliases = append(out.Aliases, al.Alias)
	}
	for _, t := range c.thumbs[p.ID] {
		out.Thumbnails = append(out.Thumbnails, newThumbnailJSON(t, c.images, c.links))
	}
	return out
}

// pornstarETag is the strong ETag of a performer: its version, which every
// write bumps, and a digest of the versions of its images, whose states are
// part of the representation but change without a write to the performer.
// If-Match compares only the version (see matchVersion).
func pornstarETag(p *db.Pornstar, c *pornstarChildren) string {
	h := sha256.New()
	var buf [8]byte
	for _, t := range c.thumbs[p.ID] {
		h.Write([]byte(t.URLHash))
		var version int64
		if img, ok := c.images[t.URLHash]; ok {
			version = img.Version
		}
		binary.BigEndian.PutUint64(buf[:], uint64(version))
		h.Write(buf[:])
	}
	return `"` + strconv.FormatInt(p.Version, 10) + "-" + hex.EncodeToString(h.Sum(nil)[:6]) + `"`
}

// imageETag is the strong ETag of an image state: its row's version (0
// while pending).
func imageETag(img *db.Image) string {
	if img == nil {
		return `"0"`
	}
	return `"` + strconv.FormatInt(img.Version, 10) + `"`
}

// feedRunJSON is one feed run. Rejects is set on GET /feed-runs/{id} only.
type feedRunJSON struct {
	ID                       int64        `json:"id"`
	Status                   string       `json:"status"`
	RequestedBy              string       `json:"requested_by"`
	Force                    bool         `json:"force"`
	Source                   *string      `json:"source"`
	HTTPStatus               *int32       `json:"http_status"`
	ETag                     *string      `json:"etag"`
	LastModified             *string      `json:"last_modified"`
	GenerationDate           *time.Time   `json:"generation_date"`
	Bytes                    int64        `json:"bytes"`
	ItemsSeen                int64        `json:"items_seen"`
	ItemsValid               int64        `json:"items_valid"`
	ItemsRejected            int64        `json:"items_rejected"`
	ItemsChanged             int64        `json:"items_changed"`
	ItemsRemoved             int64        `json:"items_removed"`
	ImagesRequested          int64        `json:"images_requested"`
	ItemsTakenDown           int64        `json:"items_taken_down"`
	RemovalsSuppressed       bool         `json:"removals_suppressed"`
	RemovalsSuppressedReason *string      `json:"removals_suppressed_reason"`
	Warnings                 int64        `json:"warnings"`
	Error                    *string      `json:"error"`
	QueuedAt                 time.Time    `json:"queued_at"`
	StartedAt                *time.Time   `json:"started_at"`
	FinishedAt               *time.Time   `json:"finished_at"`
	UpdatedAt                time.Time    `json:"updated_at"`
	Version                  int64        `json:"version"`
	Rejects                  []rejectJSON `json:"rejects,omitempty"`
}

// warningJSON is one feed value a run stored as unknown because its
// field's rule refused it.
type warningJSON struct {
	ItemIndex int64  `json:"item_index"`
	FeedID    *int64 `json:"feed_id"`
	Field     string `json:"field"`
	Value     string `json:"value"`
	Reason    string `json:"reason"`
}

// rejectJSON is one feed item a run rejected.
type rejectJSON struct {
	ItemIndex int64  `json:"item_index"`
	FeedID    *int64 `json:"feed_id"`
	Reason    string `json:"reason"`
}

func newFeedRunJSON(run *db.FeedRun) feedRunJSON {
	return feedRunJSON{
		ID: run.ID, Status: run.Status, RequestedBy: run.RequestedBy, Force: run.Force,
		Source: run.Source, HTTPStatus: run.HTTPStatus, ETag: run.ETag, LastModified: run.LastModified,
		GenerationDate: utcPtr(run.GenerationDate), Bytes: run.Bytes, ItemsSeen: run.ItemsSeen,
		ItemsValid: run.ItemsValid, ItemsRejected: run.ItemsRejected, ItemsChanged: run.ItemsChanged,
		ItemsRemoved: run.ItemsRemoved, ImagesRequested: run.ImagesRequested, ItemsTakenDown: run.ItemsTakenDown,
		RemovalsSuppressed: run.RemovalsSuppressed, RemovalsSuppressedReason: run.RemovalsSuppressedReason, Error: run.Error, QueuedAt: run.QueuedAt.UTC(),
		StartedAt: utcPtr(run.StartedAt), FinishedAt: utcPtr(run.FinishedAt), UpdatedAt: run.UpdatedAt.UTC(),
		Version: run.Version, Warnings: run.Warnings,
	}
}

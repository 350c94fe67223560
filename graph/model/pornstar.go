// Package model holds the Go types behind the GraphQL schema: the ones gqlgen
// generates (models_gen.go) and the hand-written ones below, which wrap the
// store's rows so that a page of performers is served without copying them.
package model

import (
	"marquee/db"
)

// Relations loads what a performer's fields need beyond its own row. The
// request's batch loaders implement it: the first call for a page loads the
// relation of the whole page in one query. Fields served through it are
// model methods rather than resolvers, so gqlgen resolves them in line
// instead of starting a goroutine per row.
type Relations interface {
	Aliases(pornstarID int64) ([]string, error)
	Thumbnails(pornstarID int64) ([]db.Thumbnail, error)
	// Image returns the image row of a URL hash, nil while it is pending.
	Image(urlHash string) (*db.Image, error)
	// ImageLinks are where cached images and their variants are served (NewImage).
	ImageLinks() ImageLinks
}

// Pornstar is a performer as the schema shows it: the store's row, with the
// computed fields (ids, lists, relations) as methods.
type Pornstar struct {
	*db.Pornstar
	rel Relations
}

// NewPornstar wraps a row; rel serves its aliases and thumbnails.
func NewPornstar(p *db.Pornstar, rel Relations) *Pornstar {
	return &Pornstar{Pornstar: p, rel: rel}
}

// IsNode marks Pornstar as a Node.
func (*Pornstar) IsNode() {}

// ID is the global id.
func (p *Pornstar) ID() string { return GlobalID(TypePornstar, p.Pornstar.ID) }

// DatabaseID is the store's id.
func (p *Pornstar) DatabaseID() int64 { return p.Pornstar.ID }

// FeedID is the feed's id, nil for records created through the API.
func (p *Pornstar) FeedID() *int64 { return p.ExternalID }

// HairColors are nil when unknown.
func (p *Pornstar) HairColors() []string { return p.Pornstar.HairColors }

// Ethnicities are nil when unknown.
func (p *Pornstar) Ethnicities() []string { return p.Pornstar.Ethnicities }

// Aliases are the performer's other names, in feed order.
func (p *Pornstar) Aliases() ([]string, error) {
	aliases, err := p.rel.Aliases(p.Pornstar.ID)
	if aliases == nil && err == nil {
		aliases = []string{}
	}
	return aliases, err
}

// Thumbnails are the performer's thumbnail URLs, in feed order.
func (p *Pornstar) Thumbnails() ([]*Thumbnail, error) {
	rows, err := p.rel.Thumbnails(p.Pornstar.ID)
	if err != nil {
		return nil, err
	}
	thumbs := make([]*Thumbnail, len(rows))
	for i := range rows {
		thumbs[i] = &Thumbnail{Thumbnail: &rows[i], rel: p.rel}
	}
	return thumbs, nil
}

// Thumbnail is one thumbnail URL of a performer.
type Thumbnail struct {
	*db.Thumbnail
	rel Relations
}

// Image is the thumbnail's image, pending until the compactor reports it.
func (t *Thumbnail) Image() (*Image, error) {
	row, err := t.rel.Image(t.URLHash)
	if err != nil {
		return nil, err
	}
	if row == nil {
		return NewImage(t.rel.ImageLinks(), t.URLHash, t.URL, nil), nil
	}
	return NewImage(t.rel.ImageLinks(), t.URLHash, t.URL, &row.ImageState), nil
}

// NewImage translates an image row, or a pending image (row nil) known only
// by its thumbnail's URL. The bytes of a cached image and its variants are
// below links.Base.
func NewImage(links ImageLinks, urlHash, sourceURL string, row *db.ImageState) *Image {
	if row == nil {
		return &Image{URLHash: urlHash, SourceURL: sourceURL, Status: ImageStatusPending, links: links}
	}
	img := &Image{
		URLHash: row.URLHash, SourceURL: row.URL, ContentType: row.ContentType, ContentSha256: row.ContentSHA256,
		Bytes: row.Bytes, Width: intPtr(row.Width), Height: intPtr(row.Height), Attempts: int(row.Attempts),
		Error: row.Error, FetchedAt: row.FetchedAt, links: links,
	}
	switch row.Status {
	case db.ImageCached:
		img.Status = ImageStatusCached
		img.Placeholder = row.Placeholder
	case db.ImageFailed:
		img.Status = ImageStatusFailed
	default:
		img.Status = ImageStatusPending
	}
	return img
}

func intPtr(v *int32) *int {
	if v == nil {
		return nil
	}
	n := int(*v)
	return &n
}

// PornstarConnection is one page of performers. totalCount is counted
// only when asked for: Total, counted with the page when the query selects
// it (-1 when it did not), else from Filter.
type PornstarConnection struct {
	Edges    []*PornstarEdge
	Nodes    []*Pornstar
	PageInfo *PageInfo
	Filter   db.Filter
	Total    int64
}

package graph

import (
	"log/slog"

	"marquee/db"
)

// Resolver is the root of the resolvers: each one decodes its arguments,
// calls one store method and translates the result. It holds nothing per
// request; the per-request loaders travel in the context.
type Resolver struct {
	store  *db.Store
	logger *slog.Logger
	// imagesURL is the base of image URLs (Options.ImagesURL).
	imagesURL string
}

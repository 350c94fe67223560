package graph

import (
	"log/slog"

	"marquee/db"
	"marquee/graph/model"
)

// Resolver is the root of the resolvers: each one decodes its arguments,
// calls one store method and translates the result. It holds nothing per
// request; the per-request loaders travel in the context.
type Resolver struct {
	store  *db.Store
	logger *slog.Logger
	// imageLinks are where images and their variants are served
	// (Options.ImagesURL and ImageWidths).
	imageLinks model.ImageLinks
}

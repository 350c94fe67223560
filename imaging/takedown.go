package imaging

import (
	"context"
	"log/slog"

	"marquee/db"
)

// TakedownStore is what Takedowns needs of db.Store.
type TakedownStore interface {
	TakeDown(ctx context.Context, in db.TakedownInput) (*db.Takedown, error)
	LiftTakedown(ctx context.Context, id int64, liftedBy string) (*db.Takedown, error)
	Takedowns(ctx context.Context) ([]db.Takedown, error)
}

// VariantRecords forgets the records of every variant rendered from the
// stored bytes with one content hash (variant.Remover), when those bytes
// go; their variants namespace goes with them.
type VariantRecords interface {
	ForgetVariants(ctx context.Context, contentSHA256 string) error
}

// Takedowns carries out operators' takedowns (docs/operations.md,
// "Takedowns"): the store's record, which takes effect in every read path
// and every later feed run at once, then the deletion of the stored bytes
// (and their variants) that only taken-down URL hashes used. Both the CLI and the REST API use
// it; it is safe for concurrent use.
type Takedowns struct {
	Store TakedownStore
	Files ObjectStore
	// Variants, when set, forgets the variants rendered from deleted files.
	Variants VariantRecords
	// Logger receives files that could not be deleted. Nil means slog.Default().
	Logger *slog.Logger
}

// TakeDown records the takedown and deletes its files. A file that cannot
// be deleted (the process may not write the image store) is logged and
// listed in FilesNotDeleted: the takedown is in effect all the same, and
// no route serves the file.
func (t *Takedowns) TakeDown(ctx context.Context, in db.TakedownInput) (*db.Takedown, error) {
	td, err := t.Store.TakeDown(ctx, in)
	if err != nil {
		return nil, err
	}
	for _, content := range td.DeletedFiles {
		if err := removeContent(ctx, t.Files, content); err != nil {
			t.logger().Error("imaging: takedown could not delete a file", "takedown", td.ID, "content_sha256", content, "error", err)
			td.FilesNotDeleted = append(td.FilesNotDeleted, content)
		}
		if t.Variants != nil {
			if err := t.Variants.ForgetVariants(ctx, content); err != nil {
				t.logger().Error("imaging: takedown could not forget the variants of a file", "takedown", td.ID, "content_sha256", content, "error", err)
			}
		}
	}
	return td, nil
}

// Lift lifts a takedown: the next feed run restores what it kept out.
func (t *Takedowns) Lift(ctx context.Context, id int64, liftedBy string) (*db.Takedown, error) {
	return t.Store.LiftTakedown(ctx, id, liftedBy)
}

// List lists every takedown, newest first.
func (t *Takedowns) List(ctx context.Context) ([]db.Takedown, error) {
	return t.Store.Takedowns(ctx)
}

func (t *Takedowns) logger() *slog.Logger {
	if t.Logger == nil {
		return slog.Default()
	}
	return t.Logger
}

package graph

import (
	"context"
	"errors"
	"fmt"

	"marquee/db"
	"marquee/graph/model"
)

// pornstarByID returns a performer, or nil when none has the id.
func (r *Resolver) pornstarByID(ctx context.Context, id int64) (*model.Pornstar, error) {
	p, err := r.store.Get(ctx, id)
	return r.found(ctx, p, err)
}

// found turns a lookup into the schema's answer: the performer, primed for
// the loaders, or nil when not found; a performer taken down is nil with
// the error ErrTakenDown (TAKEN_DOWN).
func (r *Resolver) found(ctx context.Context, p *db.Pornstar, err error) (*model.Pornstar, error) {
	if errors.Is(err, db.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return newPornstar(ctx, p), nil
}

// newPornstar wraps a row for the schema, its relations served by the
// request's loaders (primed with it).
func newPornstar(ctx context.Context, p *db.Pornstar) *model.Pornstar {
	l := loadersFrom(ctx)
	l.primePornstars(p)
	return model.NewPornstar(p, l)
}

// feedRunByID returns a feed run, or nil when none has the id.
func (r *Resolver) feedRunByID(ctx context.Context, id int64) (*model.FeedRun, error) {
	run, err := r.store.GetRun(ctx, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return toFeedRun(run), nil
}

// parseID decodes a global id argument.
func parseID(arg, id string) (typeName string, dbID int64, err error) {
	typeName, dbID, err = model.ParseGlobalID(id)
	if err != nil {
		return "", 0, badInput(arg, err.Error())
	}
	return typeName, dbID, nil
}

// parseTypedID decodes a global id argument that must name a wantType.
func parseTypedID(arg, id, wantType string) (int64, error) {
	typeName, dbID, err := parseID(arg, id)
	if err != nil {
		return 0, err
	}
	if typeName != wantType {
		return 0, badInput(arg, fmt.Sprintf("is the id of a %s, not of a %s", typeName, wantType))
	}
	return dbID, nil
}

// parseURLHash checks a URL hash argument: 64 lowercase hex digits, as
// Marquee writes it and as the REST API demands too.
func parseURLHash(arg, urlHash string) (string, error) {
	if !db.IsSHA256Hex(urlHash) {
		return "", badInput(arg, "must be 64 lowercase hexadecimal digits (the SHA-256 of the image URL)")
	}
	return urlHash, nil
}

// renameField gives a store *db.FieldError the name of the argument behind it.
func renameField(err error, from, to string) error {
	var fe *db.FieldError
	if errors.As(err, &fe) && fe.Field == from {
		return &db.FieldError{Field: to, Reason: fe.Reason}
	}
	return err
}

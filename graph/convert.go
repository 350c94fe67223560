package graph

// Translation between the schema's types and the store's: arguments into
// db.Filter, db.Page and writes; rows into models. Every refusal names the
// argument path, as badInput does.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"marquee/db"
	"marquee/graph/model"
)

// toPage checks the pagination arguments of a connection.
func toPage(first *int, after *string, last *int, before *string) (db.Page, error) {
	var page db.Page
	if first != nil {
		if *first < 1 || *first > db.MaxPageSize {
			return page, badInput("first", fmt.Sprintf("must be between 1 and %d", db.MaxPageSize))
		}
		page.First = *first
	}
	if last != nil {
		if *last < 1 || *last > db.MaxPageSize {
			return page, badInput("last", fmt.Sprintf("must be between 1 and %d", db.MaxPageSize))
		}
		page.Last = *last
	}
	if after != nil {
		page.After = *after
	}
	if before != nil {
		page.Before = *before
	}
	switch {
	case page.First > 0 && page.Last > 0:
		return page, badInput("last", "cannot be combined with first")
	case page.After != "" && page.Before != "":
		return page, badInput("before", "cannot be combined with after")
	case page.Last > 0 && page.After != "":
		return page, badInput("after", "goes with first; use before with last")
	case page.First > 0 && page.Before != "":
		return page, badInput("before", "goes with last; use after with first")
	}
	return page, nil
}

// listError names the argument behind a store error of List.
func listError(page db.Page, err error) error {
	var fe *db.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	switch {
	case fe.Field == "cursor" && page.Before != "":
		return inputError("", &db.FieldError{Field: "before", Reason: fe.Reason})
	case fe.Field == "cursor":
		return inputError("", &db.FieldError{Field: "after", Reason: fe.Reason})
	case fe.Field == "first" || fe.Field == "last" || fe.Field == "after" || fe.Field == "before":
		return inputError("", err)
	case strings.HasPrefix(fe.Field, "order/"):
		return inputError("orderBy.", &db.FieldError{Field: strings.TrimPrefix(fe.Field, "order/"), Reason: fe.Reason})
	}
	return filterError(err)
}

func intPtr64(v *int) *int64 {
	if v == nil {
		return nil
	}
	n := int64(*v)
	return &n
}

// int32Field narrows an Int argument to a 32-bit field after checking it
// against the field's rule (ruleName, as db.Rule names it); field is the
// argument's path.
func int32Field(field, ruleName string, v *int) (*int32, error) {
	if v == nil {
		return nil, nil
	}
	r, ok := db.Rule(ruleName)
	if !ok {
		return nil, fmt.Errorf("graph: no rule for %s", ruleName)
	}
	if err := r.CheckInteger(field, int64(*v)); err != nil {
		return nil, inputError("", err)
	}
	n := int32(*v) // the rule bounds it to 32 bits
	return &n, nil
}

func stringList(v []string) db.StringList {
	if v == nil {
		return nil
	}
	return db.StringList(v)
}

func thumbnailInputs(in []*model.ThumbnailInput) ([]db.ProfileThumbnail, error) {
	out := make([]db.ProfileThumbnail, len(in))
	for i, t := range in {
		width, err := int32Field(fmt.Sprintf("input.thumbnails.%d.width", i), "thumbnails/width", t.Width)
		if err != nil {
			return nil, err
		}
		height, err := int32Field(fmt.Sprintf("input.thumbnails.%d.height", i), "thumbnails/height", t.Height)
		if err != nil {
			return nil, err
		}
		out[i] = db.ProfileThumbnail{Type: t.Type, Width: width, Height: height, URL: t.URL}
	}
	return out, nil
}

// toCreate translates createPornstar's input.
func toCreate(in model.CreatePornstarInput) (db.PornstarInput, error) {
	breastSize, err := int32Field("input.breastSize", "breast_size", in.BreastSize)
	if err != nil {
		return db.PornstarInput{}, err
	}
	age, err := int32Field("input.age", "age", in.Age)
	if err != nil {
		return db.PornstarInput{}, err
	}
	thumbs, err := thumbnailInputs(in.Thumbnails)
	if err != nil {
		return db.PornstarInput{}, err
	}
	return db.PornstarInput{
		PornstarFields: db.PornstarFields{
			Name: in.Name, License: in.License, WLStatus: in.WlStatus, Link: in.Link,
			HairColors: stringList(in.HairColors), Ethnicities: stringList(in.Ethnicities),
			Tattoos: in.Tattoos, Piercings: in.Piercings, BreastSize: breastSize, BreastType: in.BreastType,
			Gender: in.Gender, Orientation: in.Orientation, Age: age,
			Subscriptions: in.Subscriptions, MonthlySearches: in.MonthlySearches, Views: in.Views,
			VideosCount: in.VideosCount, PremiumVideosCount: in.PremiumVideosCount,
			WhiteLabelVideoCount: in.WhiteLabelVideoCount, Rank: in.Rank, RankPremium: in.RankPremium, RankWL: in.RankWl,
		},
		Aliases:    in.Aliases,
		Thumbnails: thumbs,
	}, nil
}

// keep copies a field that was given (null included) into the patch.
func keep[T any](o graphql.Omittable[T]) db.Optional[T] {
	v, set := o.ValueOK()
	return db.Optional[T]{Set: set, Value: v}
}

// keepConverted is keep through a conversion that may refuse the value.
func keepConverted[T, U any](o graphql.Omittable[T], conv func(T) (U, error)) (db.Optional[U], error) {
	v, set := o.ValueOK()
	if !set {
		return db.Optional[U]{}, nil
	}
	u, err := conv(v)
	return db.Optional[U]{Set: true, Value: u}, err
}

// toPatch translates updatePornstar's input: a field left out stays, a
// field set to null is cleared.
func toPatch(in model.UpdatePornstarInput) (db.PornstarPatch, error) {
	p := db.PornstarPatch{
		License: keep(in.License), WLStatus: keep(in.WlStatus), Link: keep(in.Link),
		Tattoos: keep(in.Tattoos), Piercings: keep(in.Piercings), BreastType: keep(in.BreastType),
		Gender: keep(in.Gender), Orientation: keep(in.Orientation),
		Subscriptions: keep(in.Subscriptions), MonthlySearches: keep(in.MonthlySearches), Views: keep(in.Views),
		VideosCount: keep(in.VideosCount), PremiumVideosCount: keep(in.PremiumVideosCount),
		WhiteLabelVideoCount: keep(in.WhiteLabelVideoCount), Rank: keep(in.Rank),
		RankPremium: keep(in.RankPremium), RankWL: keep(in.RankWl),
	}
	var err error
	if p.Name, err = keepConverted(in.Name, func(v *string) (string, error) {
		if v == nil {
			return "", badInput("input.name", "cannot be null")
		}
		return *v, nil
	}); err != nil {
		return p, err
	}
	if p.HairColors, err = keepConverted(in.HairColors, func(v []string) (db.StringList, error) { return stringList(v), nil }); err != nil {
		return p, err
	}
	if p.Ethnicities, err = keepConverted(in.Ethnicities, func(v []string) (db.StringList, error) { return stringList(v), nil }); err != nil {
		return p, err
	}
	if p.BreastSize, err = keepConverted(in.BreastSize, func(v *int) (*int32, error) { return int32Field("input.breastSize", "breast_size", v) }); err != nil {
		return p, err
	}
	if p.Age, err = keepConverted(in.Age, func(v *int) (*int32, error) { return int32Field("input.age", "age", v) }); err != nil {
		return p, err
	}
	// null clears a list: no aliases, no thumbnails.
	if p.Aliases, err = keepConverted(in.Aliases, func(v []string) ([]string, error) {
		if v == nil {
			return []string{}, nil
		}
		return v, nil
	}); err != nil {
		return p, err
	}
	if p.Thumbnails, err = keepConverted(in.Thumbnails, thumbnailInputs); err != nil {
		return p, err
	}
	return p, nil
}

// selectsTotalCount reports whether the query asks the pornstars field
// being resolved in ctx for its totalCount.
func selectsTotalCount(ctx context.Context) bool {
	for _, f := range graphql.CollectFieldsCtx(ctx, []string{"PornstarConnection"}) {
		if f.Name == "totalCount" {
			return true
		}
	}
	return false
}

// toConnection builds a page of the pornstars connection and primes the
// request's loaders with its performers.
func toConnection(l *loaders, page *db.PornstarPage, filter db.Filter) *model.PornstarConnection {
	conn := &model.PornstarConnection{
		Edges:    make([]*model.PornstarEdge, len(page.Items)),
		Nodes:    make([]*model.Pornstar, len(page.Items)),
		PageInfo: &model.PageInfo{HasNextPage: page.HasNextPage, HasPreviousPage: page.HasPreviousPage},
		Filter:   filter,
		Total:    page.Total,
	}
	rows := make([]*db.Pornstar, len(page.Items))
	for i := range page.Items {
		rows[i] = &page.Items[i]
		node := model.NewPornstar(rows[i], l)
		conn.Nodes[i] = node
		conn.Edges[i] = &model.PornstarEdge{Cursor: page.Cursors[i], Node: node}
	}
	if n := len(page.Cursors); n > 0 {
		conn.PageInfo.StartCursor, conn.PageInfo.EndCursor = &page.Cursors[0], &page.Cursors[n-1]
	}
	l.primePornstars(rows...)
	return conn
}

var runStatuses = map[string]model.FeedRunStatus{
	db.RunQueued:      model.FeedRunStatusQueued,
	db.RunRunning:     model.FeedRunStatusRunning,
	db.RunCompleted:   model.FeedRunStatusCompleted,
	db.RunNotModified: model.FeedRunStatusNotModified,
	db.RunFailed:      model.FeedRunStatusFailed,
}

// toFeedRun translates a feed run row.
func toFeedRun(run *db.FeedRun) *model.FeedRun {
	r := run.FeedRunResult
	var httpStatus *int
	if r.HTTPStatus != nil {
		n := int(*r.HTTPStatus)
		httpStatus = &n
	}
	return &model.FeedRun{
		ID: model.GlobalID(model.TypeFeedRun, run.ID), DatabaseID: int(run.ID), Status: runStatuses[run.Status],
		RequestedBy: run.RequestedBy, Force: run.Force, Source: r.Source, HTTPStatus: httpStatus,
		Etag: r.ETag, LastModified: r.LastModified, GenerationDate: r.GenerationDate, Bytes: r.Bytes,
		ItemsSeen: r.ItemsSeen, ItemsValid: r.ItemsValid, ItemsRejected: r.ItemsRejected,
		ItemsChanged: r.ItemsChanged, ItemsRemoved: r.ItemsRemoved, ImagesRequested: r.ImagesRequested, ItemsTakenDown: r.ItemsTakenDown,
		RemovalsSuppressed: r.RemovalsSuppressed, RemovalsSuppressedReason: r.RemovalsSuppressedReason, Warnings: r.Warnings, Error: r.Error, QueuedAt: run.QueuedAt,
		StartedAt: run.StartedAt, FinishedAt: r.FinishedAt, UpdatedAt: run.UpdatedAt, Version: int(run.Version),
	}
}

// toFeedRunConnection builds a page of the feedRuns connection.
func toFeedRunConnection(list *db.RunList, after string) *model.FeedRunConnection {
	conn := &model.FeedRunConnection{
		Edges:      make([]*model.FeedRunEdge, len(list.Runs)),
		Nodes:      make([]*model.FeedRun, len(list.Runs)),
		PageInfo:   &model.PageInfo{HasNextPage: list.NextCursor != "", HasPreviousPage: after != ""},
		TotalCount: int(list.Total),
	}
	for i := range list.Runs {
		node := toFeedRun(&list.Runs[i])
		conn.Nodes[i] = node
		conn.Edges[i] = &model.FeedRunEdge{Cursor: db.RunCursor(list.Runs[i].ID), Node: node}
	}
	if n := len(conn.Edges); n > 0 {
		conn.PageInfo.StartCursor, conn.PageInfo.EndCursor = &conn.Edges[0].Cursor, &conn.Edges[n-1].Cursor
	}
	return conn
}

package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/ast"

	"marquee/graph/generated"
	"marquee/graph/model"
)

// Direct marshalling: the performers' subtree written straight to JSON.
//
// A page of 50 performers with their aliases, thumbnails and images is some
// 1,500 fields. gqlgen's executor takes every one through its generic path
// (a field context, the middleware chain, a marshaler closure, and a
// goroutine per element of every object list), which was most of the CPU a
// page cost (the README's "Speed layer" has the measurements).
// Yet below a field that returns a performer or a page of them nothing is
// left to resolve that can fail once the page's loaders have run: the types
// there (PornstarConnection, PornstarEdge, PageInfo, Pornstar, Thumbnail,
// Image) have no arguments, and every field is a value of the model.
//
// So a field interceptor takes the value such a field's resolver returned
// and answers the field's JSON itself. gqlgen still parses, validates and
// limits the query, coerces the arguments, runs the resolver and reports its
// errors; the fields are collected by gqlgen's own CollectFields (fragments,
// @skip and @include, merged aliases); scalars are written as gqlgen writes
// them. Whatever the direct writer cannot answer byte for byte as gqlgen
// would (a relation that fails to load, a @defer, a non-null value that is
// missing) it leaves to gqlgen's executor, which then answers the whole
// field with the errors it reports. TestDirectMatchesExecutor compares the
// two answers over every type and field of the subtree.

// direct is the field interceptor (handler.Server.AroundFields).
type direct struct {
	resolvers generated.ResolverRoot // for totalCount
	// answered counts the fields it answered; leftToExecutor those it gave
	// back to gqlgen, which should happen only where the answer has errors.
	answered, leftToExecutor prometheus.Counter
	// The types each object satisfies, for CollectFields' fragment matching:
	// the object and the interfaces it implements, as gqlgen passes them.
	pornstarTypes, thumbnailTypes, imageTypes, edgeTypes, connectionTypes, pageInfoTypes []string
}

// newDirect returns the interceptor for schema; reg, when not nil, receives
// its metric (marquee_graphql_direct_fields_total).
func newDirect(schema *ast.Schema, resolvers generated.ResolverRoot, reg prometheus.Registerer) *direct {
	satisfies := func(name string) []string {
		def := schema.Types[name]
		if def == nil {
			panic("graph: the schema has no type " + name)
		}
		return append([]string{name}, def.Interfaces...)
	}
	fields := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "marquee_graphql_direct_fields_total",
		Help: "Fields returning performers whose answer the direct writer wrote (outcome direct) or left to gqlgen's executor (outcome executor: a relation failed to load, or a @defer).",
	}, []string{"outcome"})
	if reg != nil {
		reg.MustRegister(fields)
	}
	return &direct{
		resolvers:       resolvers,
		answered:        fields.WithLabelValues("direct"),
		leftToExecutor:  fields.WithLabelValues("executor"),
		pornstarTypes:   satisfies("Pornstar"),
		thumbnailTypes:  satisfies("Thumbnail"),
		imageTypes:      satisfies("Image"),
		edgeTypes:       satisfies("PornstarEdge"),
		connectionTypes: satisfies("PornstarConnection"),
		pageInfoTypes:   satisfies("PageInfo"),
	}
}

// rawJSON is a field's answer, written already.
type rawJSON []byte

func (r rawJSON) MarshalGQL(w io.Writer) { _, _ = w.Write(r) }

// buffers are the direct writer's scratch space: a page's JSON is some 50
// KB, grown once and reused.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// around resolves the field, then answers it directly when its value is a
// performer or a page of them. A gqlgen resolveField takes a Marshaler from
// the middleware chain as the field's answer.
func (d *direct) around(ctx context.Context, next graphql.Resolver) (any, error) {
	res, err := next(ctx)
	if err != nil {
		return res, err
	}
	switch v := res.(type) {
	case *model.PornstarConnection:
		if v != nil {
			return d.answer(ctx, res, func(w *writer, sel ast.SelectionSet) { w.connection(sel, v) })
		}
	case *model.Pornstar:
		if v != nil {
			return d.answer(ctx, res, func(w *writer, sel ast.SelectionSet) { w.pornstar(sel, v) })
		}
	}
	return res, nil
}

// answer writes the field with write, or hands res back to gqlgen when the
// writer gave up or panicked (in a resolver it called, say): gqlgen then
// runs into the same failure where it would have without the writer, and
// reports it at that field's path.
func (d *direct) answer(ctx context.Context, res any, write func(*writer, ast.SelectionSet)) (out any, err error) {
	buf := buffers.Get().(*bytes.Buffer)
	defer buffers.Put(buf)
	buf.Reset()
	w := &writer{ctx: ctx, oc: graphql.GetOperationContext(ctx), d: d, buf: buf}
	defer func() {
		if recover() != nil {
			d.leftToExecutor.Inc()
			out, err = res, nil
		}
	}()
	write(w, graphql.GetFieldContext(ctx).Field.Selections)
	if w.failed {
		d.leftToExecutor.Inc()
		return res, nil
	}
	d.answered.Inc()
	return rawJSON(bytes.Clone(buf.Bytes())), nil
}

// writer writes one field's subtree. On failed it stops writing: what it
// wrote is thrown away.
type writer struct {
	ctx    context.Context
	oc     *graphql.OperationContext
	d      *direct
	buf    *bytes.Buffer
	failed bool
	num    [40]byte // scratch for numbers and times
}

// object writes an object of the types satisfies (the object's own name
// first, then its interfaces): its fields as gqlgen collects them, each
// under its alias, __typename itself and the others with field, which
// fails the writer on a field it does not know. A field gqlgen would defer
// fails it too.
func (w *writer) object(sel ast.SelectionSet, satisfies []string, field func(f graphql.CollectedField)) {
	fields := graphql.CollectFields(w.oc, sel, satisfies)
	w.buf.WriteByte('{')
	for i, f := range fields {
		if w.failed || f.IsDeferred() {
			w.failed = true
			return
		}
		if i > 0 {
			w.buf.WriteByte(',')
		}
		w.string(f.Alias)
		w.buf.WriteByte(':')
		if f.Name == "__typename" {
			w.string(satisfies[0])
		} else {
			field(f)
		}
	}
	w.buf.WriteByte('}')
}

func (w *writer) connection(sel ast.SelectionSet, c *model.PornstarConnection) {
	w.object(sel, w.d.connectionTypes, func(f graphql.CollectedField) {
		switch f.Name {
		case "edges":
			w.buf.WriteByte('[')
			for j, e := range c.Edges {
				if j > 0 {
					w.buf.WriteByte(',')
				}
				w.edge(f.Selections, e)
			}
			w.buf.WriteByte(']')
		case "nodes":
			w.buf.WriteByte('[')
			for j, p := range c.Nodes {
				if j > 0 {
					w.buf.WriteByte(',')
				}
				w.pornstar(f.Selections, p)
			}
			w.buf.WriteByte(']')
		case "pageInfo":
			w.pageInfo(f.Selections, c.PageInfo)
		case "totalCount":
			n, err := w.d.resolvers.PornstarConnection().TotalCount(w.ctx, c)
			if err != nil {
				w.failed = true
				return
			}
			w.int(int64(n))
		default:
			w.failed = true
		}
	})
}

func (w *writer) edge(sel ast.SelectionSet, e *model.PornstarEdge) {
	w.object(sel, w.d.edgeTypes, func(f graphql.CollectedField) {
		switch f.Name {
		case "cursor":
			w.string(e.Cursor)
		case "node":
			w.pornstar(f.Selections, e.Node)
		default:
			w.failed = true
		}
	})
}

func (w *writer) pageInfo(sel ast.SelectionSet, p *model.PageInfo) {
	w.object(sel, w.d.pageInfoTypes, func(f graphql.CollectedField) {
		switch f.Name {
		case "hasNextPage":
			w.bool(p.HasNextPage)
		case "hasPreviousPage":
			w.bool(p.HasPreviousPage)
		case "startCursor":
			w.optString(p.StartCursor)
		case "endCursor":
			w.optString(p.EndCursor)
		default:
			w.failed = true
		}
	})
}

func (w *writer) pornstar(sel ast.SelectionSet, p *model.Pornstar) {
	if p == nil {
		w.failed = true // every performer field the subtree holds is non-null
		return
	}
	w.object(sel, w.d.pornstarTypes, func(f graphql.CollectedField) {
		switch f.Name {
		case "id":
			w.string(p.ID())
		case "databaseId":
			w.int(p.DatabaseID())
		case "feedId":
			w.optInt(p.FeedID())
		case "slug":
			w.string(p.Slug)
		case "name":
			w.string(p.Name)
		case "license":
			w.optString(p.License)
		case "wlStatus":
			w.optBool(p.WLStatus)
		case "link":
			w.optString(p.Link)
		case "aliases":
			aliases, err := p.Aliases()
			if err != nil {
				w.failed = true
				return
			}
			w.strings(aliases)
		case "hairColors":
			w.optStrings(p.HairColors())
		case "ethnicities":
			w.optStrings(p.Ethnicities())
		case "tattoos":
			w.optBool(p.Tattoos)
		case "piercings":
			w.optBool(p.Piercings)
		case "breastSize":
			w.optInt32(p.BreastSize)
		case "breastType":
			w.optString(p.BreastType)
		case "gender":
			w.optString(p.Gender)
		case "orientation":
			w.optString(p.Orientation)
		case "age":
			w.optInt32(p.Age)
		case "subscriptions":
			w.optInt(p.Subscriptions)
		case "monthlySearches":
			w.optInt(p.MonthlySearches)
		case "views":
			w.optInt(p.Views)
		case "videosCount":
			w.optInt(p.VideosCount)
		case "premiumVideosCount":
			w.optInt(p.PremiumVideosCount)
		case "whiteLabelVideoCount":
			w.optInt(p.WhiteLabelVideoCount)
		case "rank":
			w.optInt(p.Rank)
		case "rankPremium":
			w.optInt(p.RankPremium)
		case "rankWl":
			w.optInt(p.RankWL)
		case "thumbnails":
			thumbs, err := p.Thumbnails()
			if err != nil {
				w.failed = true
				return
			}
			w.buf.WriteByte('[')
			for j, t := range thumbs {
				if j > 0 {
					w.buf.WriteByte(',')
				}
				w.thumbnail(f.Selections, t)
			}
			w.buf.WriteByte(']')
		case "version":
			w.int(p.Version)
		case "removedAt":
			if p.RemovedAt == nil {
				w.null()
			} else {
				w.time(*p.RemovedAt)
			}
		case "deletedAt":
			if p.DeletedAt == nil {
				w.null()
			} else {
				w.time(*p.DeletedAt)
			}
		case "createdAt":
			w.requiredTime(p.CreatedAt)
		case "updatedAt":
			w.requiredTime(p.UpdatedAt)
		default:
			w.failed = true
		}
	})
}

func (w *writer) thumbnail(sel ast.SelectionSet, t *model.Thumbnail) {
	w.object(sel, w.d.thumbnailTypes, func(f graphql.CollectedField) {
		switch f.Name {
		case "type":
			w.string(t.Type)
		case "width":
			w.optInt32(t.Width)
		case "height":
			w.optInt32(t.Height)
		case "url":
			w.string(t.URL)
		case "urlHash":
			w.string(t.URLHash)
		case "image":
			img, err := t.Image()
			if err != nil {
				w.failed = true
				return
			}
			w.image(f.Selections, img)
		default:
			w.failed = true
		}
	})
}

func (w *writer) image(sel ast.SelectionSet, img *model.Image) {
	w.object(sel, w.d.imageTypes, func(f graphql.CollectedField) {
		switch f.Name {
		case "urlHash":
			w.string(img.URLHash)
		case "sourceUrl":
			w.string(img.SourceURL)
		case "status":
			if !img.Status.IsValid() {
				w.failed = true
				return
			}
			w.string(img.Status.String())
		case "url":
			width, format, ok := w.imageArgs(f)
			if !ok {
				w.failed = true
				return
			}
			url, err := img.URL(width, format)
			if err != nil {
				w.failed = true // the executor reports it
				return
			}
			w.optString(url)
		case "srcset":
			_, format, ok := w.imageArgs(f)
			if !ok {
				w.failed = true
				return
			}
			w.optString(img.Srcset(format))
		case "placeholder":
			w.optString(img.Placeholder)
		case "contentType":
			w.optString(img.ContentType)
		case "contentSha256":
			w.optString(img.ContentSha256)
		case "bytes":
			w.optInt(img.Bytes)
		case "width":
			w.optIntN(img.Width)
		case "height":
			w.optIntN(img.Height)
		case "attempts":
			w.int(int64(img.Attempts))
		case "error":
			w.optString(img.Error)
		case "fetchedAt":
			if img.FetchedAt == nil {
				w.null()
			} else {
				w.time(*img.FetchedAt)
			}
		default:
			w.failed = true
		}
	})
}

// imageArgs reads the width and format arguments of Image.url and srcset,
// literal or from variables; ok is false for a value the executor should
// judge (it reports what is wrong with it).
func (w *writer) imageArgs(f graphql.CollectedField) (width *int, format *model.ImageFormat, ok bool) {
	if len(f.Arguments) == 0 {
		return nil, nil, true
	}
	args := f.ArgumentMap(w.oc.Variables)
	switch v := args["width"].(type) {
	case nil:
	case int64:
		n := int(v)
		width = &n
	case json.Number:
		n, err := strconv.Atoi(string(v))
		if err != nil {
			return nil, nil, false
		}
		width = &n
	default:
		return nil, nil, false
	}
	switch v := args["format"].(type) {
	case nil:
	case string:
		f := model.ImageFormat(v)
		if !f.IsValid() {
			return nil, nil, false
		}
		format = &f
	default:
		return nil, nil, false
	}
	return width, format, true
}

// Scalars, written as gqlgen's marshalers write them.

func (w *writer) null() { w.buf.WriteString("null") }

// string writes s quoted as gqlgen's MarshalString does: it escapes only
// '"', '\\' and the control characters below 0x20 (as \u00XX, upper-case),
// and copies every other byte as it is.
func (w *writer) string(s string) {
	const hex = "0123456789ABCDEF"
	b := w.buf
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b.WriteString(s[start:i])
		switch c {
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		case '\n':
			b.WriteString(`\n`)
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		default:
			b.WriteString(`\u00`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		}
		start = i + 1
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}

func (w *writer) optString(s *string) {
	if s == nil {
		w.null()
		return
	}
	w.string(*s)
}

func (w *writer) strings(list []string) {
	w.buf.WriteByte('[')
	for i, s := range list {
		if i > 0 {
			w.buf.WriteByte(',')
		}
		w.string(s)
	}
	w.buf.WriteByte(']')
}

// optStrings writes a nullable list: nil is null, an empty list [].
func (w *writer) optStrings(list []string) {
	if list == nil {
		w.null()
		return
	}
	w.strings(list)
}

func (w *writer) int(n int64) { w.buf.Write(strconv.AppendInt(w.num[:0], n, 10)) }

func (w *writer) optInt(n *int64) {
	if n == nil {
		w.null()
		return
	}
	w.int(*n)
}

func (w *writer) optInt32(n *int32) {
	if n == nil {
		w.null()
		return
	}
	w.int(int64(*n))
}

func (w *writer) optIntN(n *int) {
	if n == nil {
		w.null()
		return
	}
	w.int(int64(*n))
}

func (w *writer) bool(v bool) {
	if v {
		w.buf.WriteString("true")
	} else {
		w.buf.WriteString("false")
	}
}

func (w *writer) optBool(v *bool) {
	if v == nil {
		w.null()
		return
	}
	w.bool(*v)
}

// time writes a DateTime as gqlgen's MarshalTime does: RFC 3339 with
// nanoseconds, and null for the zero time.
func (w *writer) time(t time.Time) {
	if t.IsZero() {
		w.null()
		return
	}
	w.buf.WriteByte('"')
	w.buf.Write(t.AppendFormat(w.num[:0], time.RFC3339Nano))
	w.buf.WriteByte('"')
}

// requiredTime writes a non-null DateTime; the zero time, which gqlgen
// reports as a null in a non-null field, is left to gqlgen.
func (w *writer) requiredTime(t time.Time) {
	if t.IsZero() {
		w.failed = true
		return
	}
	w.time(t)
}

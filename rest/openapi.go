package rest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"marquee/internal/compression"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"marquee/db"
	"marquee/server"
)

// serveOpenAPI answers GET /openapi.json with the API's OpenAPI 3.1 document.
func (a *api) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	if !noQuery(w, r) {
		return
	}
	a.writeBody(w, r, http.StatusOK, a.openapi, "")
}

// obj is a JSON object of the OpenAPI document.
type obj = map[string]any

func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }

func nullable(typ string) []string { return []string{typ, "null"} }

// openAPIDocument builds the OpenAPI 3.1 document of the API. It is built
// from the same tables the handlers use (filters, sort keys, problem kinds),
// so the two cannot drift apart silently; a contract test validates every
// request and response of the test suite against it.
func openAPIDocument() []byte {
	doc := obj{
		"openapi": "3.1.0",
		"info": obj{
			"title":   "Marquee REST API",
			"version": "1",
			"description": "Performers of the daily feed with their aliases, thumbnails and image states, image " +
				"metadata and feed runs. JSON members are snake_case; timestamps are RFC 3339 in UTC; unknown values are null.\n\n" +
				"Reads need no token. Writes need `Authorization: Bearer <token>` with a write token: a missing or unknown " +
				"token is 401 (an unknown token is 401 on reads too), a read-only token 403.\n\n" +
				"Every error is an RFC 9457 problem document (`application/problem+json`). 400: bad query or path " +
				"parameters (each named in `errors[].parameter`) or a body that is not JSON; 422: well-formed JSON with " +
				"wrong types, unknown or read-only members or invalid values (each named by a JSON pointer in " +
				"`errors[].pointer`). Unknown routes are 404 and other methods 405 with `Allow`, both as problem " +
				"documents. Every request counts against the caller's rate limit (its token, else its address): 429 " +
				"with `Retry-After` when it is spent.\n\n" +
				"Every GET answer but the export's has an `ETag` and honours `If-None-Match` (304); a performer's ETag starts with its " +
				"`version`, and `If-Match` on PUT, PATCH and DELETE compares that version (412 on a mismatch). HEAD is " +
				"served wherever GET is.\n\n" +
				"The API is under " + BasePath + ". The bytes of cached images are beside it, at " + filesPath() + ", " +
				"open to every client: no token is read there and no rate limit applies.",
		},
		// The API is under BasePath; the image bytes are beside it.
		"servers": []obj{{"url": "/"}},
		"tags": []obj{
			{"name": "pornstars", "description": "Performers, their aliases and thumbnails"},
			{"name": "images", "description": "Image states, and the bytes of cached images"},
			{"name": "feed-runs", "description": "Feed runs: list, detail, trigger"},
			{"name": "meta", "description": "This document"},
			{"name": "cors", "description": "CORS preflights, answered when MARQUEE_CORS_ORIGINS allows browser pages of other origins"},
		},
		"security": []obj{{}, {"bearer": []string{}}},
		"paths":    openAPIPaths(),
		"components": obj{
			"securitySchemes": obj{"bearer": obj{
				"type": "http", "scheme": "bearer",
				"description": "A token of MARQUEE_API_TOKENS (or the embedded mode's generated token).",
			}},
			"schemas":    openAPISchemas(),
			"parameters": openAPIParameters(),
			"headers":    openAPIHeaders(),
			"responses":  openAPIResponses(),
		},
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic("rest: encode the OpenAPI document: " + err.Error()) // maps of strings and numbers always encode
	}
	return append(out, '\n')
}

// paramRef refers to a shared parameter.
func paramRef(name string) obj { return obj{"$ref": "#/components/parameters/" + name} }

func respRef(name string) obj { return obj{"$ref": "#/components/responses/" + name} }

func headerRef(name string) obj { return obj{"$ref": "#/components/headers/" + name} }

func jsonContent(schema obj) obj { return obj{JSONContentType: obj{"schema": schema}} }

// operation builds an operation with the responses every one shares.
func operation(id, tag, summary, description string, params []obj, responses obj) obj {
	responses["401"] = respRef("Unauthenticated")
	responses["429"] = respRef("RateLimited")
	responses["500"] = respRef("Internal")
	op := obj{"operationId": id, "tags": []string{tag}, "summary": summary, "responses": responses}
	if description != "" {
		op["description"] = description
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	return op
}

// readOp is a GET with its ETag / If-None-Match handling.
func readOp(id, tag, summary, description string, params []obj, schema obj, extraHeaders obj, errs ...string) obj {
	headers := obj{"ETag": headerRef("ETag"), "Cache-Control": headerRef("CacheControl")}
	for k, v := range answerHeaders() {
		headers[k] = v
	}
	for k, v := range extraHeaders {
		headers[k] = v
	}
	responses := obj{
		"200": obj{"description": "OK", "headers": headers, "content": jsonContent(schema)},
		"304": respRef("NotModified"),
	}
	for _, e := range errs {
		responses[e[:3]] = respRef(e[4:])
	}
	return operation(id, tag, summary, description, append(params, paramRef("IfNoneMatch")), responses)
}

// writeOp is an operation that needs a write token.
func writeOp(id, tag, summary, description string, params []obj, body obj, responses obj, errs ...string) obj {
	responses["403"] = respRef("Forbidden")
	for _, e := range errs {
		responses[e[:3]] = respRef(e[4:])
	}
	op := operation(id, tag, summary, description, params, responses)
	op["security"] = []obj{{"bearer": []string{}}}
	if body != nil {
		op["requestBody"] = body
	}
	return op
}

func openAPIPaths() obj {
	idParam := paramRef("PornstarID")
	pornstarResponse := func(status, description string, withLocation bool) obj {
		headers := answerHeaders()
		headers["ETag"] = headerRef("ETag")
		if withLocation {
			headers["Location"] = headerRef("Location")
		}
		return obj{status: obj{"description": description, "headers": headers, "content": jsonContent(ref("Pornstar"))}}
	}
	writeBody := func(schemaName string, media ...string) obj {
		content := obj{}
		for _, m := range media {
			content[m] = obj{"schema": ref(schemaName)}
		}
		return obj{"required": true, "content": content}
	}
	var filterParams []obj
	for i := range db.FilterFields {
		for _, name := range db.FilterFields[i].ParamNames() {
			filterParams = append(filterParams, paramRef(filterParamComponent(name)))
		}
	}
	listParams := append([]obj{paramRef("Limit"), paramRef("Cursor"), paramRef("Sort")}, filterParams...)

	api := obj{
		"/pornstars": obj{
			"get": readOp("listPornstars", "pornstars", "List performers",
				"One page of performers matching every filter given, in the order of `sort`, with the cursor of the "+
					"next page in `next_cursor` and a `Link: <...>; rel=\"next\"` header. `total` counts every match. "+
					"A cursor only works with the filters and order it came from. `feed_id` is the lookup by feed id "+
					"(with it, `removed` defaults to `any`).",
				listParams, ref("PornstarPage"), obj{"Link": headerRef("Link")}, "400 InvalidParameter"),
			"post": writeOp("createPornstar", "pornstars", "Create a performer",
				"Creates a performer without a feed id: the feed never touches it.", nil,
				writeBody("PornstarWrite", mediaJSON), pornstarResponse("201", "Created", true),
				"400 BadRequest", "413 BodyTooLarge", "415 UnsupportedMediaType", "422 ValidationFailed"),
		},
		"/pornstars/facets": obj{
			"get": readOp("listPornstarFacets", "pornstars", "Count performers per facet value",
				"For each facet named in `facet`, how many performers have each value (a values facet) or fall in each "+
					"bucket of fixed edges (a histogram, with the least and greatest value), under the filters of the "+
					"list. A facet's counts leave out the filter of its own name, so that a menu with a value ticked still "+
					"counts the others; `total` applies every filter. Unknown values count under `null` (a values facet) "+
					"or `unknown` (a histogram). A values facet is ordered by count descending, then value.",
				append([]obj{paramRef("Facet")}, filterParams...), ref("PornstarFacets"), nil, "400 InvalidParameter"),
		},
		"/pornstars/export": obj{
			"get": exportOp(filterParams),
		},
		"/pornstars/{id}": obj{
			"parameters": []obj{idParam},
			"get": readOp("getPornstar", "pornstars", "Get a performer", "Performers that left the feed are found too (`removed_at` is set).",
				nil, ref("Pornstar"), nil, "400 InvalidParameter", "404 NotFound", "410 Gone"),
			"put": writeOp("replacePornstar", "pornstars", "Replace a performer",
				"Sets every writable member; absent ones become null (aliases and thumbnails empty). A later feed "+
					"change to a feed performer overwrites the edit. The representation GET gave is accepted as it is: "+
					"read-only members must be as stored (422 otherwise) and the write then applies to that version, "+
					"as with If-Match; the images of thumbnails are ignored.",
				[]obj{paramRef("IfMatch")}, writeBody("PornstarReplace", mediaJSON), pornstarResponse("200", "Replaced", false),
				"400 BadRequest", "404 NotFound", "412 PreconditionFailed", "413 BodyTooLarge", "415 UnsupportedMediaType", "422 ValidationFailed"),
			"patch": writeOp("patchPornstar", "pornstars", "Update a performer (JSON Merge Patch)",
				"RFC 7396: members present are set, null clears a member (aliases and thumbnails become empty), "+
					"absent members stay; arrays are replaced whole. Read-only members are accepted as for PUT.",
				[]obj{paramRef("IfMatch")}, writeBody("PornstarPatch", mediaMergePatch, mediaJSON), pornstarResponse("200", "Updated", false),
				"400 BadRequest", "404 NotFound", "412 PreconditionFailed", "413 BodyTooLarge", "415 UnsupportedMediaType", "422 ValidationFailed"),
			"delete": writeOp("deletePornstar", "pornstars", "Delete a performer",
				"Only performers created through an API can be deleted; a feed performer is 409 (it is removed when it leaves the feed).",
				[]obj{paramRef("IfMatch")}, nil, obj{"204": obj{"description": "Deleted"}},
				"400 InvalidParameter", "404 NotFound", "409 Conflict", "412 PreconditionFailed"),
		},
		"/pornstars/by-slug/{slug}": obj{
			"parameters": []obj{paramRef("Slug")},
			"get": readOp("getPornstarBySlug", "pornstars", "Get a performer by slug",
				"The performer as `GET /pornstars/{id}` answers it, with the same ETag; performers that left the feed are found too. "+
					"A slug is unique and never changes while its performer exists. Any other value, including one that is "+
					"not of a slug's shape, is 404.",
				nil, ref("Pornstar"), nil, "400 InvalidParameter", "404 NotFound", "410 Gone"),
		},
		"/pornstars/{id}/aliases": obj{
			"parameters": []obj{idParam},
			"get": readOp("listPornstarAliases", "pornstars", "List a performer's aliases", "", nil,
				ref("AliasList"), nil, "400 InvalidParameter", "404 NotFound", "410 Gone"),
		},
		"/pornstars/{id}/thumbnails": obj{
			"parameters": []obj{idParam},
			"get": readOp("listPornstarThumbnails", "pornstars", "List a performer's thumbnails with their image states", "", nil,
				ref("ThumbnailList"), nil, "400 InvalidParameter", "404 NotFound", "410 Gone"),
		},
		"/images/{url_hash}": obj{
			"parameters": []obj{paramRef("URLHash")},
			"get": readOp("getImage", "images", "Get the state of an image",
				"`pending` until the image compactor has an outcome; the bytes of a cached image are at `url` "+
					"(/images/{url_hash}). A hash no thumbnail refers to is 404.",
				nil, ref("Image"), nil, "400 InvalidParameter", "404 NotFound", "451 UnavailableForLegalReasons"),
		},
		"/feed-runs": obj{
			"get": readOp("listFeedRuns", "feed-runs", "List feed runs", "Newest first.",
				[]obj{paramRef("Limit"), paramRef("Cursor")}, ref("FeedRunPage"), obj{"Link": headerRef("Link")}, "400 InvalidParameter"),
			"post": writeOp("startFeedRun", "feed-runs", "Start a feed run",
				"Queues a run for the scheduler, which claims it within seconds. The body is optional: "+
					"`{\"force\": true}` ignores the feed's conditional headers. 409 while another run is queued or running.",
				nil, obj{"required": false, "content": jsonContent(ref("FeedRunStart"))},
				obj{"202": obj{"description": "Queued", "headers": obj{"Location": headerRef("Location"), "ETag": headerRef("ETag")},
					"content": jsonContent(ref("FeedRunDetail"))}},
				"400 BadRequest", "409 Conflict", "413 BodyTooLarge", "415 UnsupportedMediaType", "422 ValidationFailed"),
		},
		"/feed-runs/{id}": obj{
			"parameters": []obj{paramRef("FeedRunID")},
			"get": readOp("getFeedRun", "feed-runs", "Get a feed run", "With up to "+strconv.Itoa(maxRejectsShown)+" of its rejected items.",
				nil, ref("FeedRunDetail"), nil, "400 InvalidParameter", "404 NotFound"),
		},
		"/feed-runs/{id}/warnings": obj{
			"parameters": []obj{paramRef("FeedRunID")},
			"get": readOp("listFeedRunWarnings", "feed-runs", "List a feed run's field warnings",
				fmt.Sprintf("The feed values the run stored as unknown because their field's rule refused them "+
					"(negative counts, text too long, ...), in feed order: the first %d are kept; the run's `warnings` "+
					"counts them all. The item itself was stored with its other values.", db.MaxWarningsPerRun),
				[]obj{paramRef("Limit"), paramRef("Cursor")}, ref("FeedRunWarningPage"), obj{"Link": headerRef("Link")},
				"400 InvalidParameter", "404 NotFound"),
		},
		"/takedowns": obj{
			"get": withoutResponse(writeOp("listTakedowns", "takedowns", "List takedowns",
				"Every takedown, newest first, lifted ones included. Needs a write token: the list says what was taken down and why.",
				nil, nil, obj{"200": obj{"description": "OK", "content": jsonContent(ref("TakedownList"))}},
				"400 InvalidParameter"), ""),
			"post": writeOp("createTakedown", "takedowns", "Take a performer or an image down",
				"Names exactly one of performer_id, feed_id and url_hash, with a reason. In effect at once: the performer is gone from "+
					"every list, facet, export and search, and its lookups are 410; a sync walk (updated_since with removed=any) sees "+
					"it removed; its thumbnails' image bytes (or the named hash's) are deleted unless the same bytes serve a URL hash "+
					"not taken down, and their routes answer 451; no feed run loads it again and no compactor fetches its URLs "+
					"until the takedown is lifted. taken_by records the token's name. 409 when it is taken down already.",
				nil, obj{"required": true, "content": jsonContent(ref("TakedownCreate"))},
				obj{"201": obj{"description": "Taken down", "headers": obj{"Location": headerRef("Location")},
					"content": jsonContent(ref("Takedown"))}},
				"400 BadRequest", "404 NotFound", "409 Conflict", "413 BodyTooLarge", "415 UnsupportedMediaType", "422 ValidationFailed"),
		},
		"/takedowns/{id}": obj{
			"parameters": []obj{obj{"name": "id", "in": "path", "required": true, "description": "The takedown's id.",
				"schema": obj{"type": "integer", "format": "int64", "minimum": 1}}},
			"delete": writeOp("liftTakedown", "takedowns", "Lift a takedown",
				"The takedown stays on record with lifted_at and lifted_by; the next feed run that carries the performer loads it "+
					"again and requests its images. 409 when it was lifted already.",
				nil, nil, obj{"200": obj{"description": "Lifted", "content": jsonContent(ref("Takedown"))}},
				"400 InvalidParameter", "404 NotFound", "409 Conflict"),
		},
		"/openapi.json": obj{
			"get": withoutResponse(readOp("getOpenAPI", "meta", "This OpenAPI document", "", nil,
				obj{"type": "object"}, nil, "400 InvalidParameter"), "500"), // served from memory: it cannot fail
		},
	}
	paths := obj{filesPath(): obj{"parameters": []obj{paramRef("URLHash")}, "get": imageBytesOp()}}
	for path, item := range api {
		paths[BasePath+path] = item
	}
	for _, item := range paths {
		item := item.(obj)
		first := item["get"]
		if first == nil {
			first = item["delete"]
		}
		id := first.(obj)["operationId"].(string)
		item["options"] = preflightOp("preflight" + strings.ToUpper(id[:1]) + id[1:])
	}
	return paths
}

// answerHeaders are the headers the middleware in front of the API adds to
// an answer: CORS for a page of an origin that MARQUEE_CORS_ORIGINS allows
// (server.CORS), and the coding of a compressed one (internal/compression).
func answerHeaders() obj {
	return obj{
		"Access-Control-Allow-Origin":   headerRef("AccessControlAllowOrigin"),
		"Access-Control-Expose-Headers": headerRef("AccessControlExposeHeaders"),
		"Content-Encoding":              headerRef("ContentEncoding"),
		"Vary":                          headerRef("Vary"),
	}
}

// preflightOp is the CORS preflight of a path. The server's CORS middleware
// answers it in front of the API, before the token and the rate limit are
// looked at, so it has neither 401 nor 429; without MARQUEE_CORS_ORIGINS,
// and for an OPTIONS that is no preflight, the API answers 405.
func preflightOp(id string) obj {
	return obj{
		"operationId": id,
		"tags":        []string{"cors"},
		"summary":     "CORS preflight",
		"description": "A browser asks whether a page of its origin may send the request it names. An origin of " +
			"MARQUEE_CORS_ORIGINS gets the Access-Control-* headers; any other origin the same 204 without them, " +
			"and the browser refuses the page's request. Credentials are never allowed: send the token yourself, " +
			"in Authorization.",
		"security": []obj{{}},
		"parameters": []obj{paramRef("Origin"), paramRef("AccessControlRequestMethod"),
			paramRef("AccessControlRequestHeaders")},
		"responses": obj{
			"204": obj{"description": "The preflight's answer.", "headers": obj{
				"Access-Control-Allow-Origin":  headerRef("AccessControlAllowOrigin"),
				"Access-Control-Allow-Methods": headerRef("AccessControlAllowMethods"),
				"Access-Control-Allow-Headers": headerRef("AccessControlAllowHeaders"),
				"Access-Control-Max-Age":       headerRef("AccessControlMaxAge"),
				"Vary":                         headerRef("Vary"),
			}},
			// An OPTIONS that is no preflight, or any without CORS.
			"405": respRef("MethodNotAllowed"),
		},
	}
}

// filesPath is the path of the image bytes, as FilesPattern mounts them.
func filesPath() string {
	_, path, _ := strings.Cut(FilesPattern, " ")
	return path
}

// imageBytesOp is GET /images/{url_hash}, as NewFilesHandler answers it. It
// is outside the API: no token is read and no rate limit applies, so it
// has neither 401 nor 429.
func imageBytesOp() obj {
	cached := obj{"ETag": headerRef("ImageETag"), "Cache-Control": headerRef("ImageCacheControl")}
	withBytes := func(extra obj) obj {
		headers := obj{"Accept-Ranges": headerRef("AcceptRanges"), "X-Content-Type-Options": headerRef("NoSniff"),
			"Vary": obj{"description": "`Accept` on a variant whose format the Accept header chose.", "schema": obj{"type": "string"}}}
		for k, v := range cached {
			headers[k] = v
		}
		for k, v := range extra {
			headers[k] = v
		}
		return headers
	}
	image := obj{"image/*": obj{}}
	return obj{
		"operationId": "getImageBytes",
		"tags":        []string{"images"},
		"summary":     "Get the bytes of a cached image",
		"description": "The bytes Marquee cached for the image URL, with the content type sniffed when they were fetched. " +
			"Their ETag is their SHA-256 and they never change, so caches keep them (`Cache-Control: " + filesCacheControl +
			"`). HEAD answers the same headers without the bytes. `If-None-Match` with the ETag is 304; `If-Match` with " +
			"another is 412. `Range: bytes=...` is 206 with the ranges that overlap the image (several as " +
			"multipart/byteranges), 416 with `Content-Range: bytes */SIZE` when none does; a Range of another unit " +
			"or invalid syntax is ignored (200). An image that is unknown, pending or failed, or whose bytes are " +
			"gone, is 404; one taken down is 451; its state is at " + BasePath + "/images/{url_hash}.\n\n" +
			"With `w` it is a variant instead: the image resized to that width (or less, to fit `h`; never larger " +
			"than the original), upright by its EXIF orientation, without metadata, the first frame of an animation, " +
			"encoded as `format` or, without it, as the `Accept` header prefers (`image/avif`, then `image/webp`, " +
			"else the original's format; GIF becomes PNG), with `Vary: Accept`. A variant is rendered once and " +
			"kept; its ETag is the SHA-256 of its own bytes, with the same caching, conditional and range rules. " +
			"A render that takes longer than its budget is 503 with `Retry-After`; an original that cannot be " +
			"decoded is 422.",
		"security": []obj{{}},
		"parameters": []obj{
			obj{"name": "w", "in": "query", "description": "Width of a variant, in pixels: one of the server's allowed widths " +
				"(`MARQUEE_IMAGES_WIDTHS`, by default 64, 128, 256, 512, 1024); any other is 400.", "schema": obj{"type": "integer", "minimum": 1}},
			obj{"name": "h", "in": "query", "description": "Bounding height of a variant, from the same list; needs `w`. The aspect ratio is kept.",
				"schema": obj{"type": "integer", "minimum": 1}},
			obj{"name": "format", "in": "query", "description": "Format of a variant; needs `w`. Without it, `Accept` decides.",
				"schema": obj{"type": "string", "enum": []string{"avif", "webp", "jpeg", "png"}}},
			paramRef("IfNoneMatch"), paramRef("ImageIfMatch"), paramRef("Range"), paramRef("IfRange"),
		},
		"responses": obj{
			"200": obj{"description": "The image.", "headers": withBytes(nil), "content": image},
			"206": obj{"description": "The ranges asked for: one part with Content-Range, or several as multipart/byteranges.",
				"headers": withBytes(obj{"Content-Range": headerRef("ContentRange")}),
				"content": obj{"image/*": obj{}, "multipart/byteranges": obj{}}},
			"304": obj{"description": "Not modified: the ETag in If-None-Match is these bytes'.", "headers": cached},
			"400": respRef("InvalidParameter"),
			"404": respRef("NotFound"),
			"412": respRef("PreconditionFailed"),
			"451": respRef("UnavailableForLegalReasons"),
			"416": respRef("RangeNotSatisfiable"),
			"422": respRef("Unrenderable"),
			"500": respRef("Internal"),
			"503": respRef("RenderBusy"),
		},
	}
}

// exportOp is GET /pornstars/export. Its 200 is NDJSON: the schema given
// is each line's.
func exportOp(filterParams []obj) obj {
	headers := obj{
		"Content-Disposition": obj{"description": "`attachment; filename=\"pornstars-<UTC time>.ndjson\"`: when the export was taken.",
			"required": true, "schema": obj{"type": "string", "pattern": `^attachment; filename="pornstars-[0-9]{8}T[0-9]{6}Z\.ndjson"$`}},
		"Cache-Control": obj{"description": "no-store: an export is not kept.", "schema": obj{"type": "string", "enum": []string{"no-store"}}},
	}
	return operation("exportPornstars", "pornstars", "Export performers as NDJSON",
		"Every performer matching the filters of `GET "+BasePath+"/pornstars` (the same parameters and defaults), as "+
			"newline-delimited JSON: one performer per line, exactly as the items of a list page's `data`, in `id` order. "+
			"The export is one snapshot of the database, taken when it starts: writes made while it streams (a feed run, "+
			"API writes) neither repeat nor drop a performer and do not show. It is neither paged nor sorted: `limit`, "+
			"`cursor` and `sort` are refused (400). It is streamed in batches, so it takes constant memory on the server "+
			"whatever its size, and is compressed when `Accept-Encoding` asks. Errors found before the first line are "+
			"problem documents; a failure after it cuts the response off before its end (the chunked body is not "+
			"terminated, an HTTP/2 stream is reset), which HTTP clients report as an error: only a response that ends "+
			"properly holds the whole export, and every line received is a complete performer. No ETag: the answer is "+
			"not cached.",
		filterParams,
		obj{
			"200": obj{"description": "The performers, one JSON object per line (the schema is each line's).", "headers": headers,
				"content": obj{NDJSONContentType: obj{"schema": ref("Pornstar")}}},
			"400": respRef("InvalidParameter"),
		})
}

// withoutResponse drops a response an operation cannot give.
func withoutResponse(op obj, status string) obj {
	delete(op["responses"].(obj), status)
	return op
}

// withDescription adds a description to a schema.
func withDescription(schema obj, description string) obj {
	schema["description"] = description
	return schema
}

// filterParamComponent names the component of a filter's parameter:
// hair_color is FilterHairColor.
func filterParamComponent(name string) string {
	var b strings.Builder
	b.WriteString("Filter")
	for word := range strings.SplitSeq(name, "_") {
		if word != "" {
			b.WriteString(strings.ToUpper(word[:1]) + word[1:])
		}
	}
	return b.String()
}

// sha256Hex is a SHA-256 as Marquee writes it, in lowercase hex: URL and
// content hashes alike. sha256HexPattern matches it alone.
var (
	sha256Hex        = fmt.Sprintf("[0-9a-f]{%d}", hex.EncodedLen(sha256.Size))
	sha256HexPattern = "^" + sha256Hex + "$"
)

// positiveIDPattern matches a positive int64 without leading zeros.
var positiveIDPattern = fmt.Sprintf("[1-9][0-9]{0,%d}", len(strconv.FormatInt(math.MaxInt64, 10))-1)

// slugPattern is the shape of every slug (db.IsSlug).
const slugPattern = "^[a-z0-9]+(-[a-z0-9]+)*$"

func openAPIParameters() obj {
	sortKey := "-?(" + strings.Join(db.OrderFields, "|") + ")"
	facetName := "(" + strings.Join(db.FacetNames, "|") + ")"
	params := obj{
		"PornstarID": obj{"name": "id", "in": "path", "required": true, "description": "The performer's id (not its feed id).",
			"schema": obj{"type": "integer", "format": "int64", "minimum": 1}},
		"Slug": obj{"name": "slug", "in": "path", "required": true, "description": "The performer's slug (`slug`).",
			"schema": obj{"type": "string", "pattern": slugPattern, "maxLength": db.MaxSlugLen}},
		"FeedRunID": obj{"name": "id", "in": "path", "required": true, "description": "The feed run's id.",
			"schema": obj{"type": "integer", "format": "int64", "minimum": 1}},
		"URLHash": obj{"name": "url_hash", "in": "path", "required": true,
			"description": "Lowercase hex SHA-256 of the image URL (scheme and host lower-cased).",
			"schema":      obj{"type": "string", "pattern": sha256HexPattern}},
		"Limit": obj{"name": paramLimit, "in": "query", "description": "Page size.",
			"schema": obj{"type": "integer", "minimum": 1, "maximum": db.MaxPageSize, "default": db.DefaultPageSize}},
		"Cursor": obj{"name": paramCursor, "in": "query", "description": "`next_cursor` of the previous page (opaque).",
			"schema": obj{"type": "string", "minLength": 1}},
		"Sort": obj{"name": paramSort, "in": "query",
			"description": "Comma-separated keys, each optionally prefixed with - for descending: " + strings.Join(db.OrderFields, ", ") +
				". Default rank. Ties are broken by id; unknown values sort last in both directions.",
			"schema": obj{"type": "string", "pattern": "^" + sortKey + "(," + sortKey + ")*$"}, "example": "rank,-views"},
		"Facet": obj{"name": paramFacet, "in": "query", "required": true,
			"description": "The facets to count, repeated or comma-separated, each once: " + strings.Join(db.FacetNames, ", ") + ".",
			"schema": obj{"type": "array", "minItems": 1, "maxItems": len(db.FacetNames),
				"items": obj{"type": "string", "pattern": "^" + facetName + "(," + facetName + ")*$"}},
			"style": "form", "explode": true},
		"IfNoneMatch": obj{"name": "If-None-Match", "in": "header", "description": "ETags the client holds: 304 when one matches.",
			"schema": obj{"type": "string"}},
		"ImageIfMatch": obj{"name": "If-Match", "in": "header", "description": "Only answer if the bytes have one of these ETags; 412 otherwise.",
			"schema": obj{"type": "string"}},
		"Range": obj{"name": "Range", "in": "header", "description": "Byte ranges (RFC 9110), such as `bytes=0-1023` or `bytes=-512`.",
			"schema": obj{"type": "string"}},
		"IfRange": obj{"name": "If-Range", "in": "header", "description": "Send the ranges only if the ETag is this one; else the whole image.",
			"schema": obj{"type": "string"}},
		"Origin": obj{"name": "Origin", "in": "header", "required": true, "description": "The page's origin.",
			"schema": obj{"type": "string"}},
		"AccessControlRequestMethod": obj{"name": "Access-Control-Request-Method", "in": "header", "required": true,
			"description": "The method of the request the page wants to send.", "schema": obj{"type": "string"}},
		"AccessControlRequestHeaders": obj{"name": "Access-Control-Request-Headers", "in": "header",
			"description": "The headers, beyond the CORS-safelisted ones, the page wants to send.", "schema": obj{"type": "string"}},
		"IfMatch": obj{"name": "If-Match", "in": "header",
			"description": "Only write if the performer still has this version (an ETag of it); 412 otherwise.",
			"schema":      obj{"type": "string"}},
	}
	for i := range db.FilterFields {
		field := &db.FilterFields[i]
		for _, name := range field.ParamNames() {
			params[filterParamComponent(name)] = filterParameter(field, name)
		}
	}
	return params
}

// filterParameter is the parameter name of field (one of its ParamNames),
// as parsePornstarQuery reads it.
func filterParameter(field *db.FilterField, name string) obj {
	param := obj{"name": name, "in": "query", "description": field.Description}
	// A list's values come repeated or comma-separated: an item may hold
	// several, so only the description can bound each one.
	list := func(values string, item obj) {
		param["description"] = fmt.Sprintf("%s Any of several %s, repeated or comma-separated.", field.Description, values)
		param["style"], param["explode"] = "form", true
		param["schema"] = obj{"type": "array", "maxItems": field.MaxValues, "items": item}
	}
	switch field.Kind {
	case db.FilterText:
		param["schema"] = obj{"type": "string", "maxLength": field.MaxLength}
	case db.FilterTextList:
		list(fmt.Sprintf("values (at most %d, each at most %d characters)", field.MaxValues, field.MaxLength),
			obj{"type": "string", "minLength": 1})
	case db.FilterIDList:
		list(fmt.Sprintf("positive integers (at most %d)", field.MaxValues),
			obj{"type": "string", "pattern": "^" + positiveIDPattern + "(," + positiveIDPattern + ")*$"})
	case db.FilterBool:
		param["schema"] = obj{"type": "boolean"}
	case db.FilterIntRange:
		word := "at least"
		if filterParams[name].bound == db.RangeMax {
			word = "at most"
		}
		param["description"] = fmt.Sprintf("%s %s (inclusive).", field.Name, word)
		param["schema"] = obj{"type": "integer", "format": "int64"}
	case db.FilterTime:
		param["schema"] = obj{"type": "string", "format": "date-time"}
	case db.FilterRemoved:
		param["description"] = field.Description + " With feed_id, the default is any."
		param["schema"] = obj{"type": "string", "enum": db.Removals}
	default:
		panic("rest: no parameter for the filter " + field.Name)
	}
	return param
}

func openAPIHeaders() obj {
	str := obj{"type": "string"}
	return obj{
		"ETag": obj{"description": "Strong entity tag of the representation.", "schema": str},
		"CacheControl": obj{"description": "no-cache: keep the answer, but revalidate it with If-None-Match.",
			"schema": str},
		"Location": obj{"description": "Where the new resource is.", "schema": str},
		"Link":     obj{"description": "`<...>; rel=\"next\"`: the next page, when there is one.", "schema": str},
		"Allow":    obj{"description": "The methods the route serves.", "schema": str},
		"AccessControlAllowOrigin": obj{"description": "To a page of an allowed origin: that origin, or * when every origin is allowed.",
			"schema": str},
		"AccessControlExposeHeaders": obj{"description": "To a page of an allowed origin: the headers it may read.",
			"schema": obj{"type": "string", "enum": []string{server.CORSExposeHeaders}}},
		"AccessControlAllowMethods": obj{"description": "To a page of an allowed origin: the methods it may send.",
			"schema": obj{"type": "string", "enum": []string{server.CORSAllowMethods}}},
		"AccessControlAllowHeaders": obj{"description": "To a page of an allowed origin: the headers it may send.",
			"schema": obj{"type": "string", "enum": []string{server.CORSAllowHeaders}}},
		"AccessControlMaxAge": obj{"description": "Seconds a browser may reuse the preflight's answer.",
			"schema": obj{"type": "integer", "enum": []int{server.CORSMaxAge}}},
		"Vary": obj{"description": "Accept-Encoding (answers are compressed when asked), and Origin when the answer depends on the page's origin (a list of origins is allowed).",
			"schema": str},
		"ContentEncoding": obj{"description": "The coding of a compressed answer: the one Accept-Encoding ranks highest (zstd, then br, then gzip on a tie), for text answers of at least " + strconv.Itoa(compression.MinSize) + " bytes. The ETag of a compressed answer carries the coding inside its quotes (\"7-ab12-zstd\"); either tag revalidates.",
			"schema": obj{"type": "string", "enum": codingNames()}},
		"RetryAfter":      obj{"description": "Seconds until a request would be allowed.", "schema": obj{"type": "integer", "minimum": 1}},
		"WWWAuthenticate": obj{"description": "The bearer challenge (RFC 6750).", "schema": str},
		"ImageETag": obj{"description": "The SHA-256 of the bytes, quoted: a strong ETag.", "required": true,
			"schema": obj{"type": "string", "pattern": `^"` + sha256Hex + `"$`}},
		"ImageCacheControl": obj{"description": "The bytes of a URL hash never change once cached.", "required": true,
			"schema": obj{"type": "string", "enum": []string{filesCacheControl}}},
		"AcceptRanges": obj{"description": "Byte ranges are served.", "schema": obj{"type": "string", "enum": []string{"bytes"}}},
		"NoSniff":      obj{"description": "Browsers must not sniff the type again.", "required": true, "schema": obj{"type": "string", "enum": []string{"nosniff"}}},
		"ContentRange": obj{"description": "The range sent, of a single part: `bytes FIRST-LAST/SIZE`.",
			"schema": obj{"type": "string", "pattern": "^bytes [0-9]+-[0-9]+/[0-9]+$"}},
		"UnsatisfiedRange": obj{"description": "The image's size: `bytes */SIZE`.", "required": true,
			"schema": obj{"type": "string", "pattern": "^bytes \\*/[0-9]+$"}},
	}
}

func openAPIResponses() obj {
	problem := func(description string, headers obj) obj {
		r := obj{"description": description, "content": obj{ProblemContentType: obj{"schema": ref("Problem")}}}
		if headers != nil {
			r["headers"] = headers
		}
		return r
	}
	return obj{
		"NotModified": obj{"description": "Not modified: the ETag in If-None-Match is current.",
			"headers": obj{"ETag": headerRef("ETag")}},
		"InvalidParameter": problem("A query or path parameter is unknown, repeated or has a bad value (invalid-parameter); "+
			"errors[].parameter names each.", nil),
		"BadRequest": problem("A bad parameter (invalid-parameter), or a body that is not one JSON value in UTF-8 (malformed-body).", nil),
		"Unauthenticated": problem("The write needs a bearer token, or the token given is unknown (unauthenticated).",
			obj{"WWW-Authenticate": headerRef("WWWAuthenticate")}),
		"Forbidden":                  problem("The token is read-only (forbidden).", obj{"WWW-Authenticate": headerRef("WWWAuthenticate")}),
		"NotFound":                   problem("No such resource (not-found). Unknown routes are answered the same way.", nil),
		"Gone":                       problem("The performer was taken down (taken-down).", nil),
		"UnavailableForLegalReasons": problem("The image was taken down (unavailable-for-legal-reasons).", nil),
		"MethodNotAllowed": problem("The route does not serve this method (method-not-allowed).",
			obj{"Allow": headerRef("Allow")}),
		"Conflict": problem("feed-managed: the performer comes from the feed; feed-run-active: a run is queued or running "+
			"(active_run_id and active_run name it); conflict: anything else.", nil),
		"PreconditionFailed": problem("If-Match names another version of the performer, or other bytes than the image's (precondition-failed).", nil),
		"RangeNotSatisfiable": problem("No byte range asked for overlaps the image (range-not-satisfiable).",
			obj{"Content-Range": headerRef("UnsatisfiedRange")}),
		"BodyTooLarge":         problem("The body is over the size cap (body-too-large).", nil),
		"UnsupportedMediaType": problem("The Content-Type is not accepted (unsupported-media-type).", obj{"Accept-Patch": obj{"schema": obj{"type": "string"}, "description": "On PATCH: the accepted media types."}}),
		"ValidationFailed": problem("Well-formed JSON with wrong types, unknown or read-only members or invalid values "+
			"(validation-failed); errors[].pointer names each member.", nil),
		"RateLimited":  problem("The caller's rate limit is spent (rate-limited).", obj{"Retry-After": headerRef("RetryAfter")}),
		"Internal":     problem("The server failed (internal); the failure is logged, never described.", nil),
		"Unrenderable": problem("The original cannot be decoded for a variant (unrenderable-image); it is served without `w`.", nil),
		"RenderBusy": problem("The variant was not rendered within its budget (render-busy); the render goes on, so a retry "+
			"after Retry-After usually finds it.", obj{"Retry-After": headerRef("RetryAfter")}),
	}
}

// ruleSchema is the JSON Schema of a value that rule accepts: the one
// definition of a valid value (db.FieldRule), so the document cannot say
// otherwise than the writers do.
func ruleSchema(rule db.FieldRule) obj {
	nonBlank := "\\S"
	typ := func(t string) any {
		if rule.Required {
			return t
		}
		return nullable(t)
	}
	switch rule.Kind {
	case db.KindInteger:
		format := "int64"
		if rule.Max <= math.MaxInt32 {
			format = "int32"
		}
		return obj{"type": typ("integer"), "format": format, "minimum": rule.Min, "maximum": rule.Max}
	case db.KindText:
		out := obj{"type": typ("string"), "maxLength": rule.MaxLength}
		if rule.Required {
			out["minLength"], out["pattern"] = 1, nonBlank
		}
		return out
	case db.KindTextList:
		item := obj{"type": "string", "maxLength": rule.MaxLength}
		if rule.NoBlankItems {
			item["minLength"], item["pattern"] = 1, nonBlank
		}
		return obj{"type": typ("array"), "maxItems": rule.MaxItems, "items": item}
	case db.KindBoolean:
		return obj{"type": typ("boolean")}
	}
	panic("rest: no schema for the rule of " + rule.Name)
}

func openAPISchemas() obj {
	timestamp := obj{"type": "string", "format": "date-time"}
	nullTimestamp := obj{"type": nullable("string"), "format": "date-time"}
	thumbRule := func(name string) obj {
		r, _ := db.Rule("thumbnails/" + name)
		return ruleSchema(r)
	}
	// A thumbnail's type is never null, but may be empty.
	thumbType := func() obj {
		schema := thumbRule("type")
		schema["type"] = "string"
		return schema
	}

	// profile are the members of a performer that clients write, as the
	// rules have them; the feed and the store keep to the same rules, so
	// the representation shows them too.
	profile := obj{}
	profileOrder := make([]string, len(db.ProfileRules))
	for i, r := range db.ProfileRules {
		profile[r.Name] = ruleSchema(r)
		profileOrder[i] = r.Name
	}
	aliasesWrite := ruleSchema(db.AliasesRule)
	aliasesWrite["description"] = "null or absent: none. Duplicates (ignoring case) and blank entries are dropped."
	thumbsWrite := func(item string) obj {
		return obj{"type": nullable("array"), "maxItems": db.ThumbnailsRule.MaxItems, "description": "null or absent: none.", "items": ref(item)}
	}

	writeProps := func(thumbnail string) obj {
		props := obj{}
		for k, v := range profile {
			props[k] = v
		}
		props["aliases"] = aliasesWrite
		props["thumbnails"] = thumbsWrite(thumbnail)
		return props
	}
	readOnlyProps := obj{
		"id":      obj{"type": "integer", "format": "int64", "minimum": 1},
		"feed_id": obj{"type": nullable("integer"), "format": "int64", "description": "The id in the feed; null for performers created through an API."},
		"slug": obj{"type": "string", "pattern": slugPattern, "maxLength": db.MaxSlugLen,
			"description": "The performer's name in URLs, unique among performers and never changed while it exists: the last " +
				"path segment of the link, else (and for performers created through an API) the name, folded to lower-case " +
				"ASCII letters, digits and hyphens; a clash takes the smallest free suffix from -2, in creation order."},
		"version":    obj{"type": "integer", "format": "int64", "minimum": 1, "description": "Bumped by every write."},
		"removed_at": obj{"type": nullable("string"), "format": "date-time", "description": "When the performer left the feed; null while in it."},
		"deleted_at": obj{"type": nullable("string"), "format": "date-time", "description": "When the performer, made through the API, was deleted " +
			"through it. Only a sync walk (updated_since) lists deleted performers, with removed_at set and no aliases or thumbnails, " +
			"so that a mirror drops them; every other read answers as if they never were."},
		"created_at": timestamp,
		"updated_at": timestamp,
	}
	pornstarProps := obj{
		"aliases": obj{"type": "array", "maxItems": db.AliasesRule.MaxItems,
			"items": obj{"type": "string", "maxLength": db.AliasesRule.MaxLength}},
		"thumbnails": obj{"type": "array", "maxItems": db.ThumbnailsRule.MaxItems, "items": ref("Thumbnail")},
	}
	for _, props := range []obj{readOnlyProps, profile} {
		for k, v := range props {
			pornstarProps[k] = v
		}
	}
	pornstarRequired := append([]string{"id", "feed_id", "slug"}, profileOrder...)
	pornstarRequired = append(pornstarRequired, "aliases", "thumbnails", "version", "removed_at", "deleted_at", "created_at", "updated_at")

	// PUT and PATCH take what GET gives: read-only members as stored.
	replaceProps := writeProps("ThumbnailUpdate")
	for k, v := range readOnlyProps {
		replaceProps[k] = v
	}
	patchProps := writeProps("ThumbnailUpdate")
	for k, v := range readOnlyProps {
		patchProps[k] = v
	}
	patchName := ruleSchema(db.ProfileRules[0])
	patchName["description"] = "Cannot be cleared."
	patchProps["name"] = patchName

	thumbnailWriteProps := func() obj {
		return obj{
			"type":     thumbType(),
			"width":    thumbRule("width"),
			"height":   thumbRule("height"),
			"url":      thumbRule("url"),
			"url_hash": obj{"type": "string", "pattern": sha256HexPattern, "description": "Optional; must be the hash of url."},
		}
	}
	thumbnailUpdateProps := thumbnailWriteProps()
	thumbnailUpdateProps["image"] = obj{"description": "The image's state, as GET shows it: ignored."}

	problemTypes := make([]string, len(problemKinds))
	for i, k := range problemKinds {
		problemTypes[i] = k.typeURI()
	}

	runProps := obj{
		"id":                         obj{"type": "integer", "format": "int64"},
		"status":                     obj{"type": "string", "enum": []string{db.RunQueued, db.RunRunning, db.RunCompleted, db.RunNotModified, db.RunFailed}},
		"requested_by":               obj{"type": "string", "description": "schedule, startup, api or cli."},
		"force":                      obj{"type": "boolean"},
		"source":                     obj{"type": nullable("string"), "description": "The feed source, without credentials."},
		"http_status":                obj{"type": nullable("integer")},
		"etag":                       obj{"type": nullable("string"), "description": "The feed's ETag."},
		"last_modified":              obj{"type": nullable("string"), "description": "The feed's Last-Modified."},
		"generation_date":            nullTimestamp,
		"bytes":                      obj{"type": "integer", "format": "int64"},
		"items_seen":                 obj{"type": "integer", "format": "int64"},
		"items_valid":                obj{"type": "integer", "format": "int64"},
		"items_rejected":             obj{"type": "integer", "format": "int64"},
		"items_changed":              obj{"type": "integer", "format": "int64"},
		"items_removed":              obj{"type": "integer", "format": "int64"},
		"images_requested":           obj{"type": "integer", "format": "int64"},
		"items_taken_down":           obj{"type": "integer", "format": "int64", "description": "Valid items kept out because their performer is taken down."},
		"removals_suppressed":        obj{"type": "boolean", "description": "Performers missing from the feed were not removed: its distinct valid ids fell by more than MARQUEE_FEED_MAX_SHRINK, more than MARQUEE_FEED_MAX_REJECTED of its items were rejected, or no item had a readable id."},
		"removals_suppressed_reason": obj{"type": nullable("string"), "description": "Which rule suppressed the removals, with its numbers; null when removals_suppressed is false."},
		"warnings": obj{"type": "integer", "format": "int64", "minimum": 0,
			"description": "Feed values stored as unknown because their field's rule refused them; listed at /feed-runs/{id}/warnings."},
		"error":       obj{"type": nullable("string")},
		"queued_at":   timestamp,
		"started_at":  nullTimestamp,
		"finished_at": nullTimestamp,
		"updated_at":  timestamp,
		"version":     obj{"type": "integer", "format": "int64"},
	}
	runRequired := sortedKeys(runProps)
	runDetailProps := obj{}
	for k, v := range runProps {
		runDetailProps[k] = v
	}
	runDetailProps["rejects"] = obj{"type": "array", "maxItems": maxRejectsShown, "items": ref("FeedRunReject"),
		"description": fmt.Sprintf("Up to %d rejected items, in feed order; items_rejected counts them all.", maxRejectsShown)}

	page := func(item string) obj {
		return obj{"type": "object", "additionalProperties": false, "required": []string{"data", "next_cursor", "total"},
			"properties": obj{
				"data":        obj{"type": "array", "items": ref(item)},
				"next_cursor": obj{"type": nullable("string"), "description": "The cursor of the next page; null on the last one."},
				"total":       obj{"type": "integer", "format": "int64", "minimum": 0, "description": "How many items the whole list holds."},
			}}
	}

	return obj{
		"Pornstar": obj{"type": "object", "additionalProperties": false, "required": pornstarRequired, "properties": pornstarProps},
		"PornstarWrite": obj{"type": "object", "additionalProperties": false, "required": []string{"name"}, "properties": writeProps("ThumbnailWrite"),
			"description": "A performer as POST takes it. Absent members are null (unknown). id, feed_id, slug, version, " +
				"removed_at, deleted_at, created_at and updated_at are read-only: naming them is 422."},
		"PornstarReplace": obj{"type": "object", "additionalProperties": false, "required": []string{"name"}, "properties": replaceProps,
			"description": "A performer as PUT takes it: absent members are null (unknown). The read-only members id, feed_id, slug, " +
				"version, removed_at, deleted_at, created_at and updated_at may be sent as GET showed them: a value other than the stored one is 422."},
		"PornstarPatch": obj{"type": "object", "additionalProperties": false, "properties": patchProps,
			"description": "A JSON Merge Patch (RFC 7396) of a performer; read-only members as for PUT."},
		"Thumbnail": obj{"type": "object", "additionalProperties": false,
			"required": []string{"type", "width", "height", "url", "url_hash", "image"},
			"properties": obj{
				"type":     withDescription(thumbType(), "pc, mobile or tablet in the feed."),
				"width":    thumbRule("width"),
				"height":   thumbRule("height"),
				"url":      withDescription(thumbRule("url"), "The image's source URL."),
				"url_hash": obj{"type": "string", "pattern": sha256HexPattern},
				"image":    ref("Image"),
			}},
		"ThumbnailWrite": obj{"type": "object", "additionalProperties": false, "required": []string{"type", "url"},
			"properties": thumbnailWriteProps()},
		"ThumbnailUpdate": obj{"type": "object", "additionalProperties": false, "required": []string{"type", "url"},
			"properties": thumbnailUpdateProps, "description": "A thumbnail as PUT and PATCH take it: image, as GET shows it, is ignored."},
		"Image": obj{"type": "object", "additionalProperties": false,
			"required": []string{"url_hash", "status", "url", "source_url", "content_type", "content_sha256", "bytes", "width", "height", "attempts", "error", "fetched_at", "srcset", "placeholder"},
			"properties": obj{
				"url_hash":       obj{"type": "string", "pattern": sha256HexPattern},
				"status":         obj{"type": "string", "enum": []string{db.ImagePending, db.ImageCached, db.ImageFailed}},
				"url":            obj{"type": nullable("string"), "description": "Where the cached bytes are, once cached, else null: /images/{url_hash}, or an absolute URL below MARQUEE_IMAGES_PUBLIC_URL (or MARQUEE_PUBLIC_URL) when set."},
				"source_url":     obj{"type": "string"},
				"content_type":   obj{"type": nullable("string")},
				"content_sha256": obj{"type": nullable("string")},
				"bytes":          obj{"type": nullable("integer"), "format": "int64"},
				"width":          obj{"type": nullable("integer"), "format": "int32"},
				"height":         obj{"type": nullable("integer"), "format": "int32"},
				"attempts":       obj{"type": "integer", "format": "int32"},
				"error":          obj{"type": nullable("string"), "description": "Why the image failed."},
				"fetched_at":     nullTimestamp,
				"srcset": obj{"type": nullable("string"), "description": "For an img element's srcset, once cached: the variants at the " +
					"server's allowed widths below the image's own (url?w=N Nw), then url at its width. Each variant's format follows " +
					"the browser's Accept (AVIF, WebP, else the original's). Null while pending or failed, or when the server renders no variants."},
				"placeholder": obj{"type": nullable("string"), "description": "A BlurHash of the cached image (docs/images.md, " +
					"\"Placeholders\") to paint while it loads; null while pending or failed, and for images cached before placeholders."},
			}},
		"PornstarPage":   page("Pornstar"),
		"PornstarFacets": facetsSchema(),
		"FacetValue": obj{"type": "object", "additionalProperties": false, "required": []string{"value", "count"},
			"properties": obj{
				"value": obj{"type": nullable("string"), "description": "As the filter of the facet's name takes it; null: unknown."},
				"count": obj{"type": "integer", "format": "int64", "minimum": 1},
			}},
		"Histogram": obj{"type": "object", "additionalProperties": false, "required": []string{"min", "max", "unknown", "buckets"},
			"properties": obj{
				"min":     obj{"type": nullable("integer"), "format": "int64", "description": "The least value counted; null when none was."},
				"max":     obj{"type": nullable("integer"), "format": "int64", "description": "The greatest value counted; null when none was."},
				"unknown": obj{"type": "integer", "format": "int64", "minimum": 0, "description": "Performers without a value."},
				"buckets": obj{"type": "array", "items": ref("HistogramBucket"),
					"description": "Every bucket of the facet's fixed edges (docs/api.md), in order, empty ones included."},
			}},
		"HistogramBucket": obj{"type": "object", "additionalProperties": false, "required": []string{"min", "max", "count"},
			"properties": obj{
				"min":   obj{"type": "integer", "format": "int64", "description": "The least value of the bucket (the range filter's _min)."},
				"max":   obj{"type": nullable("integer"), "format": "int64", "description": "The greatest value of the bucket (the range filter's _max); null: no bound."},
				"count": obj{"type": "integer", "format": "int64", "minimum": 0},
			}},
		"AliasList": obj{"type": "object", "additionalProperties": false, "required": []string{"data"},
			"properties": obj{"data": obj{"type": "array", "items": obj{"type": "string"}}}},
		"ThumbnailList": obj{"type": "object", "additionalProperties": false, "required": []string{"data"},
			"properties": obj{"data": obj{"type": "array", "items": ref("Thumbnail")}}},
		"FeedRun":       obj{"type": "object", "additionalProperties": false, "required": runRequired, "properties": runProps},
		"FeedRunDetail": obj{"type": "object", "additionalProperties": false, "required": append(runRequired, "rejects"), "properties": runDetailProps},
		"FeedRunReject": obj{"type": "object", "additionalProperties": false, "required": []string{"item_index", "feed_id", "reason"},
			"properties": obj{
				"item_index": obj{"type": "integer", "format": "int64", "description": "0-based index in the feed's items."},
				"feed_id":    obj{"type": nullable("integer"), "format": "int64"},
				"reason":     obj{"type": "string"},
			}},
		"FeedRunPage": page("FeedRun"),
		"Takedown":    takedownSchema(),
		"TakedownList": obj{"type": "object", "additionalProperties": false, "required": []string{"data"},
			"properties": obj{"data": obj{"type": "array", "items": ref("Takedown")}}},
		"TakedownCreate": obj{"type": "object", "additionalProperties": false, "required": []string{"reason"},
			"minProperties": 2, "maxProperties": 2,
			"properties": obj{
				"performer_id": obj{"type": "integer", "format": "int64", "minimum": 1},
				"feed_id":      obj{"type": "integer", "format": "int64", "minimum": 1},
				"url_hash":     obj{"type": "string", "pattern": "^[0-9a-f]{64}$"},
				"reason":       obj{"type": "string", "minLength": 1},
			}},
		"FeedRunWarning": obj{"type": "object", "additionalProperties": false, "required": []string{"item_index", "feed_id", "field", "value", "reason"},
			"properties": obj{
				"item_index": obj{"type": "integer", "format": "int64", "description": "0-based index in the feed's items."},
				"feed_id":    obj{"type": nullable("integer"), "format": "int64"},
				"field":      obj{"type": "string", "description": "The value's field, as the performer's members name it (`age`, `thumbnails/0/width`)."},
				"value":      obj{"type": "string", "description": "The refused value as JSON, cut to a readable length."},
				"reason":     obj{"type": "string", "description": "The rule it broke."},
			}},
		"FeedRunWarningPage": page("FeedRunWarning"),
		"FeedRunStart": obj{"type": "object", "additionalProperties": false,
			"properties": obj{"force": obj{"type": "boolean", "description": "Fetch the feed unconditionally (no If-None-Match / If-Modified-Since)."}}},
		"Problem": obj{"type": "object", "required": []string{"type", "title", "status", "detail"},
			"description": "An RFC 9457 problem document.",
			"properties": obj{
				"type":          obj{"type": "string", "enum": problemTypes},
				"title":         obj{"type": "string"},
				"status":        obj{"type": "integer", "minimum": 400, "maximum": 599},
				"detail":        obj{"type": "string"},
				"instance":      obj{"type": "string"},
				"errors":        obj{"type": "array", "items": ref("ProblemError")},
				"active_run_id": obj{"type": "integer", "format": "int64", "description": "feed-run-active: the run that is queued or running."},
				"active_run":    obj{"type": "string", "description": "feed-run-active: that run's location."},
			}},
		"ProblemError": obj{"type": "object", "required": []string{"detail"}, "additionalProperties": false,
			"properties": obj{
				"pointer":   obj{"type": "string", "description": "422: JSON pointer (RFC 6901) to the member of the body; \"\" for the whole body."},
				"parameter": obj{"type": "string", "description": "400: the query or path parameter."},
				"detail":    obj{"type": "string"},
			}},
	}
}

// facetsSchema is the answer of GET /pornstars/facets: each facet of
// db.FacetFields as its kind has it.
func facetsSchema() obj {
	facets := obj{}
	for _, ff := range db.FacetFields {
		if ff.Kind == db.FacetValues {
			facets[ff.Name] = obj{"type": "array", "items": ref("FacetValue"), "description": ff.Description}
		} else {
			facets[ff.Name] = withDescription(ref("Histogram"), ff.Description)
		}
	}
	return obj{"type": "object", "additionalProperties": false, "required": []string{"total", "facets"},
		"properties": obj{
			"total":  obj{"type": "integer", "format": "int64", "minimum": 0, "description": "How many performers every filter selects."},
			"facets": obj{"type": "object", "additionalProperties": false, "properties": facets, "description": "The facets asked for, by name."},
		}}
}

// codingNames are the content codings the API compresses with.
func codingNames() []string {
	names := make([]string, len(compression.Codings))
	for i, c := range compression.Codings {
		names[i] = c.String()
	}
	return names
}

// takedownSchema is a takedown as the API shows it.
func takedownSchema() obj {
	hashes := obj{"type": "array", "items": obj{"type": "string", "pattern": "^[0-9a-f]{64}$"}}
	props := obj{
		"id":           obj{"type": "integer", "format": "int64"},
		"performer_id": obj{"type": nullable("integer"), "format": "int64"},
		"feed_id":      obj{"type": nullable("integer"), "format": "int64"},
		"url_hash":     obj{"type": nullable("string"), "description": "The image taken down; null for a performer takedown."},
		"reason":       obj{"type": "string"},
		"taken_by":     obj{"type": "string", "description": "The token's name (api for a token without one), or cli."},
		"created_at":   obj{"type": "string", "format": "date-time"},
		"url_hashes":   withDescription(hashes, "Every URL hash the takedown covers: the performer's thumbnails when it was taken down, or the one named."),
		"deleted_files": withDescription(obj{"type": "array", "items": obj{"type": "string"}},
			"Content hashes (SHA-256) of the image files deleted."),
		"kept_files": withDescription(obj{"type": "array", "items": obj{"type": "string"}},
			"Content hashes of files kept because the same bytes still serve a URL hash not taken down."),
		"files_not_deleted": withDescription(obj{"type": "array", "items": obj{"type": "string"}},
			"Only in the answer to POST, when the API could not delete some of deleted_files (no write access to the image store)."),
		"lifted_at": obj{"type": nullable("string"), "format": "date-time"},
		"lifted_by": obj{"type": nullable("string")},
	}
	required := sortedKeys(props)
	required = slices.DeleteFunc(required, func(k string) bool { return k == "files_not_deleted" })
	return obj{"type": "object", "additionalProperties": false, "required": required, "properties": props}
}

package db

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// PornstarFields are the descriptive fields a performer has, whether it came
// from the feed or was written through an API. Unknown is nil (NULL in the
// database, null in JSON), never a zero value.
type PornstarFields struct {
	Name                 string     `bun:"name" json:"name"`
	License              *string    `bun:"license" json:"license"`
	WLStatus             *bool      `bun:"wl_status" json:"wl_status"`
	Link                 *string    `bun:"link" json:"link"`
	HairColors           StringList `bun:"hair_colors" json:"hair_colors"`
	Ethnicities          StringList `bun:"ethnicities" json:"ethnicities"`
	Tattoos              *bool      `bun:"tattoos" json:"tattoos"`
	Piercings            *bool      `bun:"piercings" json:"piercings"`
	BreastSize           *int32     `bun:"breast_size" json:"breast_size"`
	BreastType           *string    `bun:"breast_type" json:"breast_type"`
	Gender               *string    `bun:"gender" json:"gender"`
	Orientation          *string    `bun:"orientation" json:"orientation"`
	Age                  *int32     `bun:"age" json:"age"`
	Subscriptions        *int64     `bun:"subscriptions" json:"subscriptions"`
	MonthlySearches      *int64     `bun:"monthly_searches" json:"monthly_searches"`
	Views                *int64     `bun:"views" json:"views"`
	VideosCount          *int64     `bun:"videos_count" json:"videos_count"`
	PremiumVideosCount   *int64     `bun:"premium_videos_count" json:"premium_videos_count"`
	WhiteLabelVideoCount *int64     `bun:"white_label_video_count" json:"white_label_video_count"`
	Rank                 *int64     `bun:"rank" json:"rank"`
	RankPremium          *int64     `bun:"rank_premium" json:"rank_premium"`
	RankWL               *int64     `bun:"rank_wl" json:"rank_wl"`
}

// Pornstar is one row of pornstars. Aliases and thumbnails are loaded apart
// (Store.Aliases, Store.Thumbnails), so a page of performers costs one query
// per relation, not one per performer.
type Pornstar struct {
	bun.BaseModel `bun:"table:pornstars,alias:p"`

	ID int64 `bun:"id,pk,autoincrement"`
	// ExternalID is the feed id; nil for records created through an API.
	ExternalID *int64 `bun:"external_id"`
	// Slug is the performer's unique name in URLs, given when the row is
	// created and never changed (docs/api.md, "Slugs"). Empty only for a
	// row of a database that Migrate has not yet backfilled.
	Slug string `bun:"slug,nullzero"`
	PornstarFields
	// NameKey is the lower-cased name, the sort key of "order by name".
	NameKey string `bun:"name_key"`
	// SearchText is the name, then each alias, as search folds them into
	// words (joined by spaces), one per line: what the relevance of q reads.
	SearchText string `bun:"search_text"`
	// ContentHash is the hash of the feed profile last written; nil for API records.
	ContentHash *string `bun:"content_hash"`
	// Version is bumped on every write; the APIs' ETags come from it.
	Version   int64      `bun:"version"`
	RemovedAt *time.Time `bun:"removed_at"`
	// DeletedAt is set when a performer made through an API was deleted
	// through it: the row is a tombstone, seen only by sync walks.
	DeletedAt *time.Time `bun:"deleted_at"`
	CreatedAt time.Time  `bun:"created_at"`
	UpdatedAt time.Time  `bun:"updated_at"`
	// Relevance is the row's relevance tier (OrderRelevance) in a list
	// ordered by it, 0 the best; zero elsewhere.
	Relevance int64 `bun:"relevance,scanonly"`
}

// Alias is one row of aliases.
type Alias struct {
	bun.BaseModel `bun:"table:aliases,alias:a"`

	ID         int64  `bun:"id,pk,autoincrement"`
	PornstarID int64  `bun:"pornstar_id"`
	Position   int32  `bun:"position"`
	Alias      string `bun:"alias"`
	// AliasKey is the lower-cased alias: unique per performer.
	AliasKey string `bun:"alias_key"`
}

// Thumbnail is one row of thumbnails: one URL of one thumbnail entry.
type Thumbnail struct {
	bun.BaseModel `bun:"table:thumbnails,alias:t"`

	ID         int64  `bun:"id,pk,autoincrement"`
	PornstarID int64  `bun:"pornstar_id"`
	Position   int32  `bun:"position"`
	Type       string `bun:"type"`
	Width      *int32 `bun:"width"`
	Height     *int32 `bun:"height"`
	URL        string `bun:"url"`
	URLHash    string `bun:"url_hash"`
}

// pornstarTag is one value of a multi-valued attribute, lower-cased.
type pornstarTag struct {
	bun.BaseModel `bun:"table:pornstar_tags,alias:pt"`

	Attribute  string `bun:"attribute,pk"`
	Value      string `bun:"value,pk"`
	PornstarID int64  `bun:"pornstar_id,pk"`
}

// Tag attributes stored in pornstar_tags.
const (
	tagHairColor = "hair_color"
	tagEthnicity = "ethnicity"
)

// Image states, as stored and as published on marquee.images. An image with
// no row is pending.
const (
	ImagePending = "pending"
	ImageCached  = "cached"
	ImageFailed  = "failed"
)

// ImageState is the outcome of fetching one image URL, as the compactor
// publishes it on marquee.images (the JSON names are that topic's).
type ImageState struct {
	URLHash       string     `bun:"url_hash,pk" json:"url_hash"`
	URL           string     `bun:"url" json:"url"`
	Status        string     `bun:"status" json:"status"`
	ContentSHA256 *string    `bun:"content_sha256" json:"content_sha256"`
	ContentType   *string    `bun:"content_type" json:"content_type"`
	Bytes         *int64     `bun:"bytes" json:"bytes"`
	Width         *int32     `bun:"width" json:"width"`
	Height        *int32     `bun:"height" json:"height"`
	Attempts      int32      `bun:"attempts" json:"attempts"`
	Error         *string    `bun:"error" json:"error"`
	FetchedAt     *time.Time `bun:"fetched_at" json:"fetched_at"`
	// Placeholder is the BlurHash of a cached image (docs/images.md), nil
	// for a failed one and for outcomes published before placeholders.
	Placeholder *string `bun:"placeholder" json:"placeholder,omitempty"`
}

// Image is one row of images.
type Image struct {
	bun.BaseModel `bun:"table:images,alias:i"`

	ImageState
	Version   int64     `bun:"version"`
	CreatedAt time.Time `bun:"created_at"`
	UpdatedAt time.Time `bun:"updated_at"`
}

// Feed run statuses.
const (
	RunQueued      = "queued"
	RunRunning     = "running"
	RunCompleted   = "completed"
	RunNotModified = "not_modified"
	RunFailed      = "failed"
)

// FeedRun is one row of feed_runs: one attempt to ingest the feed.
type FeedRun struct {
	bun.BaseModel `bun:"table:feed_runs,alias:fr"`

	ID     int64  `bun:"id,pk,autoincrement"`
	Status string `bun:"status"`
	// activeSlot is 1 while queued or running; its unique index allows one
	// active run at a time across every process.
	ActiveSlot  *int32 `bun:"active_slot"`
	RequestedBy string `bun:"requested_by"`
	Force       bool   `bun:"force_run"`
	FeedRunResult
	Version   int64      `bun:"version"`
	QueuedAt  time.Time  `bun:"queued_at"`
	StartedAt *time.Time `bun:"started_at"`
	UpdatedAt time.Time  `bun:"updated_at"`
}

// FeedRunResult is what a finished run records.
type FeedRunResult struct {
	Source          *string    `bun:"source"`
	HTTPStatus      *int32     `bun:"http_status"`
	ETag            *string    `bun:"etag"`
	LastModified    *string    `bun:"last_modified"`
	GenerationDate  *time.Time `bun:"generation_date"`
	Bytes           int64      `bun:"bytes"`
	ItemsSeen       int64      `bun:"items_seen"`
	ItemsValid      int64      `bun:"items_valid"`
	ItemsRejected   int64      `bun:"items_rejected"`
	ItemsChanged    int64      `bun:"items_changed"`
	ItemsRemoved    int64      `bun:"items_removed"`
	ImagesRequested int64      `bun:"images_requested"`
	// ItemsTakenDown counts the valid items the run kept out because their
	// performer is taken down.
	ItemsTakenDown     int64 `bun:"items_taken_down"`
	RemovalsSuppressed bool  `bun:"removals_suppressed"`
	// RemovalsSuppressedReason says which rule withheld the removals, with
	// its numbers; nil when RemovalsSuppressed is false.
	RemovalsSuppressedReason *string    `bun:"removals_suppressed_reason"`
	Error                    *string    `bun:"error"`
	FinishedAt               *time.Time `bun:"finished_at"`
	// Warnings counts the feed values stored as unknown because their
	// field's rule refused them (the first MaxWarningsPerRun are kept).
	Warnings int64 `bun:"warnings"`
}

// FeedRunReject is one feed item a run rejected, with the reason.
type FeedRunReject struct {
	bun.BaseModel `bun:"table:feed_run_rejects,alias:frr"`

	ID        int64  `bun:"id,pk,autoincrement"`
	FeedRunID int64  `bun:"feed_run_id"`
	ItemIndex int64  `bun:"item_index"`
	FeedID    *int64 `bun:"feed_id"`
	Reason    string `bun:"reason"`
}

// FeedRunWarning is one feed value a run stored as unknown because its
// field's rule (FieldRule) refused it.
type FeedRunWarning struct {
	bun.BaseModel `bun:"table:feed_run_warnings,alias:frw"`

	ID        int64  `bun:"id,pk,autoincrement"`
	FeedRunID int64  `bun:"feed_run_id"`
	ItemIndex int64  `bun:"item_index"`
	FeedID    *int64 `bun:"feed_id"`
	// Field is the path of the value, as FieldError has it ("age",
	// "thumbnails/0/width").
	Field string `bun:"field"`
	// Value is the refused value as the feed gave it, cut to a readable length.
	Value  string `bun:"raw_value"`
	Reason string `bun:"reason"`
}

// StringList is a list of strings stored as a JSON array; nil is NULL
// (unknown), which stays distinct from an empty list.
type StringList []string

// Value implements driver.Valuer.
func (l StringList) Value() (driver.Value, error) {
	if l == nil {
		return nil, nil
	}
	b, err := json.Marshal([]string(l))
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// Scan implements sql.Scanner.
func (l *StringList) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*l = nil
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("db: StringList: cannot scan %T", src)
	}
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("db: StringList: %w", err)
	}
	if out == nil {
		out = []string{}
	}
	*l = out
	return nil
}

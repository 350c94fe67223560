package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"marquee/bus"
	"marquee/db"
)

// loaderStore is what the Loader needs of db.Store.
type loaderStore interface {
	UpsertProfiles(ctx context.Context, profiles []db.Profile) (db.UpsertResult, error)
	MarkRemoved(ctx context.Context, feedIDs []int64) (int64, error)
	UpsertImages(ctx context.Context, states []db.ImageState) error
}

// Loader writes what ingest publishes on marquee.pornstars, and what the
// image compactor publishes on marquee.images, into the database. Its
// handlers are idempotent: a redelivered batch changes nothing. They only
// read the fields, so one Loader may serve several consumers.
type Loader struct {
	Store loaderStore
	// Logger receives the messages dead-lettered. Nil means slog.Default().
	Logger *slog.Logger
}

// withDefaults returns what the handlers use: a copy of l with the default
// of every zero field.
func (l *Loader) withDefaults() *Loader {
	c := *l
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return &c
}

// ErrPoisonMessage marks a message that can never be applied: it is
// dead-lettered, never retried.
var ErrPoisonMessage = errors.New("poison message")

func poison(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrPoisonMessage, fmt.Sprintf(format, args...))
}

// HandleProfiles applies one batch of marquee.pornstars: profiles are
// upserted, tombstones mark performers removed. For each feed id only the
// batch's last message counts, as on the compacted topic. A message that
// cannot be decoded or that the store refuses is dead-lettered; a database
// failure fails the whole batch, so that it is retried.
func (l *Loader) HandleProfiles(ctx context.Context, msgs []bus.Message) ([]bus.DeadLetter, error) {
	var dead []bus.DeadLetter
	last := make(map[int64]int, len(msgs)) // feed id -> index of its last good message
	profiles := make(map[int64]*db.Profile, len(msgs))
	var order []int64
	for i, m := range msgs {
		feedID, p, err := decodeProfileMessage(m)
		if err != nil {
			dead = append(dead, bus.DeadLetter{Message: m, Err: err})
			continue
		}
		if _, ok := last[feedID]; !ok {
			order = append(order, feedID)
		}
		last[feedID] = i
		profiles[feedID] = p // nil for a tombstone
	}

	var upserts []db.Profile
	var upsertMsg []int
	var removals []int64
	for _, feedID := range order {
		if p := profiles[feedID]; p != nil {
			upserts = append(upserts, *p)
			upsertMsg = append(upsertMsg, last[feedID])
		} else {
			removals = append(removals, feedID)
		}
	}
	for len(upserts) > 0 {
		_, err := l.Store.UpsertProfiles(ctx, upserts)
		var perr *db.ProfileError
		if errors.As(err, &perr) && perr.Index >= 0 && perr.Index < len(upserts) {
			// The store refused one profile and wrote nothing: set it aside
			// and write the others.
			dead = append(dead, bus.DeadLetter{Message: msgs[upsertMsg[perr.Index]], Err: fmt.Errorf("%w: %v", ErrPoisonMessage, perr)})
			upserts = append(upserts[:perr.Index], upserts[perr.Index+1:]...)
			upsertMsg = append(upsertMsg[:perr.Index], upsertMsg[perr.Index+1:]...)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("load profiles: %w", err)
		}
		break
	}
	if len(removals) > 0 {
		if _, err := l.Store.MarkRemoved(ctx, removals); err != nil {
			return nil, fmt.Errorf("load removals: %w", err)
		}
	}
	l.logDead(dead)
	return dead, nil
}

func decodeProfileMessage(m bus.Message) (int64, *db.Profile, error) {
	feedID, err := strconv.ParseInt(m.Key, 10, 64)
	if err != nil || feedID <= 0 {
		return 0, nil, poison("key %q is not a feed id", m.Key)
	}
	if m.Value == nil {
		return feedID, nil, nil
	}
	var p db.Profile
	if err := json.Unmarshal(m.Value, &p); err != nil {
		return 0, nil, poison("value is not a profile: %v", err)
	}
	if p.SchemaVersion > db.ProfileSchemaVersion {
		return 0, nil, poison("schema_version %d is newer than this loader's %d", p.SchemaVersion, db.ProfileSchemaVersion)
	}
	if p.FeedID != feedID {
		return 0, nil, poison("feed_id %d does not match the key %q", p.FeedID, m.Key)
	}
	// A profile published before a field rule existed (a negative count)
	// is loaded with that value unknown, as ingest publishes it today; the
	// next feed run republishes it (its hash differs). What is still
	// invalid after that the store refuses (a *db.ProfileError), and
	// HandleProfiles dead-letters it then: the profile is checked once.
	db.ReplaceInvalid(&p)
	return feedID, &p, nil
}

// HandleImages applies one batch of marquee.images.
func (l *Loader) HandleImages(ctx context.Context, msgs []bus.Message) ([]bus.DeadLetter, error) {
	var dead []bus.DeadLetter
	states := make([]db.ImageState, 0, len(msgs))
	for _, m := range msgs {
		st, err := decodeImageMessage(m)
		if err != nil {
			dead = append(dead, bus.DeadLetter{Message: m, Err: err})
			continue
		}
		states = append(states, st)
	}
	if err := l.Store.UpsertImages(ctx, states); err != nil {
		return nil, fmt.Errorf("load images: %w", err)
	}
	l.logDead(dead)
	return dead, nil
}

func decodeImageMessage(m bus.Message) (db.ImageState, error) {
	var st db.ImageState
	if m.Value == nil {
		return st, poison("tombstone on %s (image outcomes are never deleted)", bus.TopicImages)
	}
	if err := json.Unmarshal(m.Value, &st); err != nil {
		return st, poison("value is not an image outcome: %v", err)
	}
	if st.URLHash != m.Key {
		return st, poison("url_hash %q does not match the key %q", st.URLHash, m.Key)
	}
	if err := db.ValidateImageState(&st); err != nil {
		return st, poison("invalid image outcome: %v", err)
	}
	return st, nil
}

func (l *Loader) logDead(dead []bus.DeadLetter) {
	logger := l.withDefaults().Logger
	for _, d := range dead {
		logger.Warn("dead-lettering a message", "topic", d.Message.Topic, "partition", d.Message.Partition,
			"offset", d.Message.Offset, "key", d.Message.Key, "error", d.Err)
	}
}

package db

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers test them with errors.Is; every error the Store
// returns wraps at most one of them, and none carries SQL text.
var (
	// ErrNotFound: no record has that id.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the write contradicts the current state (a duplicate, an
	// active feed run, a feed-managed record).
	ErrConflict = errors.New("conflict")
	// ErrVersionMismatch: the record changed since the version the caller
	// expected (the APIs answer 412).
	ErrVersionMismatch = errors.New("version mismatch")
	// ErrInvalid: the input is malformed (a bad field, filter or cursor).
	ErrInvalid = errors.New("invalid input")
	// ErrFeedManaged: deleting a record that the feed owns. It is a conflict.
	ErrFeedManaged = fmt.Errorf("%w: the record is managed by the feed", ErrConflict)
)

// FieldError names the field of an invalid input. It wraps ErrInvalid.
type FieldError struct {
	// Field is a slash-separated path such as "aliases/3" or "name".
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + " " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func fieldError(field, reason string) error { return &FieldError{Field: field, Reason: reason} }

// ProfileError names the profile of a batch that was refused, so a loader can
// set it aside and write the others. It wraps the cause (a *FieldError).
type ProfileError struct {
	Index  int
	FeedID int64
	Err    error
}

func (e *ProfileError) Error() string {
	return fmt.Sprintf("profile %d (feed id %d): %v", e.Index, e.FeedID, e.Err)
}

func (e *ProfileError) Unwrap() error { return e.Err }

// ActiveRunError is returned when a feed run is requested while another one
// is queued or running. It wraps ErrConflict.
type ActiveRunError struct {
	RunID  int64
	Status string
}

func (e *ActiveRunError) Error() string {
	return fmt.Sprintf("feed run %d is %s", e.RunID, e.Status)
}

// Unwrap makes errors.Is(err, ErrConflict) true.
func (e *ActiveRunError) Unwrap() error { return ErrConflict }

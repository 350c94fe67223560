package db

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ProfileSchemaVersion is the schema_version of the profiles this code writes.
const ProfileSchemaVersion = 1

// Profile is one performer as the feed describes it, normalised: the value of
// a marquee.pornstars message and the input of Store.UpsertProfiles. The JSON
// names are the topic's (DESIGN.md "Topics").
type Profile struct {
	SchemaVersion int   `json:"schema_version"`
	FeedID        int64 `json:"feed_id"`
	PornstarFields
	Aliases     []string           `json:"aliases"`
	Thumbnails  []ProfileThumbnail `json:"thumbnails"`
	ContentHash string             `json:"content_hash"`
}

// ProfileThumbnail is one URL of one thumbnail entry of a profile.
type ProfileThumbnail struct {
	Type    string `json:"type"`
	Width   *int32 `json:"width"`
	Height  *int32 `json:"height"`
	URL     string `json:"url"`
	URLHash string `json:"url_hash"`
}

// ComputeContentHash returns the lowercase hex SHA-256 of the canonical JSON
// (sorted keys, no spaces, no HTML escaping) of p without content_hash.
func (p Profile) ComputeContentHash() (string, error) {
	p.ContentHash = ""
	raw, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("db: content hash: %w", err)
	}
	var generic map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // 64-bit stats must not pass through float64
	if err := dec.Decode(&generic); err != nil {
		return "", fmt.Errorf("db: content hash: %w", err)
	}
	delete(generic, "content_hash")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(generic); err != nil { // maps encode with sorted keys
		return "", fmt.Errorf("db: content hash: %w", err)
	}
	sum := sha256.Sum256(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	return hex.EncodeToString(sum[:]), nil
}

// URLHash is the key of an image URL everywhere in Marquee: the lowercase hex
// SHA-256 of the URL with only its scheme and host lower-cased.
func URLHash(rawURL string) string {
	sum := sha256.Sum256([]byte(normalizeImageURL(rawURL)))
	return hex.EncodeToString(sum[:])
}

// normalizeImageURL lower-cases the scheme and host of a URL and nothing
// else; it works on the text, so it never re-escapes the path.
func normalizeImageURL(rawURL string) string {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return rawURL
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority := rest[:end]
	userinfo := ""
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		userinfo, authority = authority[:at+1], authority[at+1:]
	}
	return strings.ToLower(scheme) + "://" + userinfo + strings.ToLower(authority) + rest[end:]
}

// Column limits, in characters, matching the migrations.
const (
	maxNameLen      = 255
	maxShortLen     = 32
	maxBreastType   = 16
	maxLinkLen      = 1024
	maxTagLen       = 128
	maxURLLen       = 2048
	maxAliases      = 1000
	maxThumbnails   = 100
	maxTagValues    = 50
	urlHashHexChars = 64
)

// validateFields checks what the database would refuse (lengths, invalid
// UTF-8), so one bad record is named instead of failing a whole batch.
func validateFields(f *PornstarFields) error {
	if strings.TrimSpace(f.Name) == "" {
		return fieldError("name", "is required")
	}
	checks := []struct {
		field string
		value *string
		max   int
	}{
		{"name", &f.Name, maxNameLen},
		{"license", f.License, maxShortLen},
		{"link", f.Link, maxLinkLen},
		{"breast_type", f.BreastType, maxBreastType},
		{"gender", f.Gender, maxShortLen},
		{"orientation", f.Orientation, maxShortLen},
	}
	for _, c := range checks {
		if c.value == nil {
			continue
		}
		if err := checkText(c.field, *c.value, c.max); err != nil {
			return err
		}
	}
	for _, list := range []struct {
		field  string
		values StringList
	}{{"hair_colors", f.HairColors}, {"ethnicities", f.Ethnicities}} {
		if len(list.values) > maxTagValues {
			return fieldError(list.field, fmt.Sprintf("has %d values, at most %d allowed", len(list.values), maxTagValues))
		}
		for i, v := range list.values {
			if err := checkText(fmt.Sprintf("%s/%d", list.field, i), v, maxTagLen); err != nil {
				return err
			}
			if strings.TrimSpace(v) == "" {
				return fieldError(fmt.Sprintf("%s/%d", list.field, i), "is empty")
			}
		}
	}
	return nil
}

func validateAliases(aliases []string) error {
	if len(aliases) > maxAliases {
		return fieldError("aliases", fmt.Sprintf("has %d entries, at most %d allowed", len(aliases), maxAliases))
	}
	for i, a := range aliases {
		if err := checkText(fmt.Sprintf("aliases/%d", i), a, maxNameLen); err != nil {
			return err
		}
	}
	return nil
}

func validateThumbnails(thumbs []ProfileThumbnail) error {
	if len(thumbs) > maxThumbnails {
		return fieldError("thumbnails", fmt.Sprintf("has %d entries, at most %d allowed", len(thumbs), maxThumbnails))
	}
	for i, t := range thumbs {
		at := fmt.Sprintf("thumbnails/%d", i)
		if err := checkText(at+"/type", t.Type, maxShortLen); err != nil {
			return err
		}
		if t.URL == "" {
			return fieldError(at+"/url", "is required")
		}
		if err := checkText(at+"/url", t.URL, maxURLLen); err != nil {
			return err
		}
		if t.URLHash != "" && t.URLHash != URLHash(t.URL) {
			return fieldError(at+"/url_hash", "does not match the URL")
		}
	}
	return nil
}

func checkText(field, value string, max int) error {
	if !utf8.ValidString(value) {
		return fieldError(field, "is not valid UTF-8")
	}
	if strings.IndexByte(value, 0) >= 0 {
		return fieldError(field, "contains a NUL character")
	}
	if n := utf8.RuneCountInString(value); n > max {
		return fieldError(field, fmt.Sprintf("is %d characters long, at most %d allowed", n, max))
	}
	return nil
}

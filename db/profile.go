package db

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// ProfileSchemaVersion is the schema_version of the profiles this code writes.
const ProfileSchemaVersion = 1

// Profile is one performer as the feed describes it, normalised: the value of
// a marquee.pornstars message and the input of Store.UpsertProfiles. The JSON
// names are the topic's (docs/topics.md).
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

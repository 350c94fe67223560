package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// TokenFile is the name of the embedded mode's write token in the data dir.
const TokenFile = "api-token"

// EmbeddedTokenName is the name of the token that LoadOrCreateToken makes.
const EmbeddedTokenName = "embedded"

// NewToken returns a new random token: 32 bytes from the system's secure
// random source, in URL-safe base64 (43 characters, no padding), so that it
// fits an Authorization header and a MARQUEE_API_TOKENS entry as it is.
func NewToken() (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("auth: new token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(raw[:]), nil
}

// StoredToken is what LoadOrCreateToken found or made.
type StoredToken struct {
	// Entry is the file's content: one MARQUEE_API_TOKENS entry (ParseTokens)
	// that gives the token by its hash, never the token itself.
	Entry string
	// Token is the token itself, only when this call made it: it is kept
	// nowhere, so this is the one chance to show it.
	Token string
	// Converted says that the file held the token itself, as files made
	// before hashed tokens did, and now holds only its hash: the token can
	// no longer be read from the file.
	Converted bool
}

// LoadOrCreateToken returns the write token kept in dataDir/api-token,
// creating a new one (NewToken, named EmbeddedTokenName) when the file does
// not exist yet. The file keeps only the token's hash (HashedEntry), mode
// 0600; a file that holds a token itself is rewritten to hold its hash. The
// embedded mode uses it when MARQUEE_API_TOKENS is not set, and prints the
// token once, when it is created.
func LoadOrCreateToken(dataDir string) (StoredToken, error) {
	path := filepath.Join(dataDir, TokenFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		return readTokenFile(dataDir, path, strings.TrimSpace(string(b)))
	case !errors.Is(err, fs.ErrNotExist):
		return StoredToken{}, err
	}
	token, err := NewToken()
	if err != nil {
		return StoredToken{}, err
	}
	entry := HashedEntry(token, EmbeddedTokenName, RoleWrite)
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return StoredToken{}, err
	}
	// Written to a temporary file, then linked into place: a second process
	// starting at once never reads a half-written file, and cannot replace
	// the first one's (os.Link fails when the name exists; it then reads it).
	tmp, err := writeTemp(dataDir, entry)
	if err != nil {
		return StoredToken{}, err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); errors.Is(err, fs.ErrExist) {
		return LoadOrCreateToken(dataDir)
	} else if err != nil {
		return StoredToken{}, err
	}
	return StoredToken{Entry: entry, Token: token}, nil
}

// readTokenFile checks the content of an existing token file, and replaces
// a token kept in clear by its hash.
func readTokenFile(dataDir, path, content string) (StoredToken, error) {
	if strings.ContainsRune(content, ',') || strings.ContainsRune(content, '\n') {
		return StoredToken{}, fmt.Errorf("%s: holds more than one token; delete the file to make a new one", path)
	}
	e, hashed, err := parseTokenEntry(content)
	if err != nil {
		return StoredToken{}, fmt.Errorf("%s: %w; delete the file to make a new one", path, err)
	}
	if hashed {
		return StoredToken{Entry: content}, nil
	}
	if !strings.HasPrefix(content, "name=") {
		e.name = EmbeddedTokenName
	}
	entry := e.hashedEntry()
	tmp, err := writeTemp(dataDir, entry)
	if err != nil {
		return StoredToken{}, err
	}
	defer os.Remove(tmp)
	// Renamed over the old file: a crash leaves either file whole.
	if err := os.Rename(tmp, path); err != nil {
		return StoredToken{}, err
	}
	return StoredToken{Entry: entry, Converted: true}, nil
}

// writeTemp writes content and a newline to a new file of mode 0600 in dir
// and returns its path; the caller removes it.
func writeTemp(dir, content string) (string, error) {
	tmp, err := os.CreateTemp(dir, TokenFile+".*")
	if err != nil {
		return "", err
	}
	_, err = tmp.WriteString(content + "\n")
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return tmp.Name(), nil
}

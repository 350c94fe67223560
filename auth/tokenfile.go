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

// LoadOrCreateToken returns the write token kept in dataDir/api-token,
// creating it (32 random bytes, URL-safe base64, mode 0600) when the file does
// not exist yet; created says which. The embedded mode uses it when
// MARQUEE_API_TOKENS is not set, and prints it once, when it is created.
func LoadOrCreateToken(dataDir string) (token string, created bool, err error) {
	path := filepath.Join(dataDir, TokenFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		token = strings.TrimSpace(string(b))
		if len(token) < MinTokenLength {
			return "", false, fmt.Errorf("%s: the token is shorter than %d characters; delete the file to make a new one", path, MinTokenLength)
		}
		return token, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", false, err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", false, err
	}
	token = base64.RawURLEncoding.EncodeToString(raw[:])
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return "", false, err
	}
	// Written to a temporary file, then linked into place: a second process
	// starting at once never reads a half-written token, and cannot replace
	// the first one's (os.Link fails when the name exists; it then reads it).
	tmp, err := os.CreateTemp(dataDir, TokenFile+".*")
	if err != nil {
		return "", false, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(token + "\n")
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
		return "", false, err
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return LoadOrCreateToken(dataDir)
	} else if err != nil {
		return "", false, err
	}
	return token, true, nil
}

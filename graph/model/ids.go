package model

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
)

// Type names of global ids: the GraphQL type of the object.
const (
	TypePornstar = "Pornstar"
	TypeFeedRun  = "FeedRun"
)

// ErrBadGlobalID is returned for an id that is not one GlobalID made.
var ErrBadGlobalID = errors.New("is not a valid id")

// GlobalID is the Relay global id of an object: base64 of "Type:databaseId".
func GlobalID(typeName string, id int64) string {
	return base64.StdEncoding.EncodeToString([]byte(typeName + ":" + strconv.FormatInt(id, 10)))
}

// ParseGlobalID returns the type name and database id of a global id.
func ParseGlobalID(globalID string) (typeName string, id int64, err error) {
	if len(globalID) > 128 {
		return "", 0, ErrBadGlobalID
	}
	raw, err := base64.StdEncoding.DecodeString(globalID)
	if err != nil {
		return "", 0, ErrBadGlobalID
	}
	typeName, digits, ok := strings.Cut(string(raw), ":")
	if !ok || typeName == "" {
		return "", 0, ErrBadGlobalID
	}
	id, err = strconv.ParseInt(digits, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != digits {
		return "", 0, ErrBadGlobalID
	}
	return typeName, id, nil
}

package model

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"
)

// InputError is a value a client sent that a scalar cannot take. The API
// answers it with BAD_USER_INPUT.
type InputError struct {
	Message string
}

func (e *InputError) Error() string { return e.Message }

// MarshalInt64 writes the Int64 scalar as a JSON number.
func MarshalInt64(v int64) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		var buf [20]byte
		_, _ = w.Write(strconv.AppendInt(buf[:0], v, 10))
	})
}

// UnmarshalInt64 reads the Int64 scalar from a number or a decimal string.
func UnmarshalInt64(v any) (int64, error) {
	switch v := v.(type) {
	case json.Number:
		return parseInt64(string(v))
	case string:
		return parseInt64(v)
	case int:
		return int64(v), nil
	case int32:
		return int64(v), nil
	case int64:
		return v, nil
	case float64:
		if v != math.Trunc(v) || v < math.MinInt64 || v >= math.MaxInt64 {
			return 0, &InputError{Message: fmt.Sprintf("Int64 cannot represent %v", v)}
		}
		return int64(v), nil
	}
	return 0, &InputError{Message: fmt.Sprintf("Int64 cannot represent a %T", v)}
}

func parseInt64(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, &InputError{Message: fmt.Sprintf("Int64 cannot represent %q", truncate(s, 40))}
	}
	return n, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// MarshalDateTime writes the DateTime scalar as gqlgen's Time does: RFC
// 3339 with the fractional seconds the time has.
func MarshalDateTime(t time.Time) graphql.Marshaler { return graphql.MarshalTime(t) }

// UnmarshalDateTime reads the DateTime scalar: an RFC 3339 string, with
// optional fractional seconds and a required offset.
func UnmarshalDateTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, &InputError{Message: "DateTime must be an RFC 3339 string"}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, &InputError{Message: "DateTime must be an RFC 3339 time such as 2024-05-01T12:00:00.123456Z"}
	}
	return t, nil
}

package bus

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestDeadLetterMessages(t *testing.T) {
	failedAt := time.Date(2026, 3, 1, 2, 3, 4, 5, time.FixedZone("CET", 3600))
	orig := Message{
		Topic: TopicImages, Partition: 4, Offset: 1234, Key: "abc", Value: []byte("{bad"),
		Headers: []Header{{Key: HeaderContentType, Value: []byte(ContentTypeJSON)}},
	}
	long := strings.Repeat("é", 600) // 1200 bytes
	tests := []struct {
		name      string
		err       error
		wantError string
	}{
		{"reason", errors.New("decode image: unexpected EOF"), "decode image: unexpected EOF"},
		{"no reason", nil, "unknown"},
		{"long reason cut on a character boundary", errors.New(long), strings.Repeat("é", 512)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			letters := deadLetterMessages([]DeadLetter{{Message: orig, Err: tt.err}}, failedAt)
			if len(letters) != 1 {
				t.Fatalf("got %d letters", len(letters))
			}
			letter := letters[0]
			if letter.Key != "abc" || string(letter.Value) != "{bad" {
				t.Errorf("key/value %q/%q, want the original", letter.Key, letter.Value)
			}
			want := map[string]string{
				HeaderContentType:     ContentTypeJSON,
				HeaderError:           tt.wantError,
				HeaderSourceTopic:     TopicImages,
				HeaderSourcePartition: "4",
				HeaderSourceOffset:    "1234",
				HeaderFailedAt:        "2026-03-01T01:03:04Z",
			}
			for name, value := range want {
				if got, _ := letter.Header(name); got != value {
					t.Errorf("header %s = %q, want %q", name, got, value)
				}
			}
			if got, _ := letter.Header(HeaderError); !utf8.ValidString(got) {
				t.Errorf("error header is not valid UTF-8")
			}
			if len(orig.Headers) != 1 {
				t.Errorf("the original message's headers were modified: %v", orig.Headers)
			}
		})
	}
}

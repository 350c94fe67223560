package imaging

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"marquee/bus"
	"marquee/db"
)

// publishOutcomes publishes the outcomes of a batch on marquee.images, keyed
// by URL hash, and returns once all are acknowledged.
func (c *Compactor) publishOutcomes(ctx context.Context, outcomes []db.ImageState) error {
	msgs := make([]bus.Message, len(outcomes))
	for i, outcome := range outcomes {
		value, err := json.Marshal(outcome)
		if err != nil {
			return fmt.Errorf("imaging: encode outcome: %w", err)
		}
		msgs[i] = bus.Message{Key: outcome.URLHash, Value: value}
	}
	if err := c.cfg.Publisher.Publish(ctx, bus.TopicImages, msgs...); err != nil {
		return fmt.Errorf("imaging: publish outcomes: %w", err)
	}
	return nil
}

// maxErrorRunes bounds the error text of a failed outcome.
const maxErrorRunes = 2000

// errorText is the error of a failed outcome: at most maxErrorRunes
// characters of valid UTF-8 without NUL, whatever bytes the server put in
// its status line or the URL held.
func errorText(err error) string {
	text := strings.ReplaceAll(strings.ToValidUTF8(err.Error(), "\uFFFD"), "\x00", "\uFFFD")
	if utf8.RuneCountInString(text) <= maxErrorRunes {
		return text
	}
	return string([]rune(text)[:maxErrorRunes])
}

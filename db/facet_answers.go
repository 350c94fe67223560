package db

import (
	"encoding/json"
	"sync"
)

// The facet answer cache keeps whole answers of Store.Facets by request
// (filter and facet names) and data version (data_version.go), read before
// each request is counted: every write transaction of any process bumps it,
// so an answer is served only while nothing was written since it was
// counted. Requests with has_image are not kept.

// maxFacetAnswers bounds the answers kept; a full cache drops an arbitrary
// one.
const maxFacetAnswers = 256

type facetAnswer struct {
	version int64
	result  *FacetResult
}

// facetAnswers is the cache; entries 0 turns it off.
type facetAnswers struct {
	entries int

	mu      sync.Mutex
	answers map[string]facetAnswer
}

func newFacetAnswers(entries int) *facetAnswers {
	return &facetAnswers{entries: entries, answers: map[string]facetAnswer{}}
}

// facetAnswerKey is the cache key of a request, "" when it is not kept.
func facetAnswerKey(f *Filter, names []string) string {
	if f.HasImage != nil {
		return "" // no test yet shows an image outcome ending such an answer
	}
	key, err := json.Marshal(struct {
		F *Filter
		N []string
	}{f, names})
	if err != nil {
		return ""
	}
	return string(key)
}

func (c *facetAnswers) get(key string, v int64) *FacetResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.answers[key]; ok && a.version == v {
		return a.result
	}
	return nil
}

func (c *facetAnswers) put(key string, v int64, result *FacetResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.answers[key]; !ok && len(c.answers) >= c.entries {
		for other := range c.answers {
			delete(c.answers, other)
			break
		}
	}
	c.answers[key] = facetAnswer{version: v, result: result}
}

package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"sync"

	"github.com/uptrace/bun/dialect"
)

// The facet answer cache keeps whole answers of Store.Facets by request
// (filter and facet names) and data version, read in one statement before
// each request is counted. Performers are never deleted, and every write of
// a performer (its columns, tags, aliases, removal, deletion) bumps its
// version and sets its updated_at from writeClock in the same transaction.
// On SQLite, whose writers are serialised and take the write lock at BEGIN,
// commit order is updated_at order, so the latest updated_at (one step of
// an index) changes with every write. On MySQL, where writers of several
// processes overlap, the data version is the number of performers and the
// sum of their versions, which every write changes, with the latest
// updated_at, which a write after a restore of an older database moves past
// every earlier one. So an answer is served only while no write was made
// since the version it was counted at. A request with has_image is never
// kept, since image states change without a write of the performer.

// maxFacetAnswers bounds the answers kept; a full cache drops an arbitrary
// one.
const maxFacetAnswers = 256

// dataVersion is what changes with every write of a performer.
type dataVersion struct {
	count, versions int64
	updatedAt       string
}

type facetAnswer struct {
	version dataVersion
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
		return ""
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

func (c *facetAnswers) get(key string, v dataVersion) *FacetResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.answers[key]; ok && a.version == v {
		return a.result
	}
	return nil
}

func (c *facetAnswers) put(key string, v dataVersion, result *FacetResult) {
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

// readDataVersion reads the data version of the performers on the read
// handle, where the facets are then counted.
func (s *Store) readDataVersion(ctx context.Context) (dataVersion, error) {
	var v dataVersion
	var updatedAt sql.NullString
	var err error
	if s.db.Dialect == dialect.MySQL {
		err = s.db.R.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(version), 0), MAX(updated_at) FROM pornstars").
			Scan(&v.count, &v.versions, &updatedAt)
	} else {
		err = s.db.R.QueryRowContext(ctx, "SELECT MAX(updated_at) FROM pornstars").Scan(&updatedAt)
	}
	v.updatedAt = updatedAt.String
	return v, err
}

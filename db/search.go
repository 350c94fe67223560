package db

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/schema"
)

// Search (the q filter) compares words: a name, an alias and q are each
// folded into words (searchWords), and a performer matches when every word
// of q is the prefix of a word of its name, or of a word of one of its
// aliases (all of q's words in the same one). Two words of q may match the
// same word ("jo jolie" finds "Jolie"). A q with no word at all (only
// punctuation such as "%") matches nobody.
//
// The words live in pornstar_search_tokens, one row per distinct word of
// each name and alias, written with the performer's other child rows, so
// that a word prefix is a range scan of an index on both dialects; the
// folded name and aliases are also kept whole in pornstars.search_text, from
// which the relevance tier of a row is read without another lookup.

// searchToken is one distinct word of a performer's name (source 0) or of
// its alias at position source-1, folded by searchWords and cut to
// maxTokenChars.
type searchToken struct {
	bun.BaseModel `bun:"table:pornstar_search_tokens,alias:st"`

	Token      string `bun:"token,pk"`
	PornstarID int64  `bun:"pornstar_id,pk"`
	Source     int32  `bun:"source,pk"`
}

// maxTokenChars is the longest word the token index holds, in characters;
// longer words, in names and in q alike, are compared by their first
// maxTokenChars characters.
const maxTokenChars = maxNameLen

// Relevance tiers of a performer for a q, best first (OrderRelevance).
const (
	tierExactName   = 0
	tierExactAlias  = 1
	tierNamePrefix  = 2
	tierAliasPrefix = 3
	tierOther       = 4
)

// searchWords folds s into the words search compares: the runs of letters
// and digits of folded(s); everything else (spaces, punctuation, SQL
// wildcards) only separates them. Its cost is linear in len(s).
func searchWords(s string) []string {
	var words []string
	var word strings.Builder
	flush := func() {
		if word.Len() > 0 {
			words = append(words, word.String())
			word.Reset()
		}
	}
	for r := range folded(s) {
		if r == foldSeparator {
			flush()
		} else {
			word.WriteRune(r)
		}
	}
	flush()
	return words
}

// searchPhrase is s as search_text holds it: its words joined by spaces.
func searchPhrase(s string) string { return strings.Join(searchWords(s), " ") }

// tokenOf cuts a word to what the token index holds.
func tokenOf(word string) string {
	if utf8.RuneCountInString(word) <= maxTokenChars {
		return word
	}
	n := 0
	for i := range word {
		if n == maxTokenChars {
			return word[:i]
		}
		n++
	}
	return word
}

// searchText is pornstars.search_text: the phrase of the name, then that of
// each alias with at least one word, one per line.
func searchText(name string, aliases []Alias) string {
	lines := []string{searchPhrase(name)}
	for _, a := range aliases {
		if phrase := searchPhrase(a.Alias); phrase != "" {
			lines = append(lines, phrase)
		}
	}
	return strings.Join(lines, "\n")
}

// searchTokens are the token rows of a performer's name and aliases.
func searchTokens(id int64, name string, aliases []Alias) []searchToken {
	var out []searchToken
	add := func(source int32, text string) {
		seen := map[string]bool{}
		for _, w := range searchWords(text) {
			tok := tokenOf(w)
			if !seen[tok] {
				seen[tok] = true
				out = append(out, searchToken{Token: tok, PornstarID: id, Source: source})
			}
		}
	}
	add(0, name)
	for _, a := range aliases {
		add(a.Position+1, a.Alias)
	}
	return out
}

// searchQuery is a parsed q.
type searchQuery struct {
	// phrase is q's words joined by spaces, compared with whole lines of
	// search_text for the relevance tier.
	phrase string
	// prefixes are the tokens every one of which must start a word of the
	// same name or alias: q's words, cut to token length, without repeats
	// and without a word that is the prefix of another (it is implied),
	// longest first.
	prefixes []string
}

// parseSearch parses q; ok is false when q is blank and does not filter.
func parseSearch(q string) (sq searchQuery, ok bool) {
	if strings.TrimSpace(q) == "" {
		return sq, false
	}
	words := searchWords(q)
	sq.phrase = strings.Join(words, " ")
	var tokens []string
	for _, w := range words {
		tokens = append(tokens, tokenOf(w))
	}
	slices.SortFunc(tokens, func(a, b string) int {
		if d := len(b) - len(a); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	for _, t := range slices.Compact(tokens) {
		implied := slices.ContainsFunc(sq.prefixes, func(longer string) bool { return strings.HasPrefix(longer, t) })
		if !implied {
			sq.prefixes = append(sq.prefixes, t)
		}
	}
	return sq, true
}

// prefixRange is the range of strings that start with prefix, in code
// point order (SQLite's BINARY, MySQL's utf8mb4_bin): [prefix, upper). A
// token holds letters and digits only, so MySQL's PAD SPACE, which orders a
// string before its extensions by control characters, never matters here.
func prefixRange(prefix string) (lower, upper string) {
	r, size := utf8.DecodeLastRuneInString(prefix)
	next := r + 1
	if next >= 0xD800 && next <= 0xDFFF {
		next = 0xE000 // surrogates are not characters
	}
	return prefix, prefix[:len(prefix)-size] + string(next)
}

// whereSearch keeps the performers with a name or an alias of which every
// prefix of q starts a word. The longest prefix drives the lookup; each of
// the others is one more index probe per candidate, so the cost grows with
// q's words, which q's MaxLength bounds.
func whereSearch(q *bun.SelectQuery, f *Filter) {
	sq, ok := parseSearch(f.Q)
	if !ok {
		return
	}
	if len(sq.prefixes) == 0 {
		q.Where("1 = 0")
		return
	}
	var b strings.Builder
	var args []any
	lower, upper := prefixRange(sq.prefixes[0])
	b.WriteString("p.id IN (SELECT st0.pornstar_id FROM pornstar_search_tokens AS st0 WHERE st0.token >= ? AND st0.token < ?")
	args = append(args, lower, upper)
	for i, prefix := range sq.prefixes[1:] {
		lower, upper := prefixRange(prefix)
		alias := bun.Ident(fmt.Sprintf("st%d", i+1))
		b.WriteString(" AND EXISTS (SELECT 1 FROM pornstar_search_tokens AS ? WHERE ?.pornstar_id = st0.pornstar_id" +
			" AND ?.source = st0.source AND ?.token >= ? AND ?.token < ?)")
		args = append(args, alias, alias, alias, alias, lower, alias, upper)
	}
	b.WriteString(")")
	q.Where(b.String(), args...)
}

// relevanceExpr is the relevance tier of a row for f's q, read from
// search_text: its first line is the name, each other line an alias.
func relevanceExpr(f *Filter) schema.QueryAppender {
	sq, _ := parseSearch(f.Q)
	e := escapeLike(sq.phrase)
	return bun.SafeQuery(`CASE
		WHEN p.search_text = ? OR p.search_text LIKE ? ESCAPE '!' THEN ?
		WHEN p.search_text LIKE ? ESCAPE '!' OR p.search_text LIKE ? ESCAPE '!' THEN ?
		WHEN p.search_text LIKE ? ESCAPE '!' THEN ?
		WHEN p.search_text LIKE ? ESCAPE '!' THEN ?
		ELSE ? END`,
		sq.phrase, e+"\n%", tierExactName,
		"%\n"+e+"\n%", "%\n"+e, tierExactAlias,
		e+"%", tierNamePrefix,
		"%\n"+e+"%", tierAliasPrefix,
		tierOther)
}

// reindexSearch writes search_text and the search tokens of every
// performer from its name and aliases, in one transaction: the step of
// the migration that introduced them.
func reindexSearch(ctx context.Context, d *bun.DB) error {
	var stmts insertStatements // none prepared: a migration runs once
	return d.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewDelete().Model((*searchToken)(nil)).Where("1 = 1").Exec(ctx); err != nil {
			return fmt.Errorf("clear search tokens: %w", err)
		}
		var ids []int64
		if err := tx.NewSelect().Model((*Pornstar)(nil)).Column("id").Order("id").Scan(ctx, &ids); err != nil {
			return fmt.Errorf("list pornstars: %w", err)
		}
		return chunks(ids, func(part []int64) error {
			var rows []Pornstar
			if err := tx.NewSelect().Model(&rows).Column("id", "name").Where("id IN (?)", bun.List(part)).Scan(ctx); err != nil {
				return fmt.Errorf("load names: %w", err)
			}
			var aliasRows []Alias
			if err := tx.NewSelect().Model(&aliasRows).Where("pornstar_id IN (?)", bun.List(part)).
				Order("pornstar_id", "position").Scan(ctx); err != nil {
				return fmt.Errorf("load aliases: %w", err)
			}
			aliases := map[int64][]Alias{}
			for _, a := range aliasRows {
				aliases[a.PornstarID] = append(aliases[a.PornstarID], a)
			}
			var tokens []searchToken
			var set strings.Builder
			var args []any
			set.WriteString("CASE id")
			for _, r := range rows {
				tokens = append(tokens, searchTokens(r.ID, r.Name, aliases[r.ID])...)
				set.WriteString(" WHEN ? THEN ?")
				args = append(args, r.ID, searchText(r.Name, aliases[r.ID]))
			}
			set.WriteString(" END")
			if len(rows) > 0 {
				if _, err := tx.NewUpdate().Model((*Pornstar)(nil)).Set("search_text = "+set.String(), args...).
					Where("id IN (?)", bun.List(part)).Exec(ctx); err != nil {
					return fmt.Errorf("write search text: %w", err)
				}
			}
			if err := insertRows(ctx, tx, &stmts, tokens); err != nil {
				return fmt.Errorf("write search tokens: %w", err)
			}
			return nil
		})
	})
}

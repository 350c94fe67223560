package db

import (
	"iter"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// foldSeparator is what folded yields for a character that is neither a
// letter nor a digit.
const foldSeparator = ' '

// latinSpellings are the letters Unicode does not decompose into a base
// letter and marks, spelled as a reader without the letter would type them.
var latinSpellings = map[rune]string{
	'ø': "o", 'æ': "ae", 'œ': "oe", 'ß': "ss", 'ł': "l", 'đ': "d", 'ð': "d", 'þ': "th", 'ı': "i", 'ħ': "h", 'ŧ': "t",
}

// folded yields s as search and slugs compare it: compatibility
// decomposition (full-width letters, ligatures), marks such as accents
// dropped, letters and digits lower-cased with the letters of
// latinSpellings spelled out, and foldSeparator for every other character
// (spaces, punctuation, other marks). Its cost is linear in len(s).
func folded(s string) iter.Seq[rune] {
	return func(yield func(rune) bool) {
		for _, r := range norm.NFKD.String(s) {
			switch {
			case unicode.Is(unicode.Mn, r):
			case unicode.IsLetter(r) || unicode.IsDigit(r):
				r = unicode.ToLower(r)
				if spelled, ok := latinSpellings[r]; ok {
					for _, c := range spelled {
						if !yield(c) {
							return
						}
					}
				} else if !yield(r) {
					return
				}
			default:
				if !yield(foldSeparator) {
					return
				}
			}
		}
	}
}

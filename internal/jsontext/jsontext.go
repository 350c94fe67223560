// Package jsontext appends Go strings as JSON strings, byte for byte as
// encoding/json writes them with HTML escaping off, for the encoders that
// write JSON by hand (REST answers, content hashes).
package jsontext

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// AppendString appends s as json.Marshal writes it with HTML escaping off:
// quotes, backslashes and control characters escaped, U+2028 and U+2029
// escaped, each invalid UTF-8 byte as \ufffd, everything else as it is.
func AppendString(dst []byte, s string) []byte {
	return appendString(dst, s, `\ufffd`)
}

// AppendReencodedString appends s as encoding/json writes a string that
// went through it twice (decoded in between): as AppendString, except that
// each invalid UTF-8 byte is a literal U+FFFD, which the first encoding made
// of it.
func AppendReencodedString(dst []byte, s string) []byte {
	return appendString(dst, s, "\uFFFD")
}

// appendString appends s quoted, with invalid in place of each byte that is
// not part of valid UTF-8.
func appendString(dst []byte, s, invalid string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, invalid...)
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

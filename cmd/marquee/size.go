package main

import (
	"fmt"
	"math/big"
	"strings"
)

// byteSize is a size setting, in bytes. It is written as a whole or decimal
// number and an optional unit, case-insensitively: binary KiB, MiB, GiB, TiB
// (powers of 1024), decimal kB, MB, GB, TB (powers of 1000), or B. "10MiB",
// "1.5GB", "4096". Single letters ("10M") are refused as ambiguous.
type byteSize int64

// sizeUnits are the units byteSize parses, largest first, binary before
// decimal: String prints the first that divides a size exactly.
var sizeUnits = []struct {
	name  string
	bytes int64
}{
	{"TiB", 1 << 40}, {"TB", 1e12},
	{"GiB", 1 << 30}, {"GB", 1e9},
	{"MiB", 1 << 20}, {"MB", 1e6},
	{"KiB", 1 << 10}, {"kB", 1e3},
	{"B", 1},
}

// parseByteSize parses s as described on byteSize. A size must be a whole
// number of bytes, not negative, and fit in 63 bits.
func parseByteSize(s string) (byteSize, error) {
	text := strings.TrimSpace(s)
	end := 0
	for end < len(text) && (text[end] >= '0' && text[end] <= '9' || text[end] == '.') {
		end++
	}
	number, unitName := text[:end], strings.TrimSpace(text[end:])
	if number == "" || strings.Count(number, ".") > 1 || number == "." {
		return 0, fmt.Errorf("size %q: want a number and a unit, like 10MiB or 1.5GB", s)
	}
	unit := int64(1)
	if unitName != "" {
		known := false
		for _, u := range sizeUnits {
			if strings.EqualFold(unitName, u.name) {
				unit, known = u.bytes, true
				break
			}
		}
		if !known {
			return 0, fmt.Errorf("size %q: unknown unit %q (use B, kB, MB, GB, TB, KiB, MiB, GiB or TiB)", s, unitName)
		}
	}
	value, ok := new(big.Rat).SetString(number)
	if !ok {
		return 0, fmt.Errorf("size %q: %q is not a number", s, number)
	}
	value.Mul(value, new(big.Rat).SetInt64(unit))
	if !value.IsInt() {
		return 0, fmt.Errorf("size %q is not a whole number of bytes", s)
	}
	if !value.Num().IsInt64() {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return byteSize(value.Num().Int64()), nil
}

// String prints the size in the largest unit that divides it exactly, so
// that parsing it gives the same size: "512MiB", "1500MB", "1023B".
func (b byteSize) String() string {
	if b == 0 {
		return "0B"
	}
	for _, u := range sizeUnits {
		if int64(b)%u.bytes == 0 {
			return fmt.Sprintf("%d%s", int64(b)/u.bytes, u.name)
		}
	}
	return fmt.Sprintf("%dB", int64(b)) // unreachable: every size divides by 1
}

// Set implements flag.Value.
func (b *byteSize) Set(s string) error {
	size, err := parseByteSize(s)
	if err != nil {
		return err
	}
	*b = size
	return nil
}

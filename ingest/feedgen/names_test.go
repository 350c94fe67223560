package feedgen

import "testing"

// TestNamesAreUnique: links are made from names, and the feed's links are
// unique, so names must be too, well past the real feed's size.
func TestNamesAreUnique(t *testing.T) {
	pl, err := newPlan(Options{Items: 250_000, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]int, 250_000)
	for slot := range 250_000 {
		name := pl.name(slot)
		if n := len([]rune(name)); n < 2 || n > 26 {
			t.Errorf("slot %d: name %q has %d characters", slot, name, n)
		}
		key := slug(name)
		if first, ok := seen[key]; ok {
			t.Fatalf("slots %d and %d share the link slug %q (%q, %q)", first, slot, key, pl.name(first), name)
		}
		seen[key] = slot
	}
}

func TestIsqrt(t *testing.T) {
	for _, n := range []uint64{0, 1, 2, 3, 4, 15, 16, 17, 999_999, 1_000_000, 1 << 62, 1e18, 1<<64 - 1} {
		r := isqrt(n)
		if r*r > n || (r+1) <= 1<<32-1 && (r+1)*(r+1) <= n {
			t.Errorf("isqrt(%d) = %d", n, r)
		}
	}
}

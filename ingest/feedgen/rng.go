package feedgen

import "math/bits"

// rng is SplitMix64: tiny, fast and fully specified here, so a feed's bytes
// never depend on the Go version's math/rand. The generator draws integers
// only (no float maths, whose last bits may differ between platforms).
type rng struct{ state uint64 }

// newRNG starts the sequence of one (seed, stream, key, sub) tuple.
func newRNG(seed int64, stream, key, sub uint64) rng {
	r := rng{state: uint64(seed)}
	r.state = r.next() ^ stream*0x9E3779B97F4A7C15
	r.state = r.next() ^ key
	r.state = r.next() ^ sub
	return r
}

func (r *rng) next() uint64 {
	r.state += 0x9E3779B97F4A7C15
	z := r.state
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

// intn returns 0..n-1 (n > 0); the modulo bias is far below what matters here.
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// ppm is true with probability partsPerMillion / 1e6.
func (r *rng) ppm(partsPerMillion int) bool { return r.intn(1_000_000) < partsPerMillion }

// isqrt is the integer square root, floor(sqrt(n)).
func isqrt(n uint64) uint64 {
	if n == 0 {
		return 0
	}
	x := uint64(1) << ((bits.Len64(n) + 1) / 2) // at least sqrt(n)
	for {
		y := (x + n/x) / 2
		if y >= x {
			return x
		}
		x = y
	}
}

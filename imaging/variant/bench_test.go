package variant_test

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"testing"

	"marquee/db/dbtest"
	"marquee/demo"
	"marquee/imaging/variant"
)

// BenchmarkVariants measures each engine of this build (the pure-Go one; with
// the vips tag also libvips) on a demo thumbnail (a 234 x 344 JPEG, the real
// feed's kind) and a 1600 x 1200 photo-sized PNG:
//
//   - render: cold variants per second, one render per op, for every format
//     and allowed width, with the variant's bytes (B/variant);
//   - cached: warm requests per second for a stored variant through the
//     cache (index lookup on SQLite, file open and read), against the
//     in-memory ceiling (the same bytes from a map);
//   - ssim: with more than one engine, the structural similarity of each
//     engine's JPEG variant to libvips's, per width (1 is identical).
func BenchmarkVariants(b *testing.B) {
	originals := []struct {
		name  string
		bytes []byte
	}{
		{"thumb234x344", demo.Image("/bench/variants.jpg")},
		{"photo1600x1200", jpegOf(b, pngOf(1600, 1200))},
	}
	for _, engine := range variant.Engines() {
		for _, orig := range originals {
			for _, format := range variant.Formats {
				for _, width := range widths {
					spec := variant.Spec{Width: width, Format: format}
					b.Run("render/"+engine.Name()+"/"+orig.name+"/"+string(format)+"/w="+strconv.Itoa(width), func(b *testing.B) {
						// One render before the clock runs: the WebAssembly codecs
						// compile once per process.
						if _, err := engine.Render(orig.bytes, spec, variant.DefaultQuality, 50_000_000); err != nil {
							b.Fatal(err)
						}
						var size int
						for b.Loop() {
							out, err := engine.Render(orig.bytes, spec, variant.DefaultQuality, 50_000_000)
							if err != nil {
								b.Fatal(err)
							}
							size = len(out.Bytes)
						}
						b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "variants/s")
						b.ReportMetric(float64(size), "B/variant")
					})
				}
			}
		}
	}

	b.Run("cached/sqlite", func(b *testing.B) {
		f := newFixture(b, dbtest.SQLiteURL(b))
		c := f.cache(b, variant.Config{})
		original := f.add(b, demo.Image("/bench/cached.jpg"))
		spec := variant.Spec{Width: 128, Format: variant.WebP}
		first, err := c.Get(context.Background(), original, spec)
		if err != nil {
			b.Fatal(err)
		}
		first.Body.Close()
		for b.Loop() {
			s, err := c.Get(context.Background(), original, spec)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, s.Body)
			s.Body.Close()
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		if c.Rendered() != 1 {
			b.Fatalf("rendered %d times, want once", c.Rendered())
		}
	})
	b.Run("cached/memory-ceiling", func(b *testing.B) {
		out, err := variant.GoEngine{}.Render(demo.Image("/bench/cached.jpg"), variant.Spec{Width: 128, Format: variant.WebP}, variant.DefaultQuality, 50_000_000)
		if err != nil {
			b.Fatal(err)
		}
		stored := map[string][]byte{"key": out.Bytes}
		for b.Loop() {
			io.Copy(io.Discard, bytes.NewReader(stored["key"]))
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	})

	engines := variant.Engines()
	if len(engines) < 2 {
		return
	}
	reference := engines[len(engines)-1] // libvips
	for _, orig := range originals {
		for _, width := range widths {
			b.Run("ssim/"+orig.name+"/w="+strconv.Itoa(width), func(b *testing.B) {
				spec := variant.Spec{Width: width, Format: variant.PNG}
				want, err := reference.Render(orig.bytes, spec, variant.DefaultQuality, 50_000_000)
				if err != nil {
					b.Fatal(err)
				}
				scores := map[string]float64{}
				for _, engine := range engines[:len(engines)-1] {
					got, err := engine.Render(orig.bytes, spec, variant.DefaultQuality, 50_000_000)
					if err != nil {
						b.Fatal(err)
					}
					scores[engine.Name()] = ssim(mustDecodePNG(b, got.Bytes), mustDecodePNG(b, want.Bytes))
				}
				for b.Loop() {
				}
				// After the loop: its start deletes the metrics reported before.
				for name, score := range scores {
					b.ReportMetric(score, "ssim-"+name)
				}
			})
		}
	}
}

package variant_test

import (
	"image"
	"math"
)

// ssim is the mean structural similarity (Wang et al. 2004) of the luma of
// two images of one size, over 8 x 8 windows with a step of 4: 1 for
// identical images, lower as they differ in structure, contrast or light.
func ssim(a, b image.Image) float64 {
	luma := func(img image.Image) ([]float64, int, int) {
		r := img.Bounds()
		out := make([]float64, r.Dx()*r.Dy())
		for y := range r.Dy() {
			for x := range r.Dx() {
				cr, cg, cb, _ := img.At(r.Min.X+x, r.Min.Y+y).RGBA()
				out[y*r.Dx()+x] = (0.299*float64(cr) + 0.587*float64(cg) + 0.114*float64(cb)) / 257
			}
		}
		return out, r.Dx(), r.Dy()
	}
	la, w, h := luma(a)
	lb, wb, hb := luma(b)
	if w != wb || h != hb {
		return 0
	}
	const window, step = 8, 4
	c1, c2 := math.Pow(0.01*255, 2), math.Pow(0.03*255, 2)
	var sum float64
	var n int
	for y := 0; y+window <= h; y += step {
		for x := 0; x+window <= w; x += step {
			var ma, mb float64
			for dy := range window {
				for dx := range window {
					ma += la[(y+dy)*w+x+dx]
					mb += lb[(y+dy)*w+x+dx]
				}
			}
			ma /= window * window
			mb /= window * window
			var va, vb, cov float64
			for dy := range window {
				for dx := range window {
					da, db := la[(y+dy)*w+x+dx]-ma, lb[(y+dy)*w+x+dx]-mb
					va += da * da
					vb += db * db
					cov += da * db
				}
			}
			va /= window*window - 1
			vb /= window*window - 1
			cov /= window*window - 1
			sum += ((2*ma*mb + c1) * (2*cov + c2)) / ((ma*ma + mb*mb + c1) * (va + vb + c2))
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

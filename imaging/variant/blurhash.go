package variant

import (
	"image"
	"math"
	"strings"

	xdraw "golang.org/x/image/draw"
)

// Placeholders are BlurHashes (https://blurha.sh; the algorithm as its
// authors publish it): a few dozen ASCII characters holding the average
// colour and the lowest cosine components of an image, which a page decodes
// into a blurred likeness at any size before the image arrives. See
// docs/images.md, "Placeholders", for why BlurHash and not an LQIP.

// placeholderComponents is the number of cosine components along the long
// side of an image; the short side gets one fewer. Four by three is the
// BlurHash authors' suggestion: enough for a silhouette, 28 characters.
const placeholderComponents = 4

// placeholderSample is the width of the copy of an image the placeholder
// is computed from: the components above need no more detail, and the
// cost of the cosine sums stays constant whatever the original's size.
const placeholderSample = 32

// Placeholder decodes an original (as Decode does: the first frame,
// upright, refused past maxPixels) and returns its BlurHash.
func Placeholder(original []byte, maxPixels int64) (string, error) {
	img, err := Decode(original, maxPixels)
	if err != nil {
		return "", err
	}
	return BlurHash(img), nil
}

// BlurHash encodes img with placeholderComponents along its long side.
func BlurHash(img image.Image) string {
	b := img.Bounds()
	cx, cy := placeholderComponents, placeholderComponents-1
	if b.Dy() > b.Dx() {
		cx, cy = cy, cx
	}
	w, h := Fit(b.Dx(), b.Dy(), Spec{Width: placeholderSample, Height: placeholderSample})
	sample := image.NewNRGBA(image.Rect(0, 0, w, h))
	xdraw.ApproxBiLinear.Scale(sample, sample.Bounds(), img, b, xdraw.Src, nil)
	return encodeBlurHash(sample, cx, cy)
}

// encodeBlurHash is the BlurHash of pix with cx x cy components (1..9 each).
// Transparent pixels count as their colour; placeholders are for opaque
// thumbnails.
func encodeBlurHash(pix *image.NRGBA, cx, cy int) string {
	w, h := pix.Rect.Dx(), pix.Rect.Dy()
	// Linear light of every pixel, once.
	linear := make([][3]float64, w*h)
	for y := range h {
		for x := range w {
			o := pix.PixOffset(x, y)
			linear[y*w+x] = [3]float64{srgbToLinear(pix.Pix[o]), srgbToLinear(pix.Pix[o+1]), srgbToLinear(pix.Pix[o+2])}
		}
	}
	factors := make([][3]float64, 0, cx*cy)
	for j := range cy {
		for i := range cx {
			norm := 2.0
			if i == 0 && j == 0 {
				norm = 1
			}
			var f [3]float64
			for y := range h {
				by := math.Cos(math.Pi * float64(j) * float64(y) / float64(h))
				for x := range w {
					basis := by * math.Cos(math.Pi*float64(i)*float64(x)/float64(w))
					p := linear[y*w+x]
					f[0] += basis * p[0]
					f[1] += basis * p[1]
					f[2] += basis * p[2]
				}
			}
			scale := norm / float64(w*h)
			factors = append(factors, [3]float64{f[0] * scale, f[1] * scale, f[2] * scale})
		}
	}

	var out strings.Builder
	out.WriteString(base83((cx-1)+(cy-1)*9, 1))
	maximum := 1.0
	if ac := factors[1:]; len(ac) > 0 {
		actual := 0.0
		for _, f := range ac {
			actual = math.Max(actual, math.Max(math.Abs(f[0]), math.Max(math.Abs(f[1]), math.Abs(f[2]))))
		}
		quantised := int(math.Max(0, math.Min(82, math.Floor(actual*166-0.5))))
		maximum = float64(quantised+1) / 166
		out.WriteString(base83(quantised, 1))
	} else {
		out.WriteString(base83(0, 1))
	}
	dc := factors[0]
	out.WriteString(base83(linearToSRGB(dc[0])<<16|linearToSRGB(dc[1])<<8|linearToSRGB(dc[2]), 4))
	for _, f := range factors[1:] {
		quant := func(v float64) int {
			return int(math.Max(0, math.Min(18, math.Floor(signPow(v/maximum, 0.5)*9+9.5))))
		}
		out.WriteString(base83(quant(f[0])*19*19+quant(f[1])*19+quant(f[2]), 2))
	}
	return out.String()
}

// base83Digits is BlurHash's alphabet.
const base83Digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"

// base83 writes value as length base-83 digits, most significant first.
func base83(value, length int) string {
	out := make([]byte, length)
	for i := length - 1; i >= 0; i-- {
		out[i] = base83Digits[value%83]
		value /= 83
	}
	return string(out)
}

func srgbToLinear(v uint8) float64 {
	c := float64(v) / 255
	if c <= 0.04045 {
		return c / 12.92
	}
	return math.Pow((c+0.055)/1.055, 2.4)
}

func linearToSRGB(v float64) int {
	v = math.Max(0, math.Min(1, v))
	if v <= 0.0031308 {
		return int(v*12.92*255 + 0.5)
	}
	return int((1.055*math.Pow(v, 1/2.4)-0.055)*255 + 0.5)
}

func signPow(v, exp float64) float64 {
	return math.Copysign(math.Pow(math.Abs(v), exp), v)
}

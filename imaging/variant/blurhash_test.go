package variant_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"strings"
	"testing"

	"marquee/demo"
	"marquee/imaging/variant"
)

// decodeBlurHash decodes a BlurHash into a width x height image, as the
// published algorithm's decoders do, so the tests judge a placeholder by
// what a page would paint.
func decodeBlurHash(t *testing.T, hash string, width, height int) image.Image {
	t.Helper()
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"
	decode83 := func(s string) int {
		v := 0
		for _, c := range s {
			d := strings.IndexRune(digits, c)
			if d < 0 {
				t.Fatalf("%q is not base 83", s)
			}
			v = v*83 + d
		}
		return v
	}
	toLinear := func(v int) float64 {
		c := float64(v) / 255
		if c <= 0.04045 {
			return c / 12.92
		}
		return math.Pow((c+0.055)/1.055, 2.4)
	}
	toSRGB := func(v float64) uint8 {
		v = math.Max(0, math.Min(1, v))
		if v <= 0.0031308 {
			return uint8(v*12.92*255 + 0.5)
		}
		return uint8((1.055*math.Pow(v, 1/2.4)-0.055)*255 + 0.5)
	}
	size := decode83(hash[:1])
	nx, ny := size%9+1, size/9+1
	if len(hash) != 4+2*nx*ny {
		t.Fatalf("%q has %d characters, want %d for %d x %d components", hash, len(hash), 4+2*nx*ny, nx, ny)
	}
	maximum := float64(decode83(hash[1:2])+1) / 166
	dc := decode83(hash[2:6])
	colors := [][3]float64{{toLinear(dc >> 16), toLinear(dc >> 8 & 255), toLinear(dc & 255)}}
	for i := 1; i < nx*ny; i++ {
		v := decode83(hash[4+2*i : 6+2*i])
		ac := func(q int) float64 {
			f := float64(q-9) / 9
			return math.Copysign(f*f, f) * maximum
		}
		colors = append(colors, [3]float64{ac(v / (19 * 19)), ac(v / 19 % 19), ac(v % 19)})
	}
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	for y := range height {
		for x := range width {
			var r, g, b float64
			for j := range ny {
				for i := range nx {
					basis := math.Cos(math.Pi*float64(x)*float64(i)/float64(width)) * math.Cos(math.Pi*float64(y)*float64(j)/float64(height))
					c := colors[i+j*nx]
					r, g, b = r+c[0]*basis, g+c[1]*basis, b+c[2]*basis
				}
			}
			img.Set(x, y, color.RGBA{toSRGB(r), toSRGB(g), toSRGB(b), 255})
		}
	}
	return img
}

func solidPNG(w, h int, c color.NRGBA) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	return buf.Bytes()
}

func TestPlaceholder(t *testing.T) {
	rgb := func(img image.Image, x, y int) [3]int {
		r, g, b, _ := img.At(x, y).RGBA()
		return [3]int{int(r >> 8), int(g >> 8), int(b >> 8)}
	}
	tests := []struct {
		name      string
		original  []byte
		wantFirst byte // the size flag: 4 x 3 components is 'L', 3 x 4 'T'
		check     func(t *testing.T, painted image.Image)
	}{
		// The published algorithm sums cosines at whole pixel positions, so
		// even a solid image leaks a little into its lowest components: the
		// painted colour is the image's within a tenth.
		{"a solid colour paints that colour", solidPNG(300, 200, color.NRGBA{R: 200, G: 100, B: 50, A: 255}), 'L', func(t *testing.T, p image.Image) {
			for _, at := range [][2]int{{0, 0}, {15, 10}, {31, 19}} {
				got, want := rgb(p, at[0], at[1]), [3]int{200, 100, 50}
				if abs(got[0]-want[0]) > want[0]/10+2 || abs(got[1]-want[1]) > want[1]/10+2 || abs(got[2]-want[2]) > want[2]/10+2 {
					t.Errorf("pixel %v is %v, want about 200,100,50", at, got)
				}
			}
		}},
		{"red left, blue right stays so", pngOf(400, 300), 'L', func(t *testing.T, p image.Image) {
			left, right := rgb(p, 2, 15), rgb(p, 29, 15)
			if left[0] <= left[2]+60 || right[2] <= right[0]+60 {
				t.Errorf("left %v, right %v: want red on the left, blue on the right", left, right)
			}
		}},
		{"a portrait demo thumbnail: light figure over a darker gradient", demo.Image("/placeholder.jpg"), 'T', func(t *testing.T, p image.Image) {
			centre, corner := rgb(p, 16, 30), rgb(p, 0, 0)
			if centre[0]+centre[1]+centre[2] <= corner[0]+corner[1]+corner[2] {
				t.Errorf("centre %v is not lighter than the corner %v", centre, corner)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hash, err := variant.Placeholder(tt.original, 50_000_000)
			if err != nil {
				t.Fatal(err)
			}
			if len(hash) != 28 || hash[0] != tt.wantFirst {
				t.Fatalf("placeholder %q: want 28 characters starting with %c", hash, tt.wantFirst)
			}
			again, _ := variant.Placeholder(tt.original, 50_000_000)
			if again != hash {
				t.Fatalf("the same image gave %q and %q", hash, again)
			}
			tt.check(t, decodeBlurHash(t, hash, 32, 48))
		})
	}
	if _, err := variant.Placeholder([]byte("not an image"), 50_000_000); err == nil {
		t.Fatal("bytes that are no image gave a placeholder")
	}
}

func abs(n int) int { return max(n, -n) }

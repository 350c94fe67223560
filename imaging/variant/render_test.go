package variant_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"strconv"
	"testing"

	"github.com/gen2brain/avif"
	"github.com/gen2brain/webp"

	"marquee/demo"
	"marquee/imaging/variant"
)

// widths is the default list of allowed widths.
var widths = []int{64, 128, 256, 512, 1024}

// decoded decodes a variant with the decoder of its format, so a variant
// that only claims its type fails.
func decoded(t *testing.T, format variant.Format, b []byte) image.Image {
	t.Helper()
	var img image.Image
	var err error
	switch format {
	case variant.JPEG:
		img, err = jpeg.Decode(bytes.NewReader(b))
	case variant.PNG:
		img, err = png.Decode(bytes.NewReader(b))
	case variant.WebP:
		img, err = webp.Decode(bytes.NewReader(b))
	case variant.AVIF:
		img, err = avif.Decode(bytes.NewReader(b))
	}
	if err != nil {
		t.Fatalf("the %s variant does not decode as %s: %v", format, format, err)
	}
	return img
}

// pngOf encodes a w x h PNG whose left half is red and right half blue.
func pngOf(w, h int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{R: 255, A: 255}
			if x >= w/2 {
				c = color.NRGBA{B: 255, A: 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	return buf.Bytes()
}

// animatedGIF is a two-frame GIF of w x h: a green frame, then a red one.
func animatedGIF(w, h int) []byte {
	frame := func(c color.Color) *image.Paletted {
		p := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.Black, c})
		for i := range p.Pix {
			p.Pix[i] = 1
		}
		return p
	}
	var buf bytes.Buffer
	gif.EncodeAll(&buf, &gif.GIF{Image: []*image.Paletted{frame(color.RGBA{G: 255, A: 255}), frame(color.RGBA{R: 255, A: 255})}, Delay: []int{10, 10}})
	return buf.Bytes()
}

// withOrientation inserts an APP1 Exif segment announcing orientation into
// a JPEG, right after its start-of-image marker.
func withOrientation(jpg []byte, orientation uint16) []byte {
	tiff := []byte("MM\x00\x2a\x00\x00\x00\x08")
	tiff = binary.BigEndian.AppendUint16(tiff, 1)           // one entry
	tiff = append(tiff, 0x01, 0x12, 0x00, 0x03, 0, 0, 0, 1) // orientation, SHORT, count 1
	tiff = binary.BigEndian.AppendUint16(tiff, orientation)
	tiff = append(tiff, 0, 0, 0, 0, 0, 0, 0, 0) // padding, next IFD 0
	segment := append([]byte("Exif\x00\x00"), tiff...)
	out := append([]byte{0xff, 0xd8, 0xff, 0xe1}, binary.BigEndian.AppendUint16(nil, uint16(len(segment)+2))...)
	out = append(out, segment...)
	return append(out, jpg[2:]...)
}

func TestRenderEveryWidthAndFormat(t *testing.T) {
	originals := []struct {
		name          string
		bytes         []byte
		width, height int
	}{
		{"demo JPEG 234x344", demo.Image("/thumbs/a.jpg"), 234, 344},
		{"another demo JPEG", demo.Image("/thumbs/b.jpg"), 234, 344},
		{"PNG 2000x1000", pngOf(2000, 1000), 2000, 1000},
	}
	for _, engine := range variant.Engines() {
		for _, orig := range originals {
			for _, format := range variant.Formats {
				for _, width := range widths {
					t.Run(engine.Name()+"/"+orig.name+"/"+string(format)+"/"+itoa(width), func(t *testing.T) {
						got, err := engine.Render(orig.bytes, variant.Spec{Width: width, Format: format}, variant.DefaultQuality, 50_000_000)
						if err != nil {
							t.Fatal(err)
						}
						wantW, wantH := variant.Fit(orig.width, orig.height, variant.Spec{Width: width})
						if wantW > orig.width {
							t.Fatalf("Fit upscaled: %d > %d", wantW, orig.width)
						}
						img := decoded(t, format, got.Bytes)
						if b := img.Bounds(); b.Dx() != wantW || b.Dy() != wantH || got.Width != wantW || got.Height != wantH {
							t.Fatalf("size %dx%d (reported %dx%d), want %dx%d", b.Dx(), b.Dy(), got.Width, got.Height, wantW, wantH)
						}
						if got.ContentType != format.ContentType() {
							t.Fatalf("content type %q, want %q", got.ContentType, format.ContentType())
						}
					})
				}
			}
		}
	}
}

func TestRenderSizes(t *testing.T) {
	tests := []struct {
		name         string
		original     []byte
		spec         variant.Spec
		wantW, wantH int
		wantCenter   color.RGBA // approximately
	}{
		{"width keeps the aspect ratio", demo.Image("/x.jpg"), variant.Spec{Width: 128, Format: variant.PNG}, 128, 188, color.RGBA{}},
		{"a height bound narrows the variant", demo.Image("/x.jpg"), variant.Spec{Width: 256, Height: 64, Format: variant.PNG}, 44, 64, color.RGBA{}},
		{"no upscaling past the original", demo.Image("/x.jpg"), variant.Spec{Width: 1024, Format: variant.JPEG}, 234, 344, color.RGBA{}},
		{"an animated GIF gives its first frame", animatedGIF(300, 200), variant.Spec{Width: 64, Format: variant.PNG}, 64, 43, color.RGBA{G: 255, A: 255}},
		{"EXIF orientation 6 turns a landscape upright", withOrientation(jpegOf(t, pngOf(400, 200)), 6), variant.Spec{Width: 128, Format: variant.PNG}, 128, 256, color.RGBA{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := variant.GoEngine{}.Render(tt.original, tt.spec, variant.DefaultQuality, 50_000_000)
			if err != nil {
				t.Fatal(err)
			}
			img := decoded(t, tt.spec.Format, got.Bytes)
			if b := img.Bounds(); b.Dx() != tt.wantW || b.Dy() != tt.wantH {
				t.Fatalf("size %dx%d, want %dx%d", b.Dx(), b.Dy(), tt.wantW, tt.wantH)
			}
			if tt.wantCenter.A != 0 {
				r, g, b, _ := img.At(tt.wantW/2, tt.wantH/2).RGBA()
				if !near(r>>8, tt.wantCenter.R) || !near(g>>8, tt.wantCenter.G) || !near(b>>8, tt.wantCenter.B) {
					t.Fatalf("centre is %d,%d,%d, want about %v", r>>8, g>>8, b>>8, tt.wantCenter)
				}
			}
		})
	}
}

func TestRenderOrientationTurnsPixels(t *testing.T) {
	// A landscape whose left half is red and right half blue, stored with
	// orientation 6 (turn a quarter clockwise): upright, red is on top.
	original := withOrientation(jpegOf(t, pngOf(400, 200)), 6)
	got, err := variant.GoEngine{}.Render(original, variant.Spec{Width: 64, Format: variant.PNG}, variant.DefaultQuality, 50_000_000)
	if err != nil {
		t.Fatal(err)
	}
	img := decoded(t, variant.PNG, got.Bytes)
	top, _, _, _ := img.At(32, 10).RGBA()
	_, _, bottom, _ := img.At(32, 118).RGBA()
	if top>>8 < 200 || bottom>>8 < 200 {
		t.Fatalf("top red %d, bottom blue %d: the variant is not upright", top>>8, bottom>>8)
	}
}

func TestRenderRefusals(t *testing.T) {
	tests := []struct {
		name      string
		original  []byte
		maxPixels int64
		want      error
	}{
		{"more pixels than the limit", pngOf(300, 300), 300*300 - 1, variant.ErrTooManyPixels},
		{"not an image", []byte("<html>not an image</html>"), 50_000_000, variant.ErrUndecodable},
		{"a truncated JPEG", demo.Image("/x.jpg")[:200], 50_000_000, variant.ErrUndecodable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := variant.GoEngine{}.Render(tt.original, variant.Spec{Width: 64, Format: variant.JPEG}, variant.DefaultQuality, tt.maxPixels)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func jpegOf(t testing.TB, pngBytes []byte) []byte {
	img, err := png.Decode(bytes.NewReader(pngBytes))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
	return buf.Bytes()
}

func near(got uint32, want uint8) bool { return got+40 >= uint32(want) && got <= uint32(want)+40 }

func itoa(n int) string { return strconv.Itoa(n) }

func mustDecodePNG(t testing.TB, b []byte) image.Image {
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

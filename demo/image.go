package demo

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"math"
)

// The size of every demo thumbnail: the size the generated feed declares
// for its thumbnails.
const (
	ImageWidth  = 234
	ImageHeight = 344
)

// imageQuality is the JPEG quality of the demo thumbnails: a few KiB each,
// like the real ones, with no visible blocks on their smooth shapes.
const imageQuality = 80

// Image returns the thumbnail the demo source serves at path: a JPEG of
// ImageWidth x ImageHeight showing a portrait silhouette on a gradient whose
// colours derive from path, with path in a comment segment. The same path
// always gives the same bytes, and different paths give different bytes.
func Image(path string) []byte {
	sum := sha256.Sum256([]byte(path))
	hue := float64(binary.BigEndian.Uint16(sum[0:2])) / 65536 * 360
	top := hsv(hue, 0.55, 0.85)
	bottom := hsv(math.Mod(hue+30+float64(sum[2])/255*60, 360), 0.65, 0.45)
	figure := hsv(hue, 0.15, 0.97)

	img := image.NewRGBA(image.Rect(0, 0, ImageWidth, ImageHeight))
	const w, h = float64(ImageWidth), float64(ImageHeight)
	headX, headY, headR := w/2, h*0.36, w*0.2
	bodyX, bodyY, bodyRX, bodyRY := w/2, h*1.0, w*0.42, h*0.36
	for y := range ImageHeight {
		background := mix(top, bottom, float64(y)/(h-1))
		for x := range ImageWidth {
			fx, fy := float64(x)+0.5, float64(y)+0.5
			inHead := (fx-headX)*(fx-headX)+(fy-headY)*(fy-headY) <= headR*headR
			dx, dy := (fx-bodyX)/bodyRX, (fy-bodyY)/bodyRY
			inBody := dx*dx+dy*dy <= 1
			if inHead || inBody {
				img.SetRGBA(x, y, figure)
			} else {
				img.SetRGBA(x, y, background)
			}
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: imageQuality}); err != nil {
		panic("demo: encode a thumbnail: " + err.Error()) // encoding to memory cannot fail
	}
	return withComment(buf.Bytes(), path)
}

// withComment inserts a JPEG comment segment (COM) holding text right after
// the start-of-image marker. Decoders skip it.
func withComment(jpg []byte, text string) []byte {
	const maxComment = 0xffff - 2 // the segment length counts its own two bytes
	if len(text) > maxComment {
		text = text[:maxComment]
	}
	out := make([]byte, 0, len(jpg)+4+len(text))
	out = append(out, jpg[:2]...) // SOI
	out = append(out, 0xff, 0xfe)
	out = binary.BigEndian.AppendUint16(out, uint16(2+len(text)))
	out = append(out, text...)
	return append(out, jpg[2:]...)
}

// hsv converts a hue (degrees), saturation and value (0..1) to an opaque colour.
func hsv(hue, saturation, value float64) color.RGBA {
	chroma := value * saturation
	x := chroma * (1 - math.Abs(math.Mod(hue/60, 2)-1))
	var r, g, b float64
	switch {
	case hue < 60:
		r, g = chroma, x
	case hue < 120:
		r, g = x, chroma
	case hue < 180:
		g, b = chroma, x
	case hue < 240:
		g, b = x, chroma
	case hue < 300:
		r, b = x, chroma
	default:
		r, b = chroma, x
	}
	m := value - chroma
	return color.RGBA{R: channel(r + m), G: channel(g + m), B: channel(b + m), A: 255}
}

func channel(v float64) uint8 { return uint8(math.Round(min(max(v, 0), 1) * 255)) }

// mix blends from a to b by t in 0..1.
func mix(a, b color.RGBA, t float64) color.RGBA {
	blend := func(x, y uint8) uint8 { return uint8(math.Round(float64(x) + (float64(y)-float64(x))*t)) }
	return color.RGBA{R: blend(a.R, b.R), G: blend(a.G, b.G), B: blend(a.B, b.B), A: 255}
}

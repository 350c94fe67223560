package variant

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"

	"github.com/gen2brain/avif"
	"github.com/gen2brain/webp"
	xdraw "golang.org/x/image/draw"

	"marquee/imaging"
)

// Spec is one variant of an original: a width from the allowed list, an
// optional bounding height (0: none), and a format. The result keeps the
// original's aspect ratio, fits Width x Height and is never larger than the
// original.
type Spec struct {
	Width  int
	Height int
	Format Format
}

// Quality is a named set of encoder settings. Its name is part of every
// variant's cache key: settings change only together with the name, so a
// cached variant always matches the settings it is served under.
type Quality struct {
	Name string
	// JPEG is the JPEG quality (1..100).
	JPEG int
	// WebP is the lossy WebP quality (0..100); WebPMethod trades encoding
	// time for bytes (0 fast .. 6 small).
	WebP       int
	WebPMethod int
	// AVIF is the AVIF quality (0..100); AVIFSpeed trades bytes for
	// encoding time (0 small .. 10 fast).
	AVIF      int
	AVIFSpeed int
}

// DefaultQuality is the quality variants are rendered at (docs/images.md,
// "Quality"): settings at which thumbnails show no visible artefacts at
// their display size, the encoders' defaults except a faster AVIF speed,
// which keeps a cold render of a large variant within the render budget.
var DefaultQuality = Quality{Name: "q1", JPEG: 82, WebP: 78, WebPMethod: 4, AVIF: 60, AVIFSpeed: 8}

// Rendered is an encoded variant.
type Rendered struct {
	Bytes         []byte
	Width, Height int
	ContentType   string
}

// Engine renders variants. Implementations are safe for concurrent use.
type Engine interface {
	// Name identifies the engine in logs and benchmarks.
	Name() string
	// Render decodes original (JPEG, PNG, GIF or WebP; the first frame of
	// an animation), refuses it with ErrTooManyPixels when it has more than
	// maxPixels pixels, applies its EXIF orientation, resizes it to spec
	// and encodes it with q, keeping no metadata.
	Render(original []byte, spec Spec, q Quality, maxPixels int64) (Rendered, error)
}

// ErrTooManyPixels: an original with more pixels than the decoding limit.
var ErrTooManyPixels = errors.New("variant: the original has more pixels than the limit")

// ErrUndecodable: bytes that are not an image the engine can decode.
var ErrUndecodable = errors.New("variant: the original cannot be decoded")

// Fit returns the size of a variant of spec for an original of width x
// height (as displayed, after its orientation): Width wide, or less to fit
// Height, or the original's size when that is smaller; never below one pixel.
func Fit(width, height int, spec Spec) (int, int) {
	if width <= 0 || height <= 0 {
		return 0, 0
	}
	scale := math.Min(1, float64(spec.Width)/float64(width))
	if spec.Height > 0 {
		scale = math.Min(scale, float64(spec.Height)/float64(height))
	}
	w := max(1, int(math.Round(float64(width)*scale)))
	h := max(1, int(math.Round(float64(height)*scale)))
	return w, h
}

// GoEngine is the pure-Go engine: the standard library's decoders and JPEG
// and PNG encoders, Catmull-Rom resampling from golang.org/x/image/draw, and
// WebP and AVIF through libwebp and libavif compiled to WebAssembly (run by
// wazero, no cgo; a system libwebp / libavif is used instead when one is
// installed and the binary is dynamically linked).
type GoEngine struct{}

// Name is "go".
func (GoEngine) Name() string { return "go" }

// Render implements Engine.
func (GoEngine) Render(original []byte, spec Spec, q Quality, maxPixels int64) (Rendered, error) {
	src, err := Decode(original, maxPixels)
	if err != nil {
		return Rendered{}, err
	}
	b := src.Bounds()
	w, h := Fit(b.Dx(), b.Dy(), spec)
	var dst draw.Image
	if spec.Format == JPEG {
		// JPEG has no alpha: transparent pixels are shown on white.
		rgba := image.NewRGBA(image.Rect(0, 0, w, h))
		draw.Draw(rgba, rgba.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
		dst = rgba
		xdraw.CatmullRom.Scale(dst, dst.Bounds(), src, b, draw.Over, nil)
	} else {
		dst = image.NewNRGBA(image.Rect(0, 0, w, h))
		xdraw.CatmullRom.Scale(dst, dst.Bounds(), src, b, draw.Src, nil)
	}
	out, err := Encode(dst, spec.Format, q)
	if err != nil {
		return Rendered{}, err
	}
	return Rendered{Bytes: out, Width: w, Height: h, ContentType: spec.Format.ContentType()}, nil
}

// Decode decodes an original (the first frame of an animated GIF or WebP)
// and turns it upright by its EXIF orientation. The header is read first, so
// an image of more than maxPixels pixels is refused before its pixels are
// allocated.
func Decode(original []byte, maxPixels int64) (image.Image, error) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(original))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUndecodable, err)
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return nil, fmt.Errorf("%w: %d x %d", ErrTooManyPixels, cfg.Width, cfg.Height)
	}
	var img image.Image
	contentType := sniff(original)
	switch contentType {
	case imaging.TypeJPEG:
		img, err = jpeg.Decode(bytes.NewReader(original))
	case imaging.TypePNG:
		img, err = png.Decode(bytes.NewReader(original))
	case imaging.TypeGIF:
		img, err = gif.Decode(bytes.NewReader(original)) // the first frame
	case imaging.TypeWebP:
		img, err = webp.Decode(bytes.NewReader(original)) // the first frame
	default:
		err = errors.New("unknown format")
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUndecodable, err)
	}
	if contentType == imaging.TypeJPEG {
		img = orient(img, jpegOrientation(original))
	}
	return img, nil
}

// sniff returns the content type of an original's leading bytes, or "".
func sniff(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		return imaging.TypeJPEG
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return imaging.TypePNG
	case bytes.HasPrefix(b, []byte("GIF8")):
		return imaging.TypeGIF
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return imaging.TypeWebP
	}
	return ""
}

// Encode encodes img in format with the settings of q and no metadata.
func Encode(img image.Image, format Format, q Quality) ([]byte, error) {
	var buf bytes.Buffer
	var err error
	switch format {
	case JPEG:
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: q.JPEG})
	case PNG:
		err = (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, img)
	case WebP:
		err = webp.Encode(&buf, img, webp.Options{Quality: q.WebP, Method: q.WebPMethod})
	case AVIF:
		err = avif.Encode(&buf, img, avif.Options{Quality: q.AVIF, QualityAlpha: q.AVIF, Speed: q.AVIFSpeed, ChromaSubsampling: image.YCbCrSubsampleRatio420})
	default:
		err = fmt.Errorf("unknown format %q", format)
	}
	if err != nil {
		return nil, fmt.Errorf("variant: encode %s: %w", format, err)
	}
	return buf.Bytes(), nil
}

//go:build vips

package variant

import (
	"bytes"
	"fmt"
	"image"
	"sync"

	"github.com/davidbyttow/govips/v2/vips"
)

// DefaultEngine is the engine of this build: libvips (VipsEngine); the
// pure-Go GoEngine stays available beside it.
func DefaultEngine() Engine { return VipsEngine{} }

// Engines lists the engines of this build, the default (libvips) last, as
// the reference BenchmarkVariants compares the others with.
func Engines() []Engine { return []Engine{GoEngine{}, VipsEngine{}} }

// VipsEngine renders with libvips through cgo (imgproxy's engine): its
// decoders, auto-rotation, Lanczos-3 resampling and encoders, metadata
// stripped on export. Built only with the vips tag; needs libvips (Debian's
// libvips-dev to build, libvips42 to run).
type VipsEngine struct{}

// Name is "vips".
func (VipsEngine) Name() string { return "vips" }

var vipsStartup sync.Once

// Render implements Engine.
func (VipsEngine) Render(original []byte, spec Spec, q Quality, maxPixels int64) (Rendered, error) {
	// The header first, as the pure-Go engine reads it: libvips is never
	// handed an image past the pixel cap, nor bytes of another format.
	cfg, _, err := image.DecodeConfig(bytes.NewReader(original))
	if err != nil || sniff(original) == "" {
		return Rendered{}, fmt.Errorf("%w: %v", ErrUndecodable, err)
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return Rendered{}, fmt.Errorf("%w: %d x %d", ErrTooManyPixels, cfg.Width, cfg.Height)
	}
	vipsStartup.Do(func() {
		vips.LoggingSettings(nil, vips.LogLevelError)
		vips.Startup(nil)
	})
	img, err := vips.LoadImageFromBuffer(original, vips.NewImportParams()) // the first page of an animation
	if err != nil {
		return Rendered{}, fmt.Errorf("%w: %v", ErrUndecodable, err)
	}
	defer img.Close()
	if err := img.AutoRotate(); err != nil {
		return Rendered{}, fmt.Errorf("variant: vips rotate: %w", err)
	}
	w, h := Fit(img.Width(), img.Height(), spec)
	if w != img.Width() || h != img.Height() {
		if err := img.ResizeWithVScale(float64(w)/float64(img.Width()), float64(h)/float64(img.Height()), vips.KernelLanczos3); err != nil {
			return Rendered{}, fmt.Errorf("variant: vips resize: %w", err)
		}
	}
	var out []byte
	switch spec.Format {
	case JPEG:
		if img.HasAlpha() {
			if err := img.Flatten(&vips.Color{R: 255, G: 255, B: 255}); err != nil {
				return Rendered{}, fmt.Errorf("variant: vips flatten: %w", err)
			}
		}
		p := vips.NewJpegExportParams()
		p.StripMetadata, p.Quality, p.Interlace = true, q.JPEG, false
		out, _, err = img.ExportJpeg(p)
	case PNG:
		p := vips.NewPngExportParams()
		p.StripMetadata, p.Compression = true, 9
		out, _, err = img.ExportPng(p)
	case WebP:
		p := vips.NewWebpExportParams()
		p.StripMetadata, p.Quality, p.ReductionEffort = true, q.WebP, q.WebPMethod
		out, _, err = img.ExportWebp(p)
	case AVIF:
		p := vips.NewAvifExportParams()
		// libvips's effort runs the other way from libavif's speed.
		p.StripMetadata, p.Quality, p.Effort = true, q.AVIF, max(0, 9-q.AVIFSpeed)
		out, _, err = img.ExportAvif(p)
	default:
		err = fmt.Errorf("unknown format %q", spec.Format)
	}
	if err != nil {
		return Rendered{}, fmt.Errorf("variant: vips encode %s: %w", spec.Format, err)
	}
	return Rendered{Bytes: out, Width: img.Width(), Height: img.Height(), ContentType: spec.Format.ContentType()}, nil
}

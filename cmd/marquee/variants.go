package main

import (
	"context"
	"errors"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"marquee/db"
	"marquee/imaging"
	"marquee/imaging/variant"
)

// widthList is the allowed widths of image variants: comma-separated
// positive whole numbers, kept sorted and without repeats.
type widthList string

func (l widthList) MarshalText() ([]byte, error) { return []byte(l), nil }

func (l *widthList) UnmarshalText(text []byte) error {
	widths, err := parseWidths(string(text))
	if err != nil {
		return err
	}
	names := make([]string, len(widths))
	for i, w := range widths {
		names[i] = strconv.Itoa(w)
	}
	*l = widthList(strings.Join(names, ","))
	return nil
}

// ints returns the widths of a list UnmarshalText accepted.
func (l widthList) ints() []int {
	widths, _ := parseWidths(string(l))
	return widths
}

func parseWidths(text string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(text, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		n, err := strconv.Atoi(part)
		if err != nil || n < 1 || n > maxVariantWidth {
			return nil, errors.New("want comma-separated widths in pixels from 1 to " + strconv.Itoa(maxVariantWidth) + ", such as 64,128,256")
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// maxVariantWidth bounds an allowed width: wider than any screen shows a
// thumbnail, and a bound on what one render may allocate.
const maxVariantWidth = 4096

// declareVariants declares the settings of image variants, which the API
// renders; withMaxPixels declares the decoding cap too, for a command that
// does not declare the compactor's settings (where it is the same cap).
func (c *Config) declareVariants(f *flags, withMaxPixels bool) {
	f.Text(&c.ImagesWidths, "images-widths", "comma-separated `widths` (pixels) of the image variants /images/{url_hash}?w= renders; empty: none")
	f.Size(&c.ImagesVariantsMaxBytes, "images-variants-max-bytes", "cap of the stored image variants' bytes; past it the least recently used are deleted")
	f.Int(&c.ImagesRenders, "images-renders", "concurrent renders of image variants in this process")
	if withMaxPixels {
		f.Int(&c.ImagesMaxPixels, "images-max-pixels", "cap of an image's width x height when decoding it for a variant")
	}
}

// variantCache is the cache of image variants of cfg: the variants are kept
// beside the originals in files (a directory or a bucket: VariantObjects)
// and recorded in store, which every API process on the same image store
// shares.
func variantCache(cfg Config, store *db.Store, files imaging.ObjectStore) (*variant.Cache, error) {
	return variant.NewCache(variant.Config{
		Index: store,
		Blobs: variantRemover(store, files).Blobs,
		Originals: func(contentSHA256 string) (io.ReadCloser, error) {
			return imaging.Contents{Store: files}.Open(context.Background(), contentSHA256)
		},
		Engine:    variant.DefaultEngine(),
		MaxBytes:  int64(cfg.ImagesVariantsMaxBytes),
		Renders:   cfg.ImagesRenders,
		MaxPixels: int64(cfg.ImagesMaxPixels),
	})
}

// variantRemover removes the variants of deleted originals of files.
func variantRemover(store *db.Store, files imaging.ObjectStore) variant.Remover {
	return variant.Remover{Index: store, Blobs: imaging.VariantObjects{Store: files}}
}

// defaultImagesRenders is the default of MARQUEE_IMAGES_RENDERS: rendering
// is CPU-bound, so one render per CPU.
func defaultImagesRenders() int { return runtime.NumCPU() }

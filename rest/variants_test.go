package rest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gen2brain/avif"
	"github.com/gen2brain/webp"

	"marquee/db"
	"marquee/db/dbtest"
	"marquee/demo"
	"marquee/imaging"
	"marquee/imaging/variant"
	"marquee/internal/testkit"
	"marquee/rest"
)

// variantsFixture serves the variants of a cached demo JPEG (234 x 344,
// like the real feed's thumbnails) from a real store and image directory.
type variantsFixture struct {
	*filesFixture
	cache             *variant.Cache
	jpeg              string // URL hash of the cached demo JPEG
	widths            []int
	index             *db.Store
	blobs             variant.Blobs
	jpegContentSHA256 string
}

func newVariantsFixture(t *testing.T, url string) *variantsFixture {
	t.Helper()
	dir := t.TempDir()
	files, err := imaging.OpenFileStore(filepath.Join(dir, "images"))
	if err != nil {
		t.Fatal(err)
	}
	body := demo.Image("/variants/1.jpg")
	sum := sha256.Sum256(body)
	content := hex.EncodeToString(sum[:])
	path, _ := files.Path(content)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	store := testkit.OpenStore(t, url)
	blobs := imaging.VariantObjects{Store: files}
	cache, err := variant.NewCache(variant.Config{Index: store, Blobs: blobs, MaxPixels: 50_000_000,
		Originals: func(c string) (io.ReadCloser, error) {
			return imaging.Contents{Store: files}.Open(context.Background(), c)
		}})
	if err != nil {
		t.Fatal(err)
	}
	f := &variantsFixture{filesFixture: &filesFixture{}, cache: cache, widths: []int{64, 128, 256, 512, 1024}, index: store, blobs: blobs, jpegContentSHA256: content}
	f.jpeg = filesHash("demo jpeg")
	jpegType := imaging.TypeJPEG
	w, h := int32(demo.ImageWidth), int32(demo.ImageHeight)
	img := filesImage(f.jpeg, db.ImageCached, &content, &jpegType)
	img.Width, img.Height = &w, &h
	f.store = &filesStore{images: map[string]*db.Image{f.jpeg: img}}
	handler, err := rest.NewFilesHandler(rest.FilesOptions{Store: f.store, Content: imaging.Contents{Store: files}, Variants: cache, Widths: f.widths})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(rest.FilesPattern, handler)
	f.handler = mux
	return f
}

func eachVariantsBackend(t *testing.T, fn func(t *testing.T, f *variantsFixture)) {
	for _, b := range dbtest.Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, newVariantsFixture(t, b.URL(t))) })
	}
}

// decodeAs decodes body with the decoder of contentType.
func decodeAs(contentType string, body []byte) (image.Image, error) {
	r := bytes.NewReader(body)
	switch contentType {
	case "image/jpeg":
		return jpeg.Decode(r)
	case "image/png":
		return png.Decode(r)
	case "image/webp":
		return webp.Decode(r)
	case "image/avif":
		return avif.Decode(r)
	}
	return nil, io.ErrUnexpectedEOF
}

func TestVariantsEveryWidthAndFormat(t *testing.T) {
	eachVariantsBackend(t, func(t *testing.T, f *variantsFixture) {
		for _, format := range []string{"jpeg", "png", "webp", "avif"} {
			for _, width := range f.widths {
				t.Run(format+"/"+strconv.Itoa(width), func(t *testing.T) {
					res := f.do(http.MethodGet, "/images/"+f.jpeg+"?w="+strconv.Itoa(width)+"&format="+format)
					body, _ := io.ReadAll(res.Body)
					if res.StatusCode != http.StatusOK {
						t.Fatalf("status %d: %s", res.StatusCode, body)
					}
					wantType := "image/" + format
					if got := res.Header.Get("Content-Type"); got != wantType {
						t.Fatalf("Content-Type %q, want %q", got, wantType)
					}
					img, err := decodeAs(wantType, body)
					if err != nil {
						t.Fatalf("the body does not decode as %s: %v", wantType, err)
					}
					// No upscaling: 512 and 1024 give the original's 234 x 344.
					wantW := min(width, demo.ImageWidth)
					wantH := (demo.ImageHeight*wantW + demo.ImageWidth/2) / demo.ImageWidth
					if b := img.Bounds(); b.Dx() != wantW || b.Dy() != wantH {
						t.Fatalf("%d x %d, want %d x %d", b.Dx(), b.Dy(), wantW, wantH)
					}
					sum := sha256.Sum256(body)
					if got, want := res.Header.Get("ETag"), `"`+hex.EncodeToString(sum[:])+`"`; got != want {
						t.Fatalf("ETag %s, want the variant's own %s", got, want)
					}
					if got := res.Header.Get("Cache-Control"); !strings.Contains(got, "immutable") {
						t.Fatalf("Cache-Control %q", got)
					}
					if got := res.Header.Get("Vary"); got != "" {
						t.Fatalf("an explicit format varies by %q", got)
					}
				})
			}
		}
	})
}

func TestVariantsNegotiateByAccept(t *testing.T) {
	eachVariantsBackend(t, func(t *testing.T, f *variantsFixture) {
		tests := []struct {
			name     string
			accept   string
			wantType string
		}{
			{"a browser that shows AVIF", "image/avif,image/webp,image/apng,image/*,*/*;q=0.8", "image/avif"},
			{"a browser that shows WebP", "image/webp,*/*", "image/webp"},
			{"AVIF refused with q=0", "image/avif;q=0, image/webp", "image/webp"},
			{"anything: the original's format", "*/*", "image/jpeg"},
			{"no Accept: the original's format", "", "image/jpeg"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res := f.do(http.MethodGet, "/images/"+f.jpeg+"?w=128", "Accept", tt.accept)
				body, _ := io.ReadAll(res.Body)
				if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != tt.wantType {
					t.Fatalf("status %d, type %q, want 200 %s: %s", res.StatusCode, res.Header.Get("Content-Type"), tt.wantType, body)
				}
				if res.Header.Get("Vary") != "Accept" {
					t.Fatalf("Vary %q, want Accept", res.Header.Get("Vary"))
				}
				if _, err := decodeAs(tt.wantType, body); err != nil {
					t.Fatalf("does not decode as %s: %v", tt.wantType, err)
				}
			})
		}
	})
}

func TestVariantsRefuseBadParameters(t *testing.T) {
	eachVariantsBackend(t, func(t *testing.T, f *variantsFixture) {
		tests := []struct {
			name, query, wantParam string
		}{
			{"a width not in the list", "?w=100", "w"},
			{"a width past the list", "?w=2048", "w"},
			{"a width that is no number", "?w=big", "w"},
			{"a negative width", "?w=-64", "w"},
			{"two widths", "?w=64&w=128", "w"},
			{"a height not in the list", "?w=64&h=100", "h"},
			{"an unknown format", "?w=64&format=tiff", "format"},
			{"a format without a width", "?format=webp", "w"},
			{"a height without a width", "?h=64", "w"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res := f.do(http.MethodGet, "/images/"+f.jpeg+tt.query)
				body, _ := io.ReadAll(res.Body)
				if res.StatusCode != http.StatusBadRequest || res.Header.Get("Content-Type") != "application/problem+json" {
					t.Fatalf("status %d %s, want a 400 problem: %s", res.StatusCode, res.Header.Get("Content-Type"), body)
				}
				if !strings.Contains(string(body), `"parameter":"`+tt.wantParam+`"`) {
					t.Fatalf("the problem does not name %s: %s", tt.wantParam, body)
				}
			})
		}
		if n := f.cache.Rendered(); n != 0 {
			t.Fatalf("refused requests rendered %d variants", n)
		}
	})
}

func TestVariantsConditionalAndRanges(t *testing.T) {
	eachVariantsBackend(t, func(t *testing.T, f *variantsFixture) {
		target := "/images/" + f.jpeg + "?w=64&format=webp"
		first := f.do(http.MethodGet, target)
		full, _ := io.ReadAll(first.Body)
		etag := first.Header.Get("ETag")
		tests := []struct {
			name       string
			method     string
			header     []string
			wantStatus int
			wantBody   []byte
		}{
			{"a matching If-None-Match", http.MethodGet, []string{"If-None-Match", etag}, http.StatusNotModified, nil},
			{"the original's ETag does not match", http.MethodGet, []string{"If-None-Match", `"` + f.jpegContentSHA256 + `"`}, http.StatusOK, full},
			{"HEAD", http.MethodHead, nil, http.StatusOK, nil},
			{"a range", http.MethodGet, []string{"Range", "bytes=0-9"}, http.StatusPartialContent, full[:10]},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res := f.do(tt.method, target, tt.header...)
				body, _ := io.ReadAll(res.Body)
				if res.StatusCode != tt.wantStatus || !bytes.Equal(body, tt.wantBody) {
					t.Fatalf("status %d with %d bytes, want %d with %d", res.StatusCode, len(body), tt.wantStatus, len(tt.wantBody))
				}
				if res.Header.Get("ETag") != etag {
					t.Fatalf("ETag %q, want %q", res.Header.Get("ETag"), etag)
				}
			})
		}
		if n := f.cache.Rendered(); n != 1 {
			t.Fatalf("rendered %d times, want once", n)
		}
	})
}

func TestVariantsRenderOnceUnderConcurrentRequests(t *testing.T) {
	eachVariantsBackend(t, func(t *testing.T, f *variantsFixture) {
		const requests = 100
		var wg sync.WaitGroup
		statuses := make([]int, requests)
		for i := range requests {
			wg.Go(func() {
				res := f.do(http.MethodGet, "/images/"+f.jpeg+"?w=256", "Accept", "image/avif")
				io.Copy(io.Discard, res.Body)
				statuses[i] = res.StatusCode
			})
		}
		wg.Wait()
		for i, s := range statuses {
			if s != http.StatusOK {
				t.Fatalf("request %d: status %d", i, s)
			}
		}
		if n := f.cache.Rendered(); n != 1 {
			t.Fatalf("%d concurrent requests rendered the variant %d times, want 1", requests, n)
		}
	})
}

package imaging

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
)

// Content types of the formats the compactor keeps. Nothing else is stored:
// the type comes from the bytes, never from the Content-Type header or the
// URL, so an HTML page served as image/jpeg is refused.
const (
	TypeJPEG = "image/jpeg"
	TypePNG  = "image/png"
	TypeGIF  = "image/gif"
	TypeWebP = "image/webp"
)

// sniffLen is how many leading bytes sniffType needs.
const sniffLen = 16

// sniffType returns the content type the leading bytes of a file announce,
// or "" when they are none of JPEG, PNG, GIF and WebP.
func sniffType(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("\xff\xd8\xff")):
		return TypeJPEG
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return TypePNG
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return TypeGIF
	case len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return TypeWebP
	}
	return ""
}

// errBadHeader: the bytes start like an image of the sniffed type but its
// header is malformed or truncated.
var errBadHeader = errors.New("malformed image header")

// dimensions reads the width and height from the header of an image of
// contentType without decoding its pixels: the standard decoders' Config
// readers stop after the header (JPEG: at the first frame marker), and WebP's
// three header forms are read here.
func dimensions(r io.Reader, contentType string) (width, height int, err error) {
	var cfg image.Config
	br := bufio.NewReaderSize(r, 32<<10)
	switch contentType {
	case TypeJPEG:
		cfg, err = jpeg.DecodeConfig(br)
	case TypePNG:
		cfg, err = png.DecodeConfig(br)
	case TypeGIF:
		cfg, err = gif.DecodeConfig(br)
	case TypeWebP:
		cfg, err = webpConfig(br)
	default:
		return 0, 0, fmt.Errorf("no header reader for %q", contentType)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %v", errBadHeader, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return 0, 0, fmt.Errorf("%w: %d x %d pixels", errBadHeader, cfg.Width, cfg.Height)
	}
	return cfg.Width, cfg.Height, nil
}

// webpConfig reads the canvas size of a WebP file from its first chunk
// (https://developers.google.com/speed/webp/docs/riff_container): VP8X
// (extended: 24-bit sizes minus one), VP8L (lossless: 14-bit sizes minus
// one after a 0x2f signature) or "VP8 " (lossy: a key frame's 14-bit sizes
// after the start code 9d 01 2a).
func webpConfig(r io.Reader) (image.Config, error) {
	var h [30]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return image.Config{}, fmt.Errorf("webp: header: %w", err)
	}
	if string(h[:4]) != "RIFF" || string(h[8:12]) != "WEBP" {
		return image.Config{}, errors.New("webp: not a RIFF WEBP file")
	}
	chunk := h[20:]
	switch string(h[12:16]) {
	case "VP8X":
		w := int(chunk[4]) | int(chunk[5])<<8 | int(chunk[6])<<16
		ht := int(chunk[7]) | int(chunk[8])<<8 | int(chunk[9])<<16
		return image.Config{Width: w + 1, Height: ht + 1}, nil
	case "VP8L":
		if chunk[0] != 0x2f {
			return image.Config{}, errors.New("webp: bad VP8L signature")
		}
		bits := binary.LittleEndian.Uint32(chunk[1:5])
		return image.Config{Width: int(bits&0x3fff) + 1, Height: int(bits>>14&0x3fff) + 1}, nil
	case "VP8 ":
		if chunk[0]&1 != 0 {
			return image.Config{}, errors.New("webp: the first VP8 frame is not a key frame")
		}
		if chunk[3] != 0x9d || chunk[4] != 0x01 || chunk[5] != 0x2a {
			return image.Config{}, errors.New("webp: bad VP8 start code")
		}
		w := binary.LittleEndian.Uint16(chunk[6:8]) & 0x3fff
		ht := binary.LittleEndian.Uint16(chunk[8:10]) & 0x3fff
		return image.Config{Width: int(w), Height: int(ht)}, nil
	}
	return image.Config{}, fmt.Errorf("webp: unknown first chunk %q", h[12:16])
}

package rest_test

import (
	"bytes"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// rangeAnswer is what a client sees of one answer to a request for the
// fixture's image with a Range header.
type rangeAnswer struct {
	status       int
	contentRange string
	header       http.Header
	body         []byte
	// parts of a 206: one for a single range, each part of a
	// multipart/byteranges answer otherwise.
	parts []rangePart
}

// rangePart is one range of a 206 as sent: where its Content-Range says it
// is, and the bytes that came with it.
type rangePart struct {
	first, last int64
	size        int64
	bytes       []byte
}

var contentRangePattern = regexp.MustCompile(`^bytes ([0-9]+)-([0-9]+)/([0-9]+)$`)

// parseContentRange reads a Content-Range of a 206 part.
func parseContentRange(t testing.TB, value string) (first, last, size int64) {
	t.Helper()
	m := contentRangePattern.FindStringSubmatch(value)
	if m == nil {
		t.Fatalf("Content-Range %q is not bytes FIRST-LAST/SIZE", value)
	}
	first, _ = strconv.ParseInt(m[1], 10, 64)
	last, _ = strconv.ParseInt(m[2], 10, 64)
	size, _ = strconv.ParseInt(m[3], 10, 64)
	return first, last, size
}

// getRange asks for the cached image with the header lines given (pairs).
func (f *filesFixture) getRange(t testing.TB, method string, header ...string) rangeAnswer {
	t.Helper()
	req, err := http.NewRequest(method, "/images/"+f.cached, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	f.store.asked = nil
	resp := f.doRequest(req)
	body, _ := io.ReadAll(resp.Body)
	a := rangeAnswer{status: resp.StatusCode, contentRange: resp.Header.Get("Content-Range"), header: resp.Header, body: body}
	if a.status != http.StatusPartialContent || method == http.MethodHead {
		return a
	}
	if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
		t.Errorf("206 with Content-Length %q and %d bytes of body", cl, len(body))
	}
	mediaType, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mediaType != "multipart/byteranges" {
		if a.contentRange == "" {
			t.Fatalf("a 206 of one part without Content-Range (Content-Type %q)", resp.Header.Get("Content-Type"))
		}
		first, last, size := parseContentRange(t, a.contentRange)
		a.parts = []rangePart{{first: first, last: last, size: size, bytes: body}}
		return a
	}
	if a.contentRange != "" {
		t.Errorf("a multipart 206 with a Content-Range of its own: %q", a.contentRange)
	}
	reader := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		part, err := reader.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("multipart/byteranges body: %v\n%q", err, body)
		}
		partBytes, err := io.ReadAll(part)
		if err != nil {
			t.Fatalf("multipart/byteranges part: %v", err)
		}
		if ct := part.Header.Get("Content-Type"); ct != "image/png" {
			t.Errorf("a part of Content-Type %q, want the image's image/png", ct)
		}
		first, last, size := parseContentRange(t, part.Header.Get("Content-Range"))
		a.parts = append(a.parts, rangePart{first: first, last: last, size: size, bytes: partBytes})
	}
	if len(a.parts) < 2 {
		t.Errorf("a multipart/byteranges answer of %d parts", len(a.parts))
	}
	return a
}

func (f *filesFixture) doRequest(req *http.Request) *http.Response {
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	return rec.Result()
}

// checkRangeAnswer checks what holds for every answer to a GET with a
// Range: 200 with the whole image, 206 whose every part is the bytes its
// Content-Range names (never none), or 416 with Content-Range: bytes */SIZE
// as a problem document; never anything else.
func (f *filesFixture) checkRangeAnswer(t testing.TB, a rangeAnswer) {
	t.Helper()
	size := int64(len(f.body))
	switch a.status {
	case http.StatusOK:
		if !bytes.Equal(a.body, f.body) {
			t.Errorf("200 with %q, want the whole image", a.body)
		}
		if a.contentRange != "" {
			t.Errorf("200 with Content-Range %q", a.contentRange)
		}
	case http.StatusPartialContent:
		for _, p := range a.parts {
			if p.size != size || p.first > p.last || p.last >= size {
				t.Errorf("206 part bytes %d-%d/%d of an image of %d bytes", p.first, p.last, p.size, size)
				continue
			}
			if want := f.body[p.first : p.last+1]; !bytes.Equal(p.bytes, want) {
				t.Errorf("206 part bytes %d-%d/%d carries %q, want %q", p.first, p.last, size, p.bytes, want)
			}
		}
		if a.header.Get("ETag") != `"`+f.contentSHA256+`"` {
			t.Errorf("206 with ETag %q, want the image's", a.header.Get("ETag"))
		}
	case http.StatusRequestedRangeNotSatisfiable:
		if want := "bytes */" + strconv.FormatInt(size, 10); a.contentRange != want {
			t.Errorf("416 with Content-Range %q, want %q", a.contentRange, want)
		}
		if a.header.Get("ETag") != "" {
			t.Errorf("416 with ETag %q: the answer is not the image", a.header.Get("ETag"))
		}
		resp := &http.Response{StatusCode: a.status, Header: a.header}
		checkFilesProblem(t, resp, a.body, http.StatusRequestedRangeNotSatisfiable, "range-not-satisfiable")
	default:
		t.Errorf("answered %d: %q", a.status, a.body)
	}
}

func TestFilesRanges(t *testing.T) { onEachFilesBackend(t, testFilesRanges) }

func testFilesRanges(t *testing.T, f *filesFixture) {
	size := int64(len(f.body))
	n := strconv.FormatInt(size, 10)
	whole := [][2]int64{{0, size - 1}}
	huge := "99999999999999999999"
	for _, tc := range []struct {
		name       string
		ranges     []string // Range field lines
		wantStatus int
		// wantParts of a 206, in order: [first, last].
		wantParts [][2]int64
	}{
		{"the last 0 bytes", []string{"bytes=-0"}, 416, nil},
		{"from the size on", []string{"bytes=" + n + "-"}, 416, nil},
		{"a range past the end", []string{"bytes=" + n + "-" + strconv.FormatInt(size+10, 10)}, 416, nil},
		{"a first position past int64", []string{"bytes=" + huge + "-"}, 416, nil},
		{"several ranges, none satisfiable", []string{"bytes=-0, " + n + "-, " + huge + "-" + huge}, 416, nil},
		{"the last 0 bytes twice", []string{"bytes=-0,-0"}, 416, nil},
		{"the first byte", []string{"bytes=0-0"}, 206, [][2]int64{{0, 0}}},
		{"the last byte", []string{"bytes=-1"}, 206, [][2]int64{{size - 1, size - 1}}},
		{"the last byte by position", []string{"bytes=" + strconv.FormatInt(size-1, 10) + "-"}, 206, [][2]int64{{size - 1, size - 1}}},
		{"the first four bytes", []string{"bytes=0-3"}, 206, [][2]int64{{0, 3}}},
		{"from a position to the end", []string{"bytes=3-"}, 206, [][2]int64{{3, size - 1}}},
		{"a last position past the end", []string{"bytes=3-" + huge}, 206, [][2]int64{{3, size - 1}}},
		{"a suffix longer than the image", []string{"bytes=-" + huge}, 206, whole},
		{"leading zeros", []string{"bytes=0002-0003"}, 206, [][2]int64{{2, 3}}},
		{"the unit in upper case", []string{"BYTES=0-3"}, 206, [][2]int64{{0, 3}}},
		{"whitespace and empty list elements", []string{"bytes=, 0-3 ,\t,"}, 206, [][2]int64{{0, 3}}},
		{"an unsatisfiable range among satisfiable ones", []string{"bytes=-0,0-3," + n + "-"}, 206, [][2]int64{{0, 3}}},
		{"two ranges", []string{"bytes=0-1,4-5"}, 206, [][2]int64{{0, 1}, {4, 5}}},
		{"two ranges and the last 0 bytes", []string{"bytes=0-1,-0,-2"}, 206, [][2]int64{{0, 1}, {size - 2, size - 1}}},
		{"last before first", []string{"bytes=5-2"}, 200, whole},
		{"last before first, both past int64", []string{"bytes=" + huge + "1-" + huge}, 200, whole},
		{"last before first among valid ranges", []string{"bytes=0-1,5-2"}, 200, whole},
		{"another unit", []string{"items=0-3"}, 200, whole},
		{"no unit", []string{"0-3"}, 200, whole},
		{"a space for the equals sign", []string{"bytes 0-3"}, 200, whole},
		{"no range", []string{"bytes="}, 200, whole},
		{"only commas", []string{"bytes=,,"}, 200, whole},
		{"a position without a dash", []string{"bytes=3"}, 200, whole},
		{"a bare dash", []string{"bytes=-"}, 200, whole},
		{"a negative suffix", []string{"bytes=--1"}, 200, whole},
		{"a signed position", []string{"bytes=+1-2"}, 200, whole},
		{"hexadecimal", []string{"bytes=0x0-0x3"}, 200, whole},
		{"spaces inside a range", []string{"bytes=0 - 3"}, 200, whole},
		{"an empty header", []string{""}, 200, whole},
		{"two Range lines", []string{"bytes=0-3", "bytes=4-5"}, 200, whole},
		{"ranges adding up to more than the image", []string{"bytes=0-,0-"}, 200, whole},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var header []string
			for _, value := range tc.ranges {
				header = append(header, "Range", value)
			}
			a := f.getRange(t, http.MethodGet, header...)
			if a.status != tc.wantStatus {
				t.Fatalf("Range %q answered %d (Content-Range %q): %q; want %d", tc.ranges, a.status, a.contentRange, a.body, tc.wantStatus)
			}
			f.checkRangeAnswer(t, a)
			if tc.wantStatus != http.StatusPartialContent {
				return
			}
			var got [][2]int64
			for _, p := range a.parts {
				got = append(got, [2]int64{p.first, p.last})
			}
			if !equalRanges(got, tc.wantParts) {
				t.Errorf("Range %q sent bytes %v, want %v", tc.ranges, got, tc.wantParts)
			}
		})
	}
}

func equalRanges(a, b [][2]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestFilesRangeConditions: the conditional headers keep their order of
// evaluation (RFC 9110 §13.2.2): If-Match, If-None-Match, then If-Range,
// and only then is a range judged, satisfiable or not.
func TestFilesRangeConditions(t *testing.T) { onEachFilesBackend(t, testFilesRangeConditions) }

func testFilesRangeConditions(t *testing.T, f *filesFixture) {
	etag := `"` + f.contentSHA256 + `"`
	other := `"` + strings.Repeat("0", 64) + `"`
	for _, tc := range []struct {
		name       string
		method     string
		header     []string
		wantStatus int
	}{
		{"If-Range with the ETag", http.MethodGet, []string{"If-Range", etag, "Range", "bytes=0-3"}, 206},
		{"If-Range with another ETag", http.MethodGet, []string{"If-Range", other, "Range", "bytes=0-3"}, 200},
		{"If-Range with a weak ETag", http.MethodGet, []string{"If-Range", "W/" + etag, "Range", "bytes=0-3"}, 200},
		{"If-Range with a date (there is no Last-Modified)", http.MethodGet, []string{"If-Range", "Mon, 02 Jan 2006 15:04:05 GMT", "Range", "bytes=0-3"}, 200},
		{"If-Range with the ETag, unsatisfiable", http.MethodGet, []string{"If-Range", etag, "Range", "bytes=-0"}, 416},
		{"If-Range with another ETag, unsatisfiable", http.MethodGet, []string{"If-Range", other, "Range", "bytes=-0"}, 200},
		{"If-Range with another ETag, invalid", http.MethodGet, []string{"If-Range", other, "Range", "bytes=5-2"}, 200},
		{"If-None-Match with the ETag, unsatisfiable", http.MethodGet, []string{"If-None-Match", etag, "Range", "bytes=-0"}, 304},
		{"If-None-Match with another ETag, unsatisfiable", http.MethodGet, []string{"If-None-Match", other, "Range", "bytes=-0"}, 416},
		{"If-Match with another ETag, unsatisfiable", http.MethodGet, []string{"If-Match", other, "Range", "bytes=-0"}, 412},
		{"If-Match with the ETag, unsatisfiable", http.MethodGet, []string{"If-Match", etag, "Range", "bytes=-0"}, 416},
		{"If-Match with the ETag, satisfiable", http.MethodGet, []string{"If-Match", etag, "Range", "bytes=0-3"}, 206},
		{"HEAD, satisfiable", http.MethodHead, []string{"Range", "bytes=0-3"}, 206},
		{"HEAD, unsatisfiable", http.MethodHead, []string{"Range", "bytes=-0"}, 416},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := f.getRange(t, tc.method, tc.header...)
			if a.status != tc.wantStatus {
				t.Fatalf("%q answered %d (Content-Range %q): %q; want %d", tc.header, a.status, a.contentRange, a.body, tc.wantStatus)
			}
			switch {
			case tc.wantStatus == http.StatusNotModified:
				if a.header.Get("ETag") != etag || len(a.body) != 0 {
					t.Errorf("304 with ETag %q and body %q, want the ETag and no body", a.header.Get("ETag"), a.body)
				}
			case tc.wantStatus == http.StatusPreconditionFailed:
				if a.header.Get("Content-Range") != "" {
					t.Errorf("412 with Content-Range %q", a.header.Get("Content-Range"))
				}
			case tc.method == http.MethodHead: // (its body, if any, the server drops)
				if tc.wantStatus == http.StatusRequestedRangeNotSatisfiable && a.contentRange != "bytes */"+strconv.Itoa(len(f.body)) {
					t.Errorf("416 to HEAD with Content-Range %q", a.contentRange)
				}
			default:
				f.checkRangeAnswer(t, a)
			}
		})
	}
}

// rfcRangeSpec is one range-spec of a byte range set, RFC 9110 §14.1.1.
var rfcRangeSpec = regexp.MustCompile(`^(?:([0-9]+)-([0-9]*)|-([0-9]+))$`)

// rfcRanges is RFC 9110's reading of a Range value for a representation of
// size bytes, in the RFC's own terms and arbitrary-precision numbers,
// apart from the handler's code: valid reports a byte range set of valid
// range-specs, and satisfiable lists the byte intervals ([first, last],
// clamped to the representation) of its satisfiable ones (§14.1.2: an
// int-range whose first-pos is below the size, a suffix-range of non-zero
// length).
func rfcRanges(value string, size int64) (valid bool, satisfiable [][2]int64) {
	unit, set, ok := strings.Cut(value, "=")
	if !ok || strings.ToLower(unit) != "bytes" {
		return false, nil
	}
	bigSize := big.NewInt(size)
	one := big.NewInt(1)
	specs := 0
	for _, element := range strings.Split(set, ",") {
		element = strings.Trim(element, " \t")
		if element == "" {
			continue
		}
		specs++
		m := rfcRangeSpec.FindStringSubmatch(element)
		if m == nil {
			return false, nil
		}
		if m[3] != "" {
			suffix, _ := new(big.Int).SetString(m[3], 10)
			if suffix.Sign() > 0 && size > 0 {
				first := new(big.Int).Sub(bigSize, suffix)
				if first.Sign() < 0 {
					first.SetInt64(0)
				}
				satisfiable = append(satisfiable, [2]int64{first.Int64(), size - 1})
			}
			continue
		}
		first, _ := new(big.Int).SetString(m[1], 10)
		last := new(big.Int).Sub(bigSize, one)
		if m[2] != "" {
			asked, _ := new(big.Int).SetString(m[2], 10)
			if asked.Cmp(first) < 0 {
				return false, nil
			}
			if asked.Cmp(last) < 0 {
				last = asked
			}
		}
		if first.Cmp(bigSize) < 0 {
			satisfiable = append(satisfiable, [2]int64{first.Int64(), last.Int64()})
		}
	}
	return specs > 0, satisfiable
}

// FuzzRange sends any Range value and holds the answer to RFC 9110's rules
// (checkRangeAnswer), as read by rfcRanges: an invalid value or another
// unit is ignored (200); a valid set of which no range is satisfiable is
// 416; otherwise every part sent lies within a range asked for, and a
// single satisfiable range is sent exactly (a server may ignore several
// that add up to more than the image: 200). Explore further with
//
//	go test -run '^$' -fuzz FuzzRange -fuzzminimizetime 5s ./rest/
func FuzzRange(f *testing.F) {
	fixture := newFilesFixture(f)
	size := int64(len(fixture.body))
	n := strconv.FormatInt(size, 10)
	for _, seed := range []string{
		"bytes=-0", "bytes=" + n + "-", "bytes=0-0", "bytes=-1", "bytes=5-2", "bytes=-0," + n + "-", "bytes=0-",
		"bytes=0-1,4-5", "bytes=0-1,-0,-2", "bytes=-99999999999999999999", "bytes=99999999999999999999-",
		"bytes=3-99999999999999999999", "BYTES=0-3", "bytes=, 0-3 ,\t,", "items=0-3", "bytes=", "bytes=,", "bytes=-",
		"bytes=--1", "bytes=0x1-2", "bytes=0 - 3", "bytes=0-,0-", "bytes=1-1,1-1,1-1", "bytes=0-0,-1", "", "0-3",
		"bytes=" + n + "-" + n, "bytes=00-00", "bytes=\x00", "bytes=1-2,\n3-4",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		a := fixture.getRange(t, http.MethodGet, "Range", value)
		fixture.checkRangeAnswer(t, a)
		valid, satisfiable := rfcRanges(value, size)
		switch {
		case !valid:
			if a.status != http.StatusOK {
				t.Fatalf("Range %q is not a valid byte range set, answered %d, want 200 (ignored)", value, a.status)
			}
		case len(satisfiable) == 0:
			if a.status != http.StatusRequestedRangeNotSatisfiable {
				t.Fatalf("Range %q has no satisfiable range, answered %d, want 416", value, a.status)
			}
		case len(satisfiable) == 1 && a.status != http.StatusPartialContent:
			t.Fatalf("Range %q has one satisfiable range, answered %d, want 206", value, a.status)
		case a.status == http.StatusRequestedRangeNotSatisfiable:
			t.Fatalf("Range %q has satisfiable ranges %v, answered 416", value, satisfiable)
		}
		if len(satisfiable) == 1 && len(a.parts) == 1 && (a.parts[0].first != satisfiable[0][0] || a.parts[0].last != satisfiable[0][1]) {
			t.Errorf("Range %q sent bytes %d-%d, want %d-%d", value, a.parts[0].first, a.parts[0].last, satisfiable[0][0], satisfiable[0][1])
		}
		for _, p := range a.parts {
			inside := false
			for _, s := range satisfiable {
				inside = inside || (s[0] <= p.first && p.last <= s[1])
			}
			if !inside {
				t.Errorf("Range %q sent bytes %d-%d, outside every range asked for %v", value, p.first, p.last, satisfiable)
			}
		}
	})
}

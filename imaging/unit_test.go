package imaging

// Unit tests of the compactor's parts: the format checks, the address
// policy and the guarded dialer, the file store and the back-off.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"image"
	"image/png"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSniffType(t *testing.T) {
	for _, tc := range []struct {
		head string
		want string
	}{
		{"\xff\xd8\xff\xe0\x00\x10JFIF", TypeJPEG},
		{"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", TypePNG},
		{"GIF89a\x01\x00", TypeGIF},
		{"GIF87a\x01\x00", TypeGIF},
		{"RIFF\x10\x00\x00\x00WEBPVP8 ", TypeWebP},
		{"RIFF\x10\x00\x00\x00WAVEfmt ", ""},
		{"<!doctype html>", ""},
		{"<svg xmlns=", ""},
		{"\x00\x00\x00\x1cftypavif", ""},
		{"BM\x36\x00", ""},
		{"\xff\xd8", ""},
		{"", ""},
	} {
		if got := sniffType([]byte(tc.head)); got != tc.want {
			t.Errorf("sniffType(%q) = %q, want %q", tc.head, got, tc.want)
		}
	}
}

func TestDimensions(t *testing.T) {
	webp := func(fourCC string, chunk []byte) []byte {
		b := append([]byte("RIFF\x00\x00\x00\x00WEBP"+fourCC+"\x00\x00\x00\x00"), chunk...)
		return append(b, make([]byte, 32)...)
	}
	vp8 := append([]byte{0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a}, binary.LittleEndian.AppendUint16(binary.LittleEndian.AppendUint16(nil, 234), 344)...)
	vp8l := binary.LittleEndian.AppendUint32([]byte{0x2f}, uint32(233)|uint32(343)<<14)
	vp8x := []byte{0, 0, 0, 0, 0xff, 0xff, 0xff, 0x01, 0, 0}
	for _, tc := range []struct {
		name          string
		body          []byte
		contentType   string
		width, height int
		wantErr       bool
	}{
		{"PNG", pngBytes(t, 7, 3), TypePNG, 7, 3, false},
		{"lossy WebP", webp("VP8 ", vp8), TypeWebP, 234, 344, false},
		{"lossless WebP", webp("VP8L", vp8l), TypeWebP, 234, 344, false},
		{"extended WebP: 24-bit sizes", webp("VP8X", vp8x), TypeWebP, 1 << 24, 2, false},
		{"lossy WebP that is no key frame", webp("VP8 ", append([]byte{0x51}, vp8[1:]...)), TypeWebP, 0, 0, true},
		{"lossy WebP with a bad start code", webp("VP8 ", append([]byte{0x50, 0x01, 0x00, 0x9d, 0x01, 0x2b}, vp8[6:]...)), TypeWebP, 0, 0, true},
		{"lossless WebP with a bad signature", webp("VP8L", append([]byte{0x2e}, vp8l[1:]...)), TypeWebP, 0, 0, true},
		{"lossy WebP of zero width", webp("VP8 ", append(vp8[:6:6], 0, 0, 1, 0)), TypeWebP, 0, 0, true},
		{"WebP with an unknown chunk", webp("ALPH", vp8), TypeWebP, 0, 0, true},
		{"truncated WebP", webp("VP8 ", vp8)[:25], TypeWebP, 0, 0, true},
		{"PNG header cut short", pngBytes(t, 7, 3)[:20], TypePNG, 0, 0, true},
		{"JPEG of only a start marker", []byte("\xff\xd8\xff\xe0"), TypeJPEG, 0, 0, true},
		{"GIF of only a signature", []byte("GIF89a"), TypeGIF, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, h, err := dimensions(bytes.NewReader(tc.body), tc.contentType)
			if tc.wantErr {
				if err == nil || !errors.Is(err, errBadHeader) {
					t.Fatalf("dimensions = %d x %d, %v; want errBadHeader", w, h, err)
				}
				return
			}
			if err != nil || w != tc.width || h != tc.height {
				t.Fatalf("dimensions = %d x %d, %v; want %d x %d", w, h, err, tc.width, tc.height)
			}
		})
	}
}

// TestDimensionsOfEveryPrefix: no prefix of a valid image, and no byte
// flipped in its header, makes the header readers panic or hang.
func TestDimensionsOfEveryPrefix(t *testing.T) {
	valid := pngBytes(t, 5, 5)
	for _, contentType := range []string{TypeJPEG, TypePNG, TypeGIF, TypeWebP} {
		for n := range min(len(valid), 64) {
			dimensions(bytes.NewReader(valid[:n]), contentType)
			flipped := bytes.Clone(valid)
			flipped[n] ^= 0xff
			dimensions(bytes.NewReader(flipped), contentType)
		}
	}
}

func TestIsPublic(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"93.184.215.14", true},
		{"2606:2800:21f:cb07:6820:80da:af6b:8b2c", true},
		{"8.8.8.8", true},
		{"127.0.0.1", false},
		{"127.255.0.9", false},
		{"::1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"100.64.0.1", false},      // CGNAT
		{"100.127.255.254", false},
		{"192.0.0.8", false},
		{"192.0.2.1", false},
		{"198.18.0.1", false},
		{"203.0.113.7", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"240.0.0.1", false},
		{"255.255.255.255", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"fe80::1", false},
		{"ff02::1", false},
		{"fec0::1", false},
		{"::ffff:127.0.0.1", false}, // IPv4-mapped loopback
		{"::ffff:10.0.0.1", false},
		{"::127.0.0.1", false},             // IPv4-compatible
		{"64:ff9b::a00:1", false},          // NAT64 of 10.0.0.1
		{"2002:a00:1::1", false},           // 6to4 of 10.0.0.1
		{"2001:0:4136:e378::1", false},     // Teredo
		{"2001:db8::1", false},             // documentation
		{"::ffff:93.184.215.14", true},     // IPv4-mapped public
		{"2a00:1450:4001:82b::200e", true}, // public IPv6
	} {
		if got := isPublic(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("isPublic(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

// TestAddressPolicy: what each configuration lets the compactor connect to.
// Link-local and metadata addresses open only to a network named within
// their range, never to a wider one, however wide.
func TestAddressPolicy(t *testing.T) {
	policy := func(networks ...string) addressPolicy {
		var prefixes []netip.Prefix
		for _, n := range networks {
			prefixes = append(prefixes, netip.MustParsePrefix(n))
		}
		p, err := newAddressPolicy(prefixes, nil)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	strict, err := newAddressPolicy(nil, []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:8443")})
	if err != nil {
		t.Fatal(err)
	}
	private := func() addressPolicy {
		p, err := newAddressPolicy(PrivateNetworks(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}()
	loopback := policy("127.0.0.0/8")
	everything := policy("0.0.0.0/0", "::/0")
	for _, tc := range []struct {
		name    string
		policy  addressPolicy
		address string
		want    bool
	}{
		{"strict: the allowed address", strict, "127.0.0.1:8443", true},
		{"strict: the allowed address, IPv4-mapped", strict, "[::ffff:127.0.0.1]:8443", true},
		{"strict: the same host, another port", strict, "127.0.0.1:8444", false},
		{"strict: another loopback address", strict, "127.0.0.2:8443", false},
		{"strict: IPv6 loopback", strict, "[::1]:8443", false},
		{"strict: a public address", strict, "93.184.215.14:443", true},
		{"strict: a public IPv6 address", strict, "[2a00:1450:4001:82b::200e]:443", true},
		{"strict: not an address", strict, "not-an-address:80", false},
		{"strict: the metadata service", strict, "169.254.169.254:80", false},
		{"strict: Azure's host endpoint, in public space", strict, "168.63.129.16:80", false},

		{"127.0.0.0/8: loopback", loopback, "127.0.0.1:80", true},
		{"127.0.0.0/8: another loopback address", loopback, "127.255.255.254:8080", true},
		{"127.0.0.0/8: a private address", loopback, "10.0.0.1:80", false},
		{"127.0.0.0/8: IPv6 loopback", loopback, "[::1]:80", false},
		{"127.0.0.0/8: the metadata service", loopback, "169.254.169.254:80", false},
		{"127.0.0.0/8: a public address", loopback, "93.184.215.14:443", true},

		{"private: loopback", private, "127.0.0.1:80", true},
		{"private: 10/8", private, "10.1.2.3:80", true},
		{"private: 172.16/12", private, "172.31.255.255:80", true},
		{"private: past 172.16/12", private, "172.32.0.1:80", true}, // public
		{"private: 192.168/16", private, "192.168.1.1:80", true},
		{"private: IPv6 loopback", private, "[::1]:80", true},
		{"private: IPv6 unique local", private, "[fd12:3456::1]:80", true},
		{"private: AWS's IPv6 network, not its metadata", private, "[fd00:ec2::1]:80", true},
		{"private: the metadata service", private, "169.254.169.254:80", false},
		{"private: ECS task credentials", private, "169.254.170.2:80", false},
		{"private: IPv6 link-local", private, "[fe80::1]:80", false},
		{"private: AWS metadata over IPv6", private, "[fd00:ec2::254]:80", false},
		{"private: GCP metadata over IPv6", private, "[fd20:ce::254]:80", false},
		{"private: CGNAT", private, "100.64.0.1:80", false},
		{"private: Alibaba Cloud metadata", private, "100.100.100.200:80", false},
		{"private: this network", private, "0.0.0.0:80", false},
		{"private: the metadata service by NAT64", private, "[64:ff9b::a9fe:a9fe]:80", false},
		{"private: a public address", private, "93.184.215.14:443", true},

		{"everything: a private address", everything, "10.0.0.1:80", true},
		{"everything: CGNAT", everything, "100.64.0.1:80", true},
		{"everything: IPv6 unique local", everything, "[fd00:ec2::1]:80", true},
		{"everything: the metadata service", everything, "169.254.169.254:80", false},
		{"everything: the metadata service, IPv4-mapped", everything, "[::ffff:169.254.169.254]:80", false},
		{"everything: the metadata service by NAT64", everything, "[64:ff9b::a9fe:a9fe]:80", false},
		{"everything: IPv6 link-local", everything, "[fe80::1]:80", false},
		{"everything: AWS metadata over IPv6", everything, "[fd00:ec2::254]:80", false},
		{"everything: Alibaba Cloud metadata", everything, "100.100.100.200:80", false},
		{"everything: Oracle Cloud Classic metadata", everything, "192.0.0.192:80", false},
		{"everything: Azure's host endpoint", everything, "168.63.129.16:80", false},

		{"the metadata address named", policy("169.254.169.254/32"), "169.254.169.254:80", true},
		{"the metadata address named, another link-local one", policy("169.254.169.254/32"), "169.254.170.2:80", false},
		{"the metadata address named, a private address", policy("169.254.169.254/32"), "10.0.0.1:80", false},
		{"link-local named", policy("169.254.0.0/16", "fe80::/10"), "169.254.170.2:80", true},
		{"link-local named, IPv6", policy("169.254.0.0/16", "fe80::/10"), "[fe80::1]:80", true},
		{"link-local named, AWS metadata over IPv6", policy("169.254.0.0/16", "fe80::/10"), "[fd00:ec2::254]:80", false},
		{"a /15 holding link-local", policy("169.254.0.0/15"), "169.254.169.254:80", false},
		{"AWS metadata over IPv6 named", policy("fd00:ec2::254/128"), "[fd00:ec2::254]:80", true},
		{"AWS metadata over IPv6 named, another address", policy("fd00:ec2::254/128"), "[fd00:ec2::253]:80", false},
		{"CGNAT named, Alibaba Cloud metadata", policy("100.64.0.0/10"), "100.100.100.200:80", false},
		{"CGNAT named, another address", policy("100.64.0.0/10"), "100.64.0.1:80", true},
		{"Alibaba Cloud metadata named", policy("100.100.100.200/32"), "100.100.100.200:80", true},
		{"the NAT64 form named", policy("64:ff9b::a9fe:a9fe/128"), "[64:ff9b::a9fe:a9fe]:80", true},
		{"all of NAT64 named", policy("64:ff9b::/96"), "[64:ff9b::a9fe:a9fe]:80", false},
		{"all of NAT64 named, a private address", policy("64:ff9b::/96"), "[64:ff9b::a00:1]:80", true},
		{"an IPv4-mapped network", policy("::ffff:10.0.0.0/104"), "10.1.1.1:80", true},
		{"an IPv4-mapped network, mapped address", policy("::ffff:10.0.0.0/104"), "[::ffff:10.1.1.1]:80", true},
		{"a network with host bits", policy("10.1.2.3/8"), "10.200.0.1:80", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.policy.check(tc.address)
			if (err == nil) != tc.want || (err != nil && !errors.Is(err, ErrForbiddenAddress)) {
				t.Errorf("check(%s) = %v, want allowed: %v", tc.address, err, tc.want)
			}
		})
	}
	if err := everything.check("169.254.169.254:80"); err == nil ||
		err.Error() != "forbidden address: 169.254.169.254:80 is a link-local or cloud metadata address, allowed only by a network within 169.254.0.0/16" {
		t.Errorf("refusing the metadata service: %v", err)
	}
	if _, err := newAddressPolicy([]netip.Prefix{{}}, nil); err == nil {
		t.Error("newAddressPolicy took an invalid network")
	}
}

// TestGuardedDialerRefusesBeforeConnecting: a refused address never gets a
// connection, whether named directly or by a resolver's answer.
func TestGuardedDialerRefusesBeforeConnecting(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	accepted := make(chan struct{}, 10)
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			conn.Close()
		}
	}()
	target := netip.MustParseAddrPort(listener.Addr().String())
	toTarget := func(context.Context, string, string) ([]netip.AddrPort, error) { return []netip.AddrPort{target}, nil }
	ctx := context.Background()

	for _, tc := range []struct {
		name    string
		dialer  *guardedDialer
		address string
	}{
		{"the loopback address itself", newGuardedDialer(addressPolicy{}, nil, time.Second), target.String()},
		{"a name that resolves to loopback", newGuardedDialer(addressPolicy{}, toTarget, time.Second), "images.example:443"},
		{"another port of an allowed host", newGuardedDialer(addressPolicy{allowed: map[netip.AddrPort]bool{
			netip.AddrPortFrom(target.Addr(), target.Port()+1): true}}, nil, time.Second), target.String()},
	} {
		conn, err := tc.dialer.DialContext(ctx, "tcp", tc.address)
		if err == nil {
			conn.Close()
			t.Errorf("%s: connected", tc.name)
		} else if !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("%s: %v, want ErrForbiddenAddress", tc.name, err)
		}
	}
	allowed := newGuardedDialer(addressPolicy{allowed: map[netip.AddrPort]bool{target: true}}, toTarget, time.Second)
	conn, err := allowed.DialContext(ctx, "tcp", "images.example:443")
	if err != nil {
		t.Fatalf("the allowed address: %v", err)
	}
	conn.Close()
	<-accepted
	select {
	case <-accepted:
		t.Error("a refused dial reached the listener")
	default:
	}
}

// TestPendingFile: a download stays in memory while it is within the limits,
// else goes to a temporary file; either way commit stores the same bytes,
// and no temporary file or memory is left afterwards.
func TestPendingFile(t *testing.T) {
	small := bytes.Repeat([]byte("small image "), 1000)
	large := bytes.Repeat([]byte("large image "), maxDownloadInMemory/10)
	tests := []struct {
		name       string
		budget     int64
		body       []byte
		wantInFile bool
	}{
		{"small, within the budget", downloadMemory, small, false},
		{"larger than a download kept in memory", downloadMemory, large, true},
		{"small, over what is left of the budget", int64(len(small)) - 1, small, true},
		{"no budget", 0, small, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store, err := OpenFileStore(filepath.Join(t.TempDir(), "images"))
			if err != nil {
				t.Fatal(err)
			}
			memory := newMemoryBudget(tc.budget)
			p := createPending(store.tmp, memory)
			for chunk := range slices.Chunk(tc.body, 4096) {
				if _, err := p.Write(chunk); err != nil {
					t.Fatal(err)
				}
			}
			entries, _ := os.ReadDir(store.tmp)
			if inFile := len(entries) == 1; inFile != tc.wantInFile || len(entries) > 1 {
				t.Errorf("%d temporary files while pending, want in a file: %v", len(entries), tc.wantInFile)
			}
			sum, _, err := p.commit(t.Context(), store, "image/png")
			if err != nil {
				t.Fatal(err)
			}
			path, _ := store.Path(sum)
			if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, tc.body) {
				t.Errorf("stored %d bytes (%v), want the %d written", len(got), err, len(tc.body))
			}
			if entries, _ := os.ReadDir(store.tmp); len(entries) != 0 {
				t.Errorf("temporary files left: %v", entries)
			}
			if left := memory.left.Load(); left != tc.budget {
				t.Errorf("memory left after commit %d, want the whole budget %d", left, tc.budget)
			}
		})
	}
}

// TestFetchQueueWaitBelow: waitBelow returns once fewer fetches wait than
// asked, or when its context ends, whichever comes first.
func TestFetchQueueWaitBelow(t *testing.T) {
	tests := []struct {
		name    string
		waiting int
		below   int
		// then runs in the background while waitBelow waits.
		then func(q *fetchQueue, cancel context.CancelFunc)
	}{
		{"fewer waiting already", 1, 2, func(*fetchQueue, context.CancelFunc) {}},
		{"one leaves", 2, 2, func(q *fetchQueue, _ context.CancelFunc) { q.leave() }},
		{"two leave, one at a time", 3, 2, func(q *fetchQueue, _ context.CancelFunc) { q.leave(); q.leave() }},
		{"the context ends", 2, 2, func(_ *fetchQueue, cancel context.CancelFunc) { cancel() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := newFetchQueue()
			for range tc.waiting {
				q.enter()
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			go tc.then(q, cancel)
			q.waitBelow(ctx, tc.below)
			q.mu.Lock()
			waiting := q.waiting
			q.mu.Unlock()
			if waiting >= tc.below && ctx.Err() == nil {
				t.Errorf("waitBelow(%d) returned with %d waiting and the context alive", tc.below, waiting)
			}
		})
	}
}

func TestFileStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "images")
	store, err := OpenFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	write := func(body []byte) (string, bool) {
		t.Helper()
		p := createPending(store.tmp, nil)
		if _, err := p.Write(body); err != nil {
			t.Fatal(err)
		}
		sum, duplicate, err := p.commit(t.Context(), store, "image/png")
		if err != nil {
			t.Fatal(err)
		}
		return sum, duplicate
	}
	body := pngBytes(t, 3, 3)
	sum, duplicate := write(body)
	want := sha256.Sum256(body)
	if sum != hex.EncodeToString(want[:]) || duplicate {
		t.Fatalf("commit = %s, %v; want %x, new", sum, duplicate, want)
	}
	path := filepath.Join(dir, sum[:2], sum[2:4], sum)
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("stored file %s: %v", path, err)
	}
	if _, duplicate := write(body); !duplicate {
		t.Error("identical bytes were not recognised as stored")
	}
	f, err := Contents{store}.Open(t.Context(), sum)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if entries, _ := os.ReadDir(filepath.Join(dir, tempDirName)); len(entries) != 0 {
		t.Errorf("temporary files left: %v", entries)
	}

	for _, bad := range []string{"", "../../etc/passwd", strings.Repeat("A", 64), strings.Repeat("a", 63), strings.Repeat("a", 63) + "/",
		"..%2f" + strings.Repeat("a", 59), strings.Repeat("g", 64)} {
		if _, err := (Contents{store}).Open(t.Context(), bad); !errors.Is(err, ErrInvalidContentHash) {
			t.Errorf("Open(%q) = %v, want ErrInvalidContentHash", bad, err)
		}
	}
	if _, err := (Contents{store}).Open(t.Context(), strings.Repeat("ab", 32)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open of content never stored = %v, want fs.ErrNotExist", err)
	}

	// A temporary file left by a crash long ago is removed on open; one being
	// written now is not.
	stale := filepath.Join(dir, tempDirName, "fetch-stale")
	fresh := filepath.Join(dir, tempDirName, "fetch-fresh")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * staleTempAge)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFileStore(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the stale temporary file is still there: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a fresh temporary file was removed: %v", err)
	}
}

// TestStoreSlots: a directory store whose syncs are shared takes more
// downloads at once than one that fsyncs each file; a bucket takes one per
// worker.
func TestStoreSlots(t *testing.T) {
	dir := t.TempDir()
	grouped := &FileStore{dir: dir, durable: newGroupSync(func() error { return nil })}
	perFile := &FileStore{dir: dir}
	for _, tc := range []struct {
		name  string
		files ObjectStore
		want  int
	}{
		{"grouped syncs", grouped, groupSyncedStores},
		{"an fsync per file", perFile, fsyncedStores},
		{"a bucket", &S3Store{}, 16},
	} {
		if got := storeSlots(Config{Files: tc.files, Workers: 16}); got != tc.want {
			t.Errorf("%s: %d downloads stored at once, want %d", tc.name, got, tc.want)
		}
	}
}

// TestRaiseProcs: GOMAXPROCS grows by the extra Ps for a directory store
// unless the environment sets it, which the operator's choice then stays,
// and never for a bucket.
func TestRaiseProcs(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(before) })
	dir := &FileStore{dir: t.TempDir()}
	set := func(string) (string, bool) { return "3", true }
	unset := func(string) (string, bool) { return "", false }

	if _, raised := RaiseProcs(dir, set); raised || runtime.GOMAXPROCS(0) != before {
		t.Fatalf("GOMAXPROCS set in the environment: %d Ps, want the %d it had", runtime.GOMAXPROCS(0), before)
	}
	if _, raised := RaiseProcs(&S3Store{}, unset); raised || runtime.GOMAXPROCS(0) != before {
		t.Fatalf("a bucket: %d Ps, want the %d it had", runtime.GOMAXPROCS(0), before)
	}
	if was, raised := RaiseProcs(dir, unset); !raised || was != before || runtime.GOMAXPROCS(0) != before+extraProcsForFileStore {
		t.Fatalf("GOMAXPROCS unset: %d Ps (raised %v from %d), want %d", runtime.GOMAXPROCS(0), raised, was, before+extraProcsForFileStore)
	}
}

func TestBackoff(t *testing.T) {
	f := &fetcher{backoffBase: time.Second, backoffMax: 60 * time.Second}
	f.jitter = func(n time.Duration) time.Duration { return n } // the ceiling
	for attempt, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second,
		32 * time.Second, 60 * time.Second, 60 * time.Second} {
		if got, ok := f.backoff(attempt+1, 0); got != want || !ok {
			t.Errorf("backoff after attempt %d = %v, want the ceiling %v", attempt+1, got, want)
		}
	}
	if got, ok := f.backoff(200, 0); got != 60*time.Second || !ok {
		t.Errorf("backoff after attempt 200 = %v, want 60s", got)
	}
	f.jitter = func(time.Duration) time.Duration { return 0 } // full jitter may wait nothing
	if got, ok := f.backoff(3, 0); got != 0 || !ok {
		t.Errorf("backoff with zero jitter = %v", got)
	}
	if got, ok := f.backoff(1, 7*time.Second); got != 7*time.Second || !ok {
		t.Errorf("backoff with Retry-After 7s = %v, want 7s", got)
	}
	if _, ok := f.backoff(1, 61*time.Second); ok {
		t.Error("a Retry-After beyond the longest back-off was accepted")
	}
}

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"120", 2 * time.Minute},
		{"-5", 0},
		{"soon", 0},
		{time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), 0},
	} {
		resp := &http.Response{Header: http.Header{}}
		if tc.header != "" {
			resp.Header.Set("Retry-After", tc.header)
		}
		if got := retryAfter(resp); got != tc.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
	resp := &http.Response{Header: http.Header{"Retry-After": {time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}}}
	if got := retryAfter(resp); got < 58*time.Minute || got > time.Hour {
		t.Errorf("retryAfter of a date an hour ahead = %v", got)
	}
}

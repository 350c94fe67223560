// Package feedgen writes deterministic synthetic performer feeds: the real
// feed's layout and every property docs/feed.md describes, at any size, for tests
// at scale and local runs (`marquee dev gen-feed`).
//
// A feed is a function of its Options: the same options give the same bytes
// on every machine and Go version. Performers are generated one at a time
// from the seed and their position, so Write streams in constant memory and
// generation G can be written without generating 0..G-1 first.
//
// What every generation contains, at the real feed's measured rates: ids with gaps;
// names in mixed and lower case with digits, dots, apostrophes and non-ASCII
// letters; 0..23 aliases (27% none) with exact duplicates, "" entries,
// trailing U+00A0, other scripts, the performer's own name and glued notes
// ("Alana(als)"); three thumbnails (pc, mobile, tablet) sharing one URL, or
// none (5.6%); about 14 URLs in 21,000 performers shared by two performers;
// URLs with "(m=...)(mh=...)" parts under ImageBase; absent hairColor (5%),
// ethnicity (4%), breastSize (21%), breastType (22%) and age (16%);
// pipe-joined hair colours and ethnicities; one "Couple" gender; 64-bit
// stats with monthlySearches up to 4.2e8; a few strings with the live feed's
// invalid \xNN escapes (an emoji, and a Latin-1 byte that is not UTF-8).
// When Items is at least 20, each rare property is also forced onto one
// performer, so even a small feed shows every oddity.
//
// Between generations (see Describe): the same seed keeps every performer's
// id, name, aliases, attributes and image; from generation G-1 to G exactly
// round(ChangeRatio*Items) of the performers present in both change (their
// stats, sometimes their age, and for a few of them the image host, ei. <->
// di.), a few performers leave for good and as many new ones arrive.
package feedgen

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/url"
	"strings"
	"time"
)

// DefaultImageBase is the image URL prefix of the real feed.
const DefaultImageBase = "https://ei.phncdn.com/pics/pornstars"

// MaxItems bounds Options.Items: plenty for any test, and small enough that
// the permutations' arithmetic never overflows.
const MaxItems = 100_000_000

// Options select one synthetic feed.
type Options struct {
	// Items is how many performers generation 0 has. Every later generation
	// has as many: it loses Few(Items) performers and gains Few(Items).
	Items int
	// Seed selects the performers: with the same seed, a performer keeps its
	// id, name, aliases, attributes and image path in every generation.
	Seed int64
	// Generation 0 is the first feed; generation G is the feed G days later.
	Generation int
	// ChangeRatio is the share of Items that changes from generation G-1 to
	// G: exactly round(ChangeRatio*Items) of the performers present in both
	// get a different profile (at most as many as there are). 0..1; ignored
	// for generation 0.
	ChangeRatio float64
	// ImageBase is the URL prefix of every thumbnail; empty means
	// DefaultImageBase. Re-hosting moves an image between the hosts ei.X and
	// di.X, or 127.0.0.1 and localhost (same port and path, so a local image
	// server serves both); under any other host nothing is re-hosted.
	ImageBase string
	// Head, when above 0, cuts the feed to the generation's first Head
	// items, as the real samples were cut from real feeds: those items are
	// the ones the whole generation has, and itemsCount counts what is
	// written.
	Head int
	// BareArray writes the items as a bare JSON array, without site,
	// generationDate and itemsCount: the form of the December 2024 feed.
	BareArray bool
}

// Generation describes the feed Options select and how it differs from the
// previous generation of the same seed.
type Generation struct {
	// Items is how many items the feed has.
	Items int
	// Changed is how many performers present in both generations have a
	// different profile; Rehosted of them also have their image on the
	// other host.
	Changed, Rehosted int
	// Removed performers were in the previous generation and are not in
	// this one; Added ones are new.
	Removed, Added int
}

// Few is how many performers a generation removes, adds and re-hosts: one
// per 2,000 (rounded up), so 11 of the real feed's 21,000.
func Few(items int) int { return (items + 1999) / 2000 }

// Describe returns what the feed of o holds, without generating it. With
// Head, Items counts the items written; the changes are the whole
// generation's.
func Describe(o Options) (Generation, error) {
	pl, err := newPlan(o)
	if err != nil {
		return Generation{}, err
	}
	g := Generation{Items: pl.present(o.Generation)}
	if o.Head > 0 {
		g.Items = min(g.Items, o.Head)
	}
	if o.Generation > 0 {
		gp := pl.gens[o.Generation-1]
		g.Changed, g.Rehosted = gp.changed, gp.rehosted
		g.Removed = pl.baseLeft(o.Generation-1) - pl.baseLeft(o.Generation)
		g.Added = pl.few
	}
	return g, nil
}

// Write writes the feed o selects to w, in the real layout: the wrapper
// object with site, generationDate, items (one compact item per line, '/'
// escaped as "\/") and itemsCount last; or, with BareArray, the items alone
// in an array, one per line. It buffers its writes and holds one item at a
// time.
func Write(w io.Writer, o Options) error {
	pl, err := newPlan(o)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	indent := "\t\t"
	if o.BareArray {
		indent = ""
		bw.WriteString("[\n")
	} else {
		date := baseDate.AddDate(0, 0, o.Generation).Format(time.RFC3339)
		fmt.Fprintf(bw, "{\n\t\"site\": \"https://www.pornhub.com\",\n\t\"generationDate\": %q,\n\t\"items\": [\n", date)
	}

	var item []byte
	var id, prevID int64
	written := 0
	total := pl.n + o.Generation*pl.few
	for slot := 0; slot < total && (o.Head <= 0 || written < o.Head); slot++ {
		p := pl.performer(slot)
		prevID, id = id, id+1+p.idGap
		if !pl.isPresent(slot, o.Generation) {
			continue
		}
		if written > 0 {
			bw.WriteString(",\n")
		}
		item = pl.appendItem(append(item[:0], indent...), &p, id, prevID, o.Generation)
		if _, err := bw.Write(item); err != nil {
			return fmt.Errorf("feedgen: write: %w", err)
		}
		written++
	}
	if written > 0 {
		bw.WriteString("\n")
	}
	if o.BareArray {
		bw.WriteString("]\n")
	} else {
		fmt.Fprintf(bw, "\t\t],\n\t\"itemsCount\": %d\n}\n", written)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("feedgen: write: %w", err)
	}
	return nil
}

// baseDate is generation 0's generationDate, the real head's.
var baseDate = time.Date(2023, 10, 29, 4, 15, 3, 0, time.UTC)

// Random streams: each draws from its own sequence, so adding a draw to one
// never shifts another.
const (
	streamIdentity uint64 = iota + 1
	streamStats
	streamPlan
	streamChange
)

// plan holds what every performer's generation depends on.
type plan struct {
	o        Options
	n, few   int
	removal  affine // base slot -> position in the order of leaving
	names    affine // slot -> (first name, last name) pair
	gens     []genPlan
	base     string // image URL prefix
	altBase  string // the re-hosted prefix; "" when the host has no sibling
	showcase int    // first slot of the forced oddities; -1 for none
}

// genPlan is how generation g (gens[g-1]) changes performers: those present
// in g-1 and g are numbered 0..m-1 (base survivors, then earlier additions),
// permuted by order, and the first changed of them change, the first
// rehosted of those also move host.
type genPlan struct {
	m, changed, rehosted int
	order                affine
}

// affine is the permutation x -> (a*x + b) mod m of 0..m-1.
type affine struct{ a, b, m uint64 }

func newAffine(r *rng, m int) affine {
	if m <= 1 {
		return affine{a: 1, m: uint64(max(m, 1))}
	}
	p := affine{m: uint64(m), b: r.next() % uint64(m)}
	for {
		p.a = 1 + r.next()%uint64(m-1)
		if gcd(p.a, p.m) == 1 {
			return p
		}
	}
}

func (p affine) at(x int) int { return int((p.a*uint64(x) + p.b) % p.m) }

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func newPlan(o Options) (*plan, error) {
	switch {
	case o.Items < 0 || o.Items > MaxItems:
		return nil, fmt.Errorf("feedgen: items must be 0..%d, got %d", MaxItems, o.Items)
	case o.Generation < 0:
		return nil, fmt.Errorf("feedgen: generation must be 0 or more, got %d", o.Generation)
	case o.Head < 0:
		return nil, fmt.Errorf("feedgen: head must be 0 (the whole feed) or more, got %d", o.Head)
	case math.IsNaN(o.ChangeRatio) || o.ChangeRatio < 0 || o.ChangeRatio > 1:
		return nil, fmt.Errorf("feedgen: change ratio must be 0..1, got %v", o.ChangeRatio)
	}
	base, altBase, err := imageBases(o.ImageBase)
	if err != nil {
		return nil, err
	}
	pl := &plan{o: o, n: o.Items, few: Few(o.Items), base: base, altBase: altBase, showcase: -1}
	r := newRNG(o.Seed, streamPlan, 0, 0)
	pl.removal = newAffine(&r, pl.n)
	pl.names = newAffine(&r, len(firstNames)*len(lastNames))
	if pl.n >= showcaseMinItems {
		pl.showcase = 1 + r.intn(pl.n-numOddities-1)
	}
	wantChanged := int(math.Round(o.ChangeRatio * float64(pl.n)))
	for g := 1; g <= o.Generation; g++ {
		gr := newRNG(o.Seed, streamChange, uint64(g), 0)
		m := pl.baseLeft(g) + (g-1)*pl.few
		gp := genPlan{m: m, changed: min(wantChanged, m), order: newAffine(&gr, m)}
		if altBase != "" {
			gp.rehosted = min(pl.few, gp.changed)
		}
		pl.gens = append(pl.gens, gp)
	}
	return pl, nil
}

// imageBases returns the image prefix and its re-hosted sibling.
func imageBases(imageBase string) (base, alt string, err error) {
	if imageBase == "" {
		imageBase = DefaultImageBase
	}
	base = strings.TrimRight(imageBase, "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", fmt.Errorf("feedgen: image base must be an absolute http(s) URL, got %q", imageBase)
	}
	host, port := u.Hostname(), u.Port()
	switch {
	case strings.HasPrefix(host, "ei."):
		host = "di." + host[3:]
	case strings.HasPrefix(host, "di."):
		host = "ei." + host[3:]
	case host == "127.0.0.1":
		host = "localhost"
	case host == "localhost":
		host = "127.0.0.1"
	default:
		return base, "", nil
	}
	if port != "" {
		host += ":" + port
	}
	alt = u.Scheme + "://" + host + strings.TrimPrefix(base, u.Scheme+"://"+u.Host)
	return base, alt, nil
}

// baseLeft is how many of the first generation's performers remain in
// generation g.
func (pl *plan) baseLeft(g int) int { return max(0, pl.n-g*pl.few) }

// present is how many performers generation g has.
func (pl *plan) present(g int) int { return pl.baseLeft(g) + g*pl.few }

// isPresent reports whether slot is in generation g. Slots 0..n-1 are the
// first generation's performers, in the order of the feed; they leave in the
// order of removal. Slot n+j is the j-th addition, made in generation
// j/few+1, which never leaves.
func (pl *plan) isPresent(slot, g int) bool {
	if slot < pl.n {
		return pl.removal.at(slot) >= g*pl.few
	}
	return slot-pl.n < g*pl.few
}

// history returns how many times slot changed and moved host up to
// generation g.
func (pl *plan) history(slot, g int) (version, moves int) {
	for gen := 1; gen <= g; gen++ {
		gp := &pl.gens[gen-1]
		var index int
		if slot < pl.n {
			leave := pl.removal.at(slot)
			if leave < gen*pl.few {
				break // gone for good
			}
			index = leave - gen*pl.few
		} else {
			j := slot - pl.n
			if j >= (gen-1)*pl.few {
				continue // not yet present in gen-1
			}
			index = pl.baseLeft(gen) + j
		}
		if pos := gp.order.at(index); pos < gp.changed {
			version++
			if pos < gp.rehosted {
				moves++
			}
		}
	}
	return version, moves
}

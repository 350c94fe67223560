package feedgen

import (
	"slices"
	"strconv"
	"strings"
)

// Oddities forced onto consecutive performers from plan.showcase, so every
// feed of showcaseMinItems or more shows each one at least once.
const (
	oddCouple    = iota
	oddSharedURL // shares its image URL with the performer before it
	oddEmojiEscape
	oddInvalidEscape
	oddTrailingNBSP
	oddOwnName
	oddDuplicateAlias
	oddEmptyAlias
	oddGluedNote
	oddForeignAlias
	oddPipeJoined
	oddNoAttributes
	oddEmptyThumbnails
	oddTopStats
	oddManyAliases
	oddMaleGay
	oddPremium
	numOddities
)

const showcaseMinItems = 20

// Measured rates (of the real feed), in parts per million.
const (
	ppmNoAliases       = 270_000
	ppmLowerCaseName   = 380_000 // with the "ava 27" form (1 in 12), 43% in all
	ppmEmptyThumbnails = 56_000
	ppmSharedURL       = 670 // 14 of 21,000
	ppmNoHairColor     = 50_000
	ppmNoEthnicity     = 40_000
	ppmNoBreast        = 210_000 // size and type absent together
	ppmNoBreastType    = 10_000  // type absent alone: 22% in all
	ppmNoAge           = 160_000
	ppmMale            = 30_000
	ppmPremium         = 30_000
	ppmWLStatusZero    = 130_000
	ppmOwnName         = 60_000
	ppmDuplicateAlias  = 30_000
	ppmEmptyAlias      = 20_000
	ppmTrailingNBSP    = 5_000
	ppmForeignAlias    = 30_000
	ppmGluedNote       = 10_000
	ppmEmojiEscape     = 2_000
	ppmInvalidEscape   = 1_000
)

// performer is one slot's random source, past the id gap.
type performer struct {
	slot  int
	idGap int64
	r     rng
}

func (pl *plan) performer(slot int) performer {
	p := performer{slot: slot, r: newRNG(pl.o.Seed, streamIdentity, uint64(slot), 0)}
	// Ids have gaps: the real head's ids go 2, 3, 5, 7, 8, 10, 13, ...
	switch roll := p.r.intn(100); {
	case roll < 50:
	case roll < 90:
		p.idGap = 1
	case roll < 97:
		p.idGap = 2
	default:
		p.idGap = 3 + int64(p.r.intn(8))
	}
	return p
}

func (pl *plan) oddity(slot int) int {
	if pl.showcase < 0 || slot < pl.showcase || slot >= pl.showcase+numOddities {
		return -1
	}
	return slot - pl.showcase
}

// appendItem appends one item as compact JSON in the real key order.
func (pl *plan) appendItem(dst []byte, p *performer, id, prevID int64, gen int) []byte {
	r := &p.r
	odd := pl.oddity(p.slot)
	version, moves := pl.history(p.slot, gen)

	name := pl.name(p.slot)
	if r.ppm(ppmLowerCaseName) {
		name = strings.ToLower(name)
	}

	// Attributes: draw every value, then drop the absent ones.
	male := r.ppm(ppmMale) || odd == oddMaleGay
	gender := "female"
	switch {
	case odd == oddCouple:
		gender = "Couple"
	case male:
		gender = "male"
	}
	orientation := "straight"
	if male && (r.intn(3) == 0 || odd == oddMaleGay) {
		orientation = "gay"
	}
	hair := pick(hairColors, r.intn(1000))
	if odd == oddPipeJoined {
		hair = "Blonde|Brunette"
	}
	ethnicity := pick(ethnicities, r.intn(1000))
	breastSize := 32 + r.intn(5)
	if r.intn(10) == 0 {
		breastSize = 27 + r.intn(39)
	}
	breastType := pick(breastTypes, r.intn(1000))
	age := 25 + r.intn(25)
	if r.intn(8) == 0 {
		age = 25 + r.intn(55)
	}
	agePhase := r.intn(8)
	hasHair, hasEthnicity := !r.ppm(ppmNoHairColor), !r.ppm(ppmNoEthnicity)
	hasBreastSize := !r.ppm(ppmNoBreast)
	hasBreastType := hasBreastSize && !r.ppm(ppmNoBreastType)
	hasAge := !r.ppm(ppmNoAge)
	if odd == oddNoAttributes {
		hasHair, hasEthnicity, hasBreastSize, hasBreastType, hasAge = false, false, false, false, false
	}
	tattoos, piercings := r.intn(2) == 0, r.intn(5) < 3

	dst = append(dst, `{"attributes":{`...)
	if hasHair {
		dst = appendKeyString(dst, "hairColor", hair)
		dst = append(dst, ',')
	}
	if hasEthnicity {
		dst = appendKeyString(dst, "ethnicity", ethnicity)
		dst = append(dst, ',')
	}
	dst = append(dst, `"tattoos":`...)
	dst = strconv.AppendBool(dst, tattoos)
	dst = append(dst, `,"piercings":`...)
	dst = strconv.AppendBool(dst, piercings)
	if hasBreastSize {
		dst = append(dst, `,"breastSize":`...)
		dst = strconv.AppendInt(dst, int64(breastSize), 10)
	}
	if hasBreastType {
		dst = append(dst, ',')
		dst = appendKeyString(dst, "breastType", breastType)
	}
	dst = append(dst, ',')
	dst = appendKeyString(dst, "gender", gender)
	dst = append(dst, ',')
	dst = appendKeyString(dst, "orientation", orientation)
	if hasAge {
		dst = append(dst, `,"age":`...)
		dst = strconv.AppendInt(dst, int64(age+(version+agePhase)/8), 10)
	}
	dst = pl.appendStats(dst, p, r, version, odd == oddTopStats)
	dst = append(dst, `},"id":`...)
	dst = strconv.AppendInt(dst, id, 10)
	dst = append(dst, ',')
	dst = appendKeyString(dst, "name", name)

	license, wlStatus := "REGULAR", "1"
	if r.ppm(ppmPremium) || odd == oddPremium {
		license = "PREMIUM"
	}
	if r.ppm(ppmWLStatusZero) || odd == oddPremium {
		wlStatus = "0"
	}
	dst = append(dst, ',')
	dst = appendKeyString(dst, "license", license)
	dst = append(dst, ',')
	dst = appendKeyString(dst, "wlStatus", wlStatus)

	dst = append(dst, `,"aliases":[`...)
	for i, alias := range pl.aliases(name, r, odd) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, alias)
	}
	dst = append(dst, "],"...)
	dst = appendKeyString(dst, "link", "https://www.pornhub.com/pornstar/"+slug(name))

	dst = append(dst, `,"thumbnails":[`...)
	empty := r.ppm(ppmEmptyThumbnails)
	shared := r.ppm(ppmSharedURL)
	switch {
	case odd == oddEmptyThumbnails:
		empty = true
	case odd >= 0:
		empty, shared = false, odd == oddSharedURL
	}
	if !empty {
		imageBase := pl.base
		if moves%2 == 1 {
			imageBase = pl.altBase
		}
		imageSlot, imageID := p.slot, id
		if shared && p.slot > 0 {
			imageSlot, imageID = p.slot-1, prevID
		}
		imageURL := pl.imageURL(imageBase, imageSlot, imageID)
		for i, typ := range []string{"pc", "mobile", "tablet"} {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"height":344,"width":234,"type":"`...)
			dst = append(dst, typ...)
			dst = append(dst, `","urls":[`...)
			dst = appendString(dst, imageURL)
			dst = append(dst, "]}"...)
		}
	}
	return append(dst, "]}"...)
}

// appendStats writes ,"stats":{...}: a base drawn from the performer's
// identity, moved by every version (views always grow, so each version is a
// different profile).
func (pl *plan) appendStats(dst []byte, p *performer, r *rng, version int, top bool) []byte {
	// Popularity has a heavy tail: a few performers have most searches.
	// The medians and caps are the real head's.
	// Integer arithmetic only, so every platform writes the same bytes.
	// popularity is in units of 1/10,000: 1..1e6 with a median of 2.
	popularity := 10_000_000_000 / (1 + uint64(r.intn(1_000_000)))
	damped := int64(isqrt(popularity) * isqrt(isqrt(popularity))) // 1000 * popularity^0.75
	monthlySearches := min(10_600+int64(popularity)*10, 419_000_000)
	views := min(23_307+damped*200+int64(r.intn(int(damped*100+1))), 129_000_000)
	subscriptions := min(41+damped*2+int64(r.intn(int(damped+1))), 718_381)
	if top {
		views, subscriptions = 128_000_000+int64(r.intn(1_000_000)), 718_381
	}
	videos := int64(r.intn(120))
	if r.intn(20) == 0 {
		videos = int64(r.intn(520))
	}
	premium, whiteLabel := videos*int64(r.intn(100))/100, videos*int64(r.intn(100))/100
	rankSpan := pl.n + pl.n/5 + 10
	rank := 1 + int64(r.intn(rankSpan))

	v := newRNG(pl.o.Seed, streamStats, uint64(p.slot), uint64(version))
	step := 1 + views/500
	views += int64(version)*step + int64(v.intn(int(step)))
	subscriptions += int64(version) * (1 + subscriptions/1000)
	monthlySearches = min(monthlySearches*int64(900+v.intn(200))/1000, 419_999_999)
	if top {
		monthlySearches = 419_000_000 + int64(v.intn(1_000_000))
	}
	videos += int64(version / 3)
	rank = max(1, rank+int64(v.intn(41))-20)
	rankPremium := max(1, rank+int64(v.intn(201))-100)
	rankWL := max(1, rank+int64(v.intn(201))-100)

	dst = append(dst, `,"stats":{"subscriptions":`...)
	dst = strconv.AppendInt(dst, subscriptions, 10)
	dst = append(dst, `,"monthlySearches":`...)
	dst = strconv.AppendInt(dst, monthlySearches, 10)
	dst = append(dst, `,"views":`...)
	dst = strconv.AppendInt(dst, views, 10)
	dst = append(dst, `,"videosCount":`...)
	dst = strconv.AppendInt(dst, videos, 10)
	dst = append(dst, `,"premiumVideosCount":`...)
	dst = strconv.AppendInt(dst, premium, 10)
	dst = append(dst, `,"whiteLabelVideoCount":`...)
	dst = strconv.AppendInt(dst, whiteLabel, 10)
	dst = append(dst, `,"rank":`...)
	dst = strconv.AppendInt(dst, rank, 10)
	dst = append(dst, `,"rankPremium":`...)
	dst = strconv.AppendInt(dst, rankPremium, 10)
	dst = append(dst, `,"rankWl":`...)
	dst = strconv.AppendInt(dst, rankWL, 10)
	return append(dst, '}')
}

// name is the slot's unique name: a bijection picks its first and last name,
// and the pair's index picks the form ("Ava Stone", "ava 27", "Avastone").
// Slots beyond the pairs get a number.
func (pl *plan) name(slot int) string {
	pairs := len(firstNames) * len(lastNames)
	pair := pl.names.at(slot % pairs)
	first, li := firstNames[pair%len(firstNames)], pair/len(firstNames)
	var name string
	switch li % 12 {
	case 5:
		name = strings.ToLower(first) + " " + strconv.Itoa(18+li/12)
	case 7:
		name = first + strings.ToLower(lastNames[li])
	default:
		name = first + " " + lastNames[li]
	}
	if block := slot / pairs; block > 0 {
		name += " " + strconv.Itoa(block+1)
	}
	return name
}

// slug is the link's last segment: lower case, spaces as '-', dots and apostrophes
// dropped. Distinct names give distinct slugs.
func slug(name string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(name) {
		switch c {
		case ' ':
			b.WriteByte('-')
		case '.', '\'':
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// aliases draws the alias list: 27% empty, otherwise mostly spellings of
// the name, plus the real feed's oddities (docs/feed.md) at their rates.
func (pl *plan) aliases(name string, r *rng, odd int) []string {
	count := 0
	if !r.ppm(ppmNoAliases) {
		count = 1
		for count < 11 && r.intn(100) < 68 { // geometric: 3 on average
			count++
		}
		if r.intn(40) == 0 {
			count = 11 + r.intn(12)
		}
	}
	if odd >= oddEmojiEscape && odd <= oddForeignAlias && count < 2 {
		count = 2
	}
	if odd == oddManyAliases {
		count = 23
	}
	first, _, _ := strings.Cut(name, " ")
	list := make([]string, 0, count+3)
	for range count {
		// Exact duplicates and the own name come at their own rates below.
		alias := spelling(name, first, r)
		for retry := 0; retry < 3 && (alias == name || slices.Contains(list, alias)); retry++ {
			alias = spelling(name, first, r)
		}
		list = append(list, alias)
	}
	place := func(alias string) { // at a random position, keeping 23 at most
		if len(list) == 23 {
			list = list[:22]
		}
		i := r.intn(len(list) + 1)
		list = append(list[:i], append([]string{alias}, list[i:]...)...)
	}
	if count == 0 {
		return list
	}
	if r.ppm(ppmOwnName) || odd == oddOwnName {
		place(name)
	}
	if r.ppm(ppmDuplicateAlias) || odd == oddDuplicateAlias {
		place(list[r.intn(len(list))])
	}
	if r.ppm(ppmEmptyAlias) || odd == oddEmptyAlias {
		place("")
	}
	if r.ppm(ppmTrailingNBSP) || odd == oddTrailingNBSP {
		place(spelling(name, first, r) + "\u00A0")
	}
	if r.ppm(ppmForeignAlias) || odd == oddForeignAlias {
		place(foreignAliases[r.intn(len(foreignAliases))])
	}
	if r.ppm(ppmGluedNote) || odd == oddGluedNote {
		place(first + gluedNotes[r.intn(len(gluedNotes))])
	}
	if r.ppm(ppmEmojiEscape) || odd == oddEmojiEscape {
		place(first + " " + rawBytes("\xF0\x9F\x98\x8D")) // 😍 as \xF0\x9F\x98\x8D
	}
	if r.ppm(ppmInvalidEscape) || odd == oddInvalidEscape {
		place(first + rawBytes("\xE9")) // Latin-1 é: not UTF-8
	}
	return list
}

// spelling is one alias: a variant of the name, as performers' aliases are.
func spelling(name, first string, r *rng) string {
	switch roll := r.intn(100); {
	case roll < 40:
		return misspell(name, r)
	case roll < 55:
		return first
	case roll < 70:
		return firstNames[r.intn(len(firstNames))] + " " + lastNames[r.intn(len(lastNames))]
	case roll < 80:
		return strings.ToLower(misspell(name, r))
	case roll < 90:
		return firstNames[r.intn(len(firstNames))]
	default:
		return first + " " + string(rune('A'+r.intn(26))) + "."
	}
}

// misspell doubles, drops or swaps one ASCII letter of name.
func misspell(name string, r *rng) string {
	if len(name) < 3 {
		return name + name[len(name)-1:]
	}
	i := 1 + r.intn(len(name)-2)
	if name[i] >= 0x80 || name[i+1] >= 0x80 || name[i-1] >= 0x80 {
		return name + "e"
	}
	switch r.intn(3) {
	case 0:
		return name[:i] + name[i:i+1] + name[i:]
	case 1:
		return name[:i] + name[i+1:]
	default:
		return name[:i] + name[i+1:i+2] + name[i:i+1] + name[i+2:]
	}
}

// imageURL is a thumbnail URL in the real shape:
// <base>/000/000/002/(m=lciuhScOb_c)(mh=5Lb6oqzf58Pdh9Wc)thumb_22561.jpg.
func (pl *plan) imageURL(base string, slot int, id int64) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	r := newRNG(pl.o.Seed, streamIdentity, uint64(slot), 1)
	var mh [16]byte
	for i := range mh {
		mh[i] = alphabet[r.intn(len(alphabet))]
	}
	digits := strconv.FormatInt(id%1_000_000_000+1_000_000_000, 10)[1:] // 9 digits
	return base + "/" + digits[0:3] + "/" + digits[3:6] + "/" + digits[6:9] +
		"/(m=lciuhScOb_c)(mh=" + string(mh[:]) + ")thumb_" + strconv.Itoa(1+r.intn(1_500_000)) + ".jpg"
}

// rawBytes marks bytes to be written as the live feed's invalid \xNN escapes:
// each byte becomes a private-use rune that appendString writes as \xNN.
func rawBytes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteRune(rawByteBase + rune(s[i]))
	}
	return b.String()
}

const rawByteBase = '\uE000' // U+E000..U+E0FF carry bytes 00..FF

func appendKeyString(dst []byte, key, value string) []byte {
	dst = append(dst, '"')
	dst = append(dst, key...)
	dst = append(dst, `":`...)
	return appendString(dst, value)
}

// appendString appends s as a JSON string the way the real feed writes it:
// '/' escaped as "\/", non-ASCII raw, and rawBytes runes as \xNN.
func appendString(dst []byte, s string) []byte {
	const hexDigits = "0123456789ABCDEF"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\' || c == '/':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		case c == 0xEE && i+2 < len(s) && s[i+1]&0xFC == 0x80: // U+E000..U+E0FF
			b := (s[i+1]&0x03)<<6 | s[i+2]&0x3F
			dst = append(dst, '\\', 'x', hexDigits[b>>4], hexDigits[b&0xF])
			i += 2
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

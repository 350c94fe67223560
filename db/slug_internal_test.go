package db

import (
	"strings"
	"testing"
)

func TestSlugBase(t *testing.T) {
	tests := []struct {
		name  string
		link  *string
		pname string
		want  string
	}{
		{"the link's last segment", ptrTo("https://www.pornhub.com/pornstar/aaliyah-jolie"), "Aaliyah Jolie", "aaliyah-jolie"},
		{"the link's segment, lower-cased", ptrTo("https://www.pornhub.com/pornstar/Aaliyah-Jolie"), "x", "aaliyah-jolie"},
		{"a trailing slash", ptrTo("https://www.pornhub.com/pornstar/mia-k/"), "x", "mia-k"},
		{"query and fragment are not the path", ptrTo("https://www.pornhub.com/pornstar/mia-k?a=b#c"), "x", "mia-k"},
		{"a percent-encoded segment is decoded and folded", ptrTo("https://www.pornhub.com/pornstar/zo%C3%AB-%C3%BCnal"), "x", "zoe-unal"},
		{"the link's segment with other characters", ptrTo("https://example.test/p/J.Lo_2"), "x", "j-lo-2"},
		{"a link without a path: the name", ptrTo("https://example.test/"), "Mia Khalifa", "mia-khalifa"},
		{"a link whose segment folds to nothing: the name", ptrTo("https://example.test/p/%E8%91%B5"), "Sora Aoi", "sora-aoi"},
		{"no link: the name", nil, "Aaliyah Jolie", "aaliyah-jolie"},
		{"accents removed", nil, "Zoë Ünal-Çelik", "zoe-unal-celik"},
		{"letters without a decomposition", nil, "Straße Ærø Łódź Þór", "strasse-aero-lodz-thor"},
		{"ligatures and full-width letters, as search folds them", nil, "ﬁona Ｍｉａ Ħana", "fiona-mia-hana"},
		{"letters of other scripts separate", nil, "Mia葵Kim", "mia-kim"},
		{"punctuation runs are one hyphen", nil, "  O'Hara -- & J.Lo!! ", "o-hara-j-lo"},
		{"digits kept", nil, "alexa 18", "alexa-18"},
		{"a name of other scripts only: the fallback", nil, "葵つかさ", fallbackSlug},
		{"a name of punctuation only: the fallback", nil, "!!!", fallbackSlug},
		{"mixed scripts keep the ASCII part", nil, "Yui 葵", "yui"},
		{"long names are cut to the base length, no trailing hyphen", nil, strings.Repeat("a", 99) + " b", strings.Repeat("a", 99)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := slugBase(tt.link, tt.pname)
			if got != tt.want {
				t.Errorf("slugBase(%v, %q) = %q, want %q", deref(tt.link), tt.pname, got, tt.want)
			}
			if !IsSlug(got) {
				t.Errorf("slugBase gave %q, which IsSlug refuses", got)
			}
		})
	}
}

func TestIsSlug(t *testing.T) {
	tests := []struct {
		slug string
		want bool
	}{
		{"aaliyah-jolie", true},
		{"performer-2", true},
		{"a", true},
		{strings.Repeat("a", MaxSlugLen), true},
		{strings.Repeat("a", MaxSlugLen+1), false},
		{"", false},
		{"Aaliyah-Jolie", false},
		{"-a", false},
		{"a-", false},
		{"a--b", false},
		{"a b", false},
		{"zoë", false},
		{"a%2Fb", false},
		{"a\x00", false},
	}
	for _, tt := range tests {
		if got := IsSlug(tt.slug); got != tt.want {
			t.Errorf("IsSlug(%q) = %v, want %v", tt.slug, got, tt.want)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

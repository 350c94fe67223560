package main

import (
	"fmt"
	"net/url"
	"strings"

	"marquee/server"
)

// originList is --cors-origins: "*" or comma-separated exact origins,
// checked when it is set (server.ParseCORSOrigins). It keeps its text, so
// that Config stays comparable.
type originList string

func (l *originList) UnmarshalText(text []byte) error {
	if _, err := server.ParseCORSOrigins(string(text)); err != nil {
		return err
	}
	*l = originList(text)
	return nil
}

func (l originList) MarshalText() ([]byte, error) { return []byte(l), nil }

// cors returns the CORS policy of the list (checked when it was set).
func (l originList) cors() server.CORS {
	c, _ := server.ParseCORSOrigins(string(l))
	return c
}

// publicURL is a base URL the APIs put in the links they hand out
// (--public-url, --images-public-url): an absolute http(s) URL, with a path
// or not, without a query or fragment; a trailing slash is dropped, so that
// paths are appended to it as they are. Empty: links stay relative.
type publicURL string

func (p *publicURL) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	if s == "" {
		*p = ""
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%q is not an absolute http(s) URL such as https://api.example.test", s)
	}
	if u.User != nil {
		return fmt.Errorf("%q: a public URL carries no user name or password", s)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#") {
		return fmt.Errorf("%q: a public URL has no query or fragment, since paths are appended to it", s)
	}
	*p = publicURL(strings.TrimRight(s, "/"))
	return nil
}

func (p publicURL) MarshalText() ([]byte, error) { return []byte(p), nil }

// https says whether browsers reach the APIs over HTTPS, so that the
// server may tell them to keep doing so (Strict-Transport-Security).
func (p publicURL) https() bool {
	return len(p) > len("https://") && strings.EqualFold(string(p[:len("https://")]), "https://")
}

// imagesBase is where the APIs say the bytes of cached images are:
// --images-public-url, else --public-url + /images, else the relative
// /images.
func (c *Config) imagesBase() string {
	switch {
	case c.ImagesPublicURL != "":
		return string(c.ImagesPublicURL)
	case c.PublicURL != "":
		return string(c.PublicURL) + "/images"
	}
	return "/images"
}

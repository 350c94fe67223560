package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// CORS lets pages of other origins call the routes it wraps from a browser
// (the Fetch standard's CORS protocol). The zero value allows no origin and
// changes nothing. A CORS is immutable and safe for concurrent use.
//
// Credentials (cookies, HTTP authentication, client certificates) are never
// allowed, not even to a listed origin: the APIs authenticate with a bearer
// token that a page sends itself in the Authorization header, which the
// preflight allows, so a credentialed request would only let a page spend
// whatever ambient credentials a browser holds for the API's host.
type CORS struct {
	anyOrigin bool
	origins   []string // exact serialized origins, sorted
}

// CORS answers, beyond what the routes' own handlers set.
const (
	// CORSAllowMethods are the methods a preflight grants: every method
	// the APIs answer.
	CORSAllowMethods = "GET, HEAD, POST, PUT, PATCH, DELETE"
	// CORSAllowHeaders are the request headers a preflight grants beyond
	// the CORS-safelisted ones: the token, a JSON body, and conditional
	// requests.
	CORSAllowHeaders = "Authorization, Content-Type, If-Match, If-None-Match"
	// CORSExposeHeaders are the response headers a page may read beyond
	// the CORS-safelisted ones: what paging, writes, caching, rate limits
	// and support requests need.
	CORSExposeHeaders = "ETag, Link, Location, Retry-After, X-Request-Id"
	// CORSMaxAge is how long, in seconds, a browser may reuse a preflight's
	// answer: two hours, the most Chromium honours, so a page pays one
	// preflight per route and method in that time.
	CORSMaxAge = 7200
)

// ParseCORSOrigins reads MARQUEE_CORS_ORIGINS: "*" for any origin, or
// comma-separated exact origins such as https://www.example.test or
// http://127.0.0.1:8081 (scheme, host and a port other than the scheme's
// default; no path, no trailing slash). Spaces around an item and empty items
// are ignored; an empty list allows no origin.
func ParseCORSOrigins(list string) (CORS, error) {
	var c CORS
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
			continue
		case item == "*":
			c.anyOrigin = true
			continue
		}
		origin, err := parseOrigin(item)
		if err != nil {
			return CORS{}, err
		}
		if !slices.Contains(c.origins, origin) {
			c.origins = append(c.origins, origin)
		}
	}
	if c.anyOrigin && len(c.origins) > 0 {
		return CORS{}, errors.New(`"*" allows every origin: give it alone, not with a list of origins`)
	}
	slices.Sort(c.origins)
	return c, nil
}

// parseOrigin checks that s is an origin as a browser sends it in the Origin
// header, which is compared byte for byte: anything else would never match,
// and is refused rather than silently ignored.
func parseOrigin(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("%q is not an origin such as https://www.example.test or http://127.0.0.1:8081", s)
	}
	switch {
	case u.User != nil:
		return "", fmt.Errorf("%q: an origin has no user name or password", s)
	case u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.HasSuffix(s, "#"):
		return "", fmt.Errorf("%q: an origin has no path, query or fragment (not even a trailing slash): write %s://%s", s, u.Scheme, u.Host)
	case s != strings.ToLower(s):
		return "", fmt.Errorf("%q: browsers send origins in lower case: write %s", s, strings.ToLower(s))
	}
	if port := u.Port(); port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("%q: the port must be a number from 1 to 65535", s)
		}
		if (u.Scheme == "http" && n == 80) || (u.Scheme == "https" && n == 443) {
			return "", fmt.Errorf("%q: browsers leave out the scheme's default port: write %s://%s", s, u.Scheme, u.Hostname())
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return "", fmt.Errorf("%q: the port is empty", s)
	}
	return s, nil
}

// Enabled reports whether any origin is allowed.
func (c CORS) Enabled() bool { return c.anyOrigin || len(c.origins) > 0 }

// String is the list as ParseCORSOrigins reads it.
func (c CORS) String() string {
	if c.anyOrigin {
		return "*"
	}
	return strings.Join(c.origins, ",")
}

// allows reports whether a page of origin may read the answers.
func (c CORS) allows(origin string) bool {
	if origin == "" {
		return false
	}
	if c.anyOrigin {
		return true
	}
	_, found := slices.BinarySearch(c.origins, origin)
	return found
}

// Wrap returns next with CORS: a preflight (OPTIONS with Origin and
// Access-Control-Request-Method) is answered 204 here, before next, so that
// neither its rate limit nor its authentication can refuse it with an answer
// the browser would hide from the page; the actual request goes to next as
// before, with the headers that let an allowed origin read its answer. An
// origin not allowed gets no CORS headers, which the browser enforces by
// failing the page's request. With no origin allowed, Wrap returns next.
func (c CORS) Wrap(next http.Handler) http.Handler {
	if !c.Enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		h := w.Header()
		if !c.anyOrigin {
			// The answer depends on Origin: a cache must not hand one
			// origin's answer to another.
			h.Add("Vary", "Origin")
		}
		allowed := c.allows(origin)
		if r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != "" {
			if c.anyOrigin {
				h.Add("Vary", "Origin")
			}
			if allowed {
				c.allowOrigin(h, origin)
				h.Set("Access-Control-Allow-Methods", CORSAllowMethods)
				h.Set("Access-Control-Allow-Headers", CORSAllowHeaders)
				h.Set("Access-Control-Max-Age", strconv.Itoa(CORSMaxAge))
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if allowed {
			c.allowOrigin(h, origin)
			h.Set("Access-Control-Expose-Headers", CORSExposeHeaders)
		}
		next.ServeHTTP(w, r)
	})
}

func (c CORS) allowOrigin(h http.Header, origin string) {
	if c.anyOrigin {
		h.Set("Access-Control-Allow-Origin", "*")
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
}

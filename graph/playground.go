package graph

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"marquee/internal/compression"
)

// The playground's files: GraphiQL 3 and React 18 as npm publishes them
// (playground/assets, refreshed by `make playground`), and the page that
// starts them. Everything is in the binary, so the playground works with
// no internet access.
//
//go:embed playground/index.html playground/playground.js playground/assets/*.js playground/assets/*.css
var playgroundFiles embed.FS

// playgroundAsset is one file the playground page loads.
type playgroundAsset struct {
	body        []byte
	contentType string
	version     string // a prefix of the SHA-256 of body

	// encoded holds body in each coding (by Coding), made on first use.
	encoded [compression.Gzip + 1]struct {
		once sync.Once
		body []byte
	}
}

// PlaygroundQuery is the query the playground opens on until its user
// writes another: a page of performers, best ranked first, with their
// thumbnails and the state of each image, and where a cached one is served.
const PlaygroundQuery = `# Marquee's GraphQL API: run this query with Ctrl-Enter.
# A page of performers, best ranked first, with their thumbnails and the
# state of each image: a CACHED image is served at its url. For the next
# page, set the variable "after" to pageInfo.endCursor.
query Performers($after: String) {
  pornstars(first: 20, after: $after, orderBy: [{field: RANK}]) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes {
      id
      name
      rank
      aliases
      thumbnails {
        type
        width
        height
        image { status url contentType bytes }
      }
    }
  }
}
`

// Playground serves GraphiQL pointed at endpoint (a path such as "/graphql",
// or an absolute URL). Mount it at "/playground/"; a request for
// "/playground" is redirected there. The page loads its scripts from the
// same directory, and its Content-Security-Policy lets it load nothing from
// anywhere else: no CDN, no fonts, no analytics.
func Playground(endpoint string) http.Handler {
	assets := map[string]*playgroundAsset{}
	versions := map[string]string{}
	for name, key := range map[string]string{
		"assets/react.production.min.js":     "react",
		"assets/react-dom.production.min.js": "reactDOM",
		"assets/graphiql.min.js":             "graphiql",
		"assets/graphiql.min.css":            "css",
		"playground.js":                      "playground",
	} {
		body, err := fs.ReadFile(playgroundFiles, "playground/"+name)
		if err != nil {
			panic("graph: playground asset missing from the binary: " + name)
		}
		sum := sha256.Sum256(body)
		a := &playgroundAsset{body: body, contentType: contentTypeOf(name), version: hex.EncodeToString(sum[:8])}
		assets[path.Base(name)] = a
		versions[key] = a.version
	}
	page := renderPlaygroundPage(endpoint, versions)
	return &playground{assets: assets, page: page, csp: playgroundCSP(endpoint)}
}

type playground struct {
	assets map[string]*playgroundAsset
	page   []byte
	csp    string
}

func (p *playground) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if strings.HasSuffix(r.URL.Path, "/") {
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", p.csp)
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(p.page))
		return
	}
	a, ok := p.assets[path.Base(r.URL.Path)]
	if !ok {
		if path.Base(r.URL.Path) == "playground" {
			target := url.URL{Path: r.URL.Path + "/", RawQuery: r.URL.RawQuery}
			http.Redirect(w, r, target.String(), http.StatusMovedPermanently)
			return
		}
		http.NotFound(w, r)
		return
	}
	a.serve(w, r)
}

// serve answers with the asset, compressed in the coding the client
// prefers (compression.Negotiate). The page names each asset with its
// version, so a versioned request is cached for good; any other is
// revalidated by ETag.
func (a *playgroundAsset) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Vary", "Accept-Encoding")
	if r.URL.Query().Get("v") == a.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	body, etag := a.body, `"`+a.version+`"`
	coding, identityRefused := compression.Negotiate(r.Header["Accept-Encoding"])
	if coding != compression.Identity && (len(a.body) >= compression.MinSize || identityRefused) {
		if encoded := a.encode(coding); encoded != nil {
			body, etag = encoded, compression.ETag(etag, coding)
			h.Set("Content-Encoding", coding.String())
		}
	}
	h.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// encode compresses the asset in coding once, on first use: GraphiQL's
// script is large and compresses well. It is nil if the encoder failed
// (the asset is then sent as it is).
func (a *playgroundAsset) encode(coding compression.Coding) []byte {
	e := &a.encoded[coding]
	e.once.Do(func() {
		e.body, _ = compression.Compress(coding, a.body)
	})
	return e.body
}

func contentTypeOf(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	}
	return "application/octet-stream"
}

var playgroundPage = template.Must(template.ParseFS(playgroundFiles, "playground/index.html"))

func renderPlaygroundPage(endpoint string, versions map[string]string) []byte {
	var buf bytes.Buffer
	if err := playgroundPage.Execute(&buf, struct {
		Endpoint     string
		DefaultQuery string
		Versions     map[string]string
	}{endpoint, PlaygroundQuery, versions}); err != nil {
		panic("graph: playground page: " + err.Error())
	}
	return buf.Bytes()
}

// playgroundCSP allows the page its own files and the GraphQL endpoint, and
// nothing else. GraphiQL sets inline styles, hence 'unsafe-inline' for
// styles only; scripts must come from files of this origin.
func playgroundCSP(endpoint string) string {
	connect := "'self'"
	if u, err := url.Parse(endpoint); err == nil && u.Scheme != "" && u.Host != "" {
		connect += " " + u.Scheme + "://" + u.Host
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self' 'unsafe-inline'",
		"img-src 'self' data:",
		"font-src 'self' data:",
		"connect-src " + connect,
		"frame-ancestors 'none'",
		"base-uri 'none'",
		"form-action 'none'",
	}, "; ")
}

package rest

import (
	"net/http"
	"testing"

	"marquee/internal/compression"
)

// TestCompressedAnswersFollowTheDocument: the API behind its middleware, as
// mountAPI serves it, answers in each coding a client asks for, and every
// compressed answer, decoded, is what the document describes (the contract
// check decodes it before validating: helpers_test.go, contract_test.go).
func TestCompressedAnswersFollowTheDocument(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		api.seedHead()
		paths := []string{
			"/api/v1/pornstars?limit=50",
			"/api/v1/pornstars/export",
			"/api/v1/openapi.json",
			"/api/v1/pornstars?age_min=x", // a problem document, refused plain by the client
		}
		for _, coding := range compression.Codings {
			for _, path := range paths {
				out := api.do(req{method: http.MethodGet, path: path,
					headers: map[string]string{"Accept-Encoding": coding.String() + ", identity;q=0"}})
				if got := out.header.Get("Content-Encoding"); got != coding.String() {
					t.Errorf("GET %s with %s: Content-Encoding %q", path, coding, got)
				}
				if out.header.Get("Vary") == "" {
					t.Errorf("GET %s with %s: no Vary", path, coding)
				}
			}
		}
	})
}

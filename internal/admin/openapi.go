package admin

import (
	_ "embed"
	"net/http"
)

// openAPI is written by hand and checked against the routes by
// TestOpenAPIMatchesRoutes: every route documented, every documented
// route real, with the scope it really needs.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3 document of the versioned API.
func OpenAPI() []byte { return openAPI }

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPI)
}

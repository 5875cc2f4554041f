package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"levee/internal/leveetest"
)

const originPage = `<!doctype html><title>shop</title><h1 id="origin">Welcome to the shop</h1>`

// shop is what the browser tests share: chromium, an origin that answers
// originPage, and a node in front of it.
type shop struct {
	ctx         context.Context // chromium's tab
	n           *leveetest.Node
	o           *leveetest.Origin
	fromBrowser *atomic.Int64 // requests with chromium's User-Agent the origin saw
}

// browserShop starts a shop: chromium (skipped without it unless
// LEVEE_REQUIRE_INTEGRATION is set), the origin, and a node from nodeYAML
// with the origin's URL put in for %[1]q.
func browserShop(t *testing.T, nodeYAML string) *shop {
	t.Helper()
	s := &shop{ctx: leveetest.StartBrowser(t), fromBrowser: new(atomic.Int64)}
	s.o = leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.UserAgent(), "Chrome") {
			s.fromBrowser.Add(1)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(originPage))
	}))
	s.n = leveetest.Start(t, fmt.Sprintf(nodeYAML, s.o.URL))
	return s
}

package cache_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"levee/internal/cache"
	"levee/internal/guard"
	"levee/internal/pipeline"
	"levee/internal/telemetry"
)

// The admin API tells the purge observer of each purge it applied (the
// cluster sends them on); a remote purge is not told again, so purges do
// not echo between nodes.
func TestPurgeObserverSeesAdminPurgesOnly(t *testing.T) {
	lg := telemetry.NewLogger(&strings.Builder{}, "error")
	reg := prometheus.NewRegistry()
	c := cache.NewCapability(pipeline.Host{Log: lg, Registry: reg, Wall: guard.New(lg, reg)})
	var seen []cache.Purge
	c.OnPurge(func(p cache.Purge) { seen = append(seen, p) })
	h := c.AdminRoutes()["POST /purge"]
	for _, body := range []string{`{"url": "/a"}`, `{"url": "/a", "prefix": "/b"}`} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/purge", strings.NewReader(body)))
	}
	if _, err := c.ApplyRemotePurge(cache.Purge{Tag: "t"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ApplyRemotePurge(cache.Purge{}); err == nil {
		t.Fatal("an empty remote purge was accepted")
	}
	if len(seen) != 1 || seen[0].URL != "/a" {
		t.Fatalf("observer saw %+v, want only the valid admin purge", seen)
	}
}

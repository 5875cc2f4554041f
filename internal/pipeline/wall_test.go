package pipeline

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"levee/internal/telemetry"
)

// arrivalRecorder is a server's writer that tells when its request came.
type arrivalRecorder struct {
	*httptest.ResponseRecorder
	at time.Time
}

func (w arrivalRecorder) Arrived() time.Time { return w.at }

// The exchange starts when the server found the request (httpwire.Arrival),
// and at the wall's own clock reading for a writer that does not say.
func TestExchangeStartsAtTheRequestsArrival(t *testing.T) {
	var start time.Time
	wl := &Wall{Metrics: telemetry.NewMetrics(), Chain: HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		start = w.(*Exchange).Start
		return nil
	})}
	arrived := time.Now().Add(-3 * time.Millisecond)
	wl.ServeHTTP(arrivalRecorder{httptest.NewRecorder(), arrived}, httptest.NewRequest("GET", "/", nil))
	if !start.Equal(arrived) {
		t.Fatalf("start %v, want the arrival %v", start, arrived)
	}
	before := time.Now()
	wl.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if start.Before(before) || start.After(time.Now()) {
		t.Fatalf("without an arrival the start %v is not the wall's clock (%v on)", start, before)
	}
}

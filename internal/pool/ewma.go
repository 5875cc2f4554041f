package pool

import "net/http"

// EWMA is the latency-aware policy: power of two choices on the origins'
// latency average times their load (exchanges in flight + 1), divided by
// weight, as Finagle's and Linkerd's peak-EWMA balancers do. An origin not
// yet measured costs nothing, so it is tried first. Active health checks
// feed the average too, so an origin once slow is measured again even
// when traffic passes it over.
type EWMA struct {
	origins []*Origin
}

// NewEWMA returns a latency-aware picker over origins.
func NewEWMA(origins []*Origin) *EWMA {
	complete(origins)
	return &EWMA{origins: origins}
}

// Pick returns the cheaper of two random usable origins, or nil.
func (e *EWMA) Pick(*http.Request) *Origin {
	return twoChoices(e.origins, func(o *Origin) float64 {
		return float64(o.State.ewmaNS.Load()) * float64(o.State.inflight.Load()+1) / float64(o.Weight)
	})
}

var _ Picker = (*EWMA)(nil)

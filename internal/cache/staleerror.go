package cache

import (
	"net/http"
	"strconv"

	"levee/internal/pipeline"
)

// noteStaleOnError makes a stale answer given because the origin failed
// as visible as the failure itself: the access log gets the origin's
// error (its class is the error's kind) and a "stale_on_error" decision,
// and levee_cache_stale_on_error_total counts it. Without this the log
// shows a plain 200 and the origin's trouble goes unseen. err is the
// origin's error, or nil when it answered with status code (5xx).
func (c *Cache) noteStaleOnError(w http.ResponseWriter, err error, code int) {
	e := originFailure(err, code)
	site := "-"
	if ex := pipeline.From(w); ex != nil {
		ex.Err = e
		ex.Decide("stale_on_error")
		if ex.Site != nil {
			site = ex.Site.Name
		}
	}
	c.m.StaleOnError.WithLabelValues(site, e.Kind).Inc()
}

func originFailure(err error, code int) *pipeline.Error {
	if err != nil {
		return pipeline.Classify(err)
	}
	return pipeline.Errorf(pipeline.SourceOrigin, code, "status", "origin answered "+strconv.Itoa(code), nil)
}

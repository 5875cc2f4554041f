package cache

import (
	"net/http"
	"time"

	"levee/internal/pipeline"
)

// follow waits, bounded by the lock timeout, for the leader of f to learn
// the origin's answer, then answers from it.
func (c *Cache) follow(next pipeline.Handler, w http.ResponseWriter, r *http.Request, ru *Rules, rd *directives,
	f *flight, stale *Object) error {
	ru.site.coalesced.Inc()
	t := time.NewTimer(c.lockTimeout)
	defer t.Stop()
	select {
	case <-f.ready:
	case <-t.C:
		return c.pass(next, w, r, ru, csLockWait)
	case <-r.Context().Done():
		return pipeline.Errorf(pipeline.SourceClient, pipeline.StatusClientClosed, "client_gone", "client went away", r.Context().Err())
	}
	now := time.Now().UnixNano()
	switch f.kind {
	case flightObject:
		ru.site.hit.Inc()
		if err := c.serve(w, r, f.obj, csCollapsed, now); err != errDiskGone {
			return err
		}
	case flightStream:
		if f.varySel == varySelection(r, varyNames(f.obj.values("Vary"))) &&
			(len(r.Header["Authorization"]) == 0 || f.obj.AuthOK) {
			ru.site.hit.Inc()
			return c.stream(w, r, f)
		}
	case flightFailed:
		if stale != nil && stale.staleOnError(rd, now) {
			ru.site.stale.Inc()
			c.noteStaleOnError(w, f.err, f.status)
			why := "error"
			if f.status != 0 {
				why = http.StatusText(f.status)
			}
			if err := c.serve(w, r, stale, staleStatus(why), now); err != errDiskGone {
				return err
			}
		}
		if f.err != nil {
			w.Header()["Cache-Status"] = []string{"levee; fwd=miss; collapsed; detail=origin-error"}
			return f.err
		}
	}
	return c.pass(next, w, r, ru, []string{"levee; fwd=miss; collapsed; detail=not-shared"})
}

// stream answers a follower from a fill as its body arrives.
func (c *Cache) stream(w http.ResponseWriter, r *http.Request, f *flight) error {
	o := f.obj
	h := w.Header()
	o.copyHeaderTo(h)
	h["Age"] = ageValues[0]
	h["Cache-Status"] = csCollapsed
	if st := preconditions(r, o); st != 0 {
		for _, k := range notModifiedDrop {
			delete(h, k)
		}
		w.WriteHeader(st)
		return nil
	}
	w.WriteHeader(o.Status)
	if r.Method == http.MethodHead || !bodyAllowed(o.Status) {
		return nil
	}
	flusher, _ := w.(http.Flusher)
	off := 0
	idle := time.NewTimer(c.fillTimeout)
	defer idle.Stop()
	for {
		p, done, broken, more := f.read(off)
		if len(p) > 0 {
			if _, err := w.Write(p); err != nil {
				return pipeline.Errorf(pipeline.SourceClient, pipeline.StatusClientClosed, "client_write", "client went away", err)
			}
			off += len(p)
			continue
		}
		if done {
			if broken {
				return pipeline.Errorf(pipeline.SourceOrigin, http.StatusBadGateway, "origin_body", "shared fill failed", nil)
			}
			return nil
		}
		if flusher != nil {
			flusher.Flush()
		}
		select {
		case <-more:
		case <-idle.C:
			return pipeline.Errorf(pipeline.SourceOrigin, http.StatusGatewayTimeout, "fill_timeout", "shared fill timed out", nil)
		case <-r.Context().Done():
			return pipeline.Errorf(pipeline.SourceClient, pipeline.StatusClientClosed, "client_gone", "client went away", r.Context().Err())
		}
	}
}

package cache

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ageValues are shared one-element Age values, so hits within the first
// hour or so of an object's life allocate nothing for Age.
var ageValues = func() [][]string {
	out := make([][]string, 4096)
	for i := range out {
		s := strconv.Itoa(i)
		out[i] = []string{s}
	}
	return out
}()

func ageValue(ns int64) []string {
	sec := ns / int64(time.Second)
	if sec < int64(len(ageValues)) {
		return ageValues[sec]
	}
	return []string{strconv.FormatInt(sec, 10)}
}

// Cache-Status values (RFC 9211) that do not vary per request.
var (
	csHit       = []string{"levee; hit"}
	csSWR       = []string{"levee; hit; detail=stale-while-revalidate"}
	csMaxStale  = []string{"levee; hit; detail=stale-allowed-by-request"}
	csStored    = []string{"levee; fwd=miss; stored"}
	csCollapsed = []string{"levee; fwd=miss; collapsed"}
	csReval     = []string{"levee; fwd=stale; fwd-status=304"}
	csRefreshed = []string{"levee; fwd=stale; stored"}
	csMethod    = []string{"levee; fwd=method"}
	csUpgrade   = []string{"levee; fwd=bypass; detail=upgrade"}
	csBypass    = []string{"levee; fwd=bypass; detail=rule"}
	csHFM       = []string{"levee; fwd=miss; detail=hit-for-miss"}
	csLockWait  = []string{"levee; fwd=miss; detail=lock-timeout"}
	csOnlyIf    = []string{"levee; fwd=miss; detail=only-if-cached"}
	csFailOpen  = []string{"levee; fwd=bypass; detail=cache-error"}
	csOff       = []string{"levee; fwd=bypass; detail=cache-off"}
)

// notModifiedDrop are representation fields left out of a 304.
var notModifiedDrop = []string{"Content-Length", "Content-Type", "Content-Encoding", "Content-Range", "Content-Language"}

// serve answers r from o: 304 for a matching conditional request, 206 or
// 416 for a Range request, headers only for HEAD, else the whole object.
// file streams a body that lives only on disk; nil when o.Body is set.
func (c *Cache) serve(w http.ResponseWriter, r *http.Request, o *Object, cs []string, now int64) error {
	h := w.Header()
	o.copyHeaderTo(h)
	h["Age"] = ageValue(o.age(now))
	h["Cache-Status"] = cs
	if st := preconditions(r, o); st != 0 {
		writePrecondition(w, st, cs)
		return nil
	}
	start, n := int64(0), o.Size
	status := o.Status
	if rg := r.Header["Range"]; len(rg) > 0 && o.Status == http.StatusOK && ifRange(r, o) {
		var ok bool
		start, n, ok = parseRange(rg[0], o.Size)
		switch {
		case !ok:
			start, n = 0, o.Size
		case n < 0:
			delete(h, "Content-Length")
			h["Content-Range"] = []string{"bytes */" + strconv.FormatInt(o.Size, 10)}
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return nil
		default:
			status = http.StatusPartialContent
			h["Content-Range"] = []string{"bytes " + strconv.FormatInt(start, 10) + "-" +
				strconv.FormatInt(start+n-1, 10) + "/" + strconv.FormatInt(o.Size, 10)}
			h["Content-Length"] = []string{strconv.FormatInt(n, 10)}
		}
	}
	if r.Method == http.MethodHead || !bodyAllowed(status) {
		w.WriteHeader(status)
		return nil
	}
	if o.Body != nil {
		w.WriteHeader(status)
		_, _ = w.Write(o.Body[start : start+n])
		return nil
	}
	if o.mb != nil {
		return serveMemfd(w, r, o.mb, status, start, n)
	}
	return c.serveFile(w, o, status, start, n)
}

// writePrecondition answers a conditional request with st: a 304 keeps
// the header but the representation fields, a 412 only Cache-Status.
func writePrecondition(w http.ResponseWriter, st int, cs []string) {
	h := w.Header()
	if st == http.StatusNotModified {
		for _, k := range notModifiedDrop {
			delete(h, k)
		}
	} else {
		clear(h)
		h["Cache-Status"] = cs
	}
	w.WriteHeader(st)
}

// serveFile streams a disk-only body with io.Copy from the *os.File, so
// the connection can use sendfile.
func (c *Cache) serveFile(w http.ResponseWriter, o *Object, status int, start, n int64) error {
	if c.store.disk == nil {
		return errDiskGone // no body anywhere (its memfd was closed before it was stored)
	}
	f, err := c.store.disk.openBody(hashKey(o.Key), o.Size)
	if err != nil {
		return errDiskGone
	}
	defer f.Close()
	if start > 0 {
		if _, err := f.Seek(start, io.SeekCurrent); err != nil {
			return errDiskGone
		}
	}
	w.WriteHeader(status)
	_, _ = io.Copy(w, &io.LimitedReader{R: f, N: n})
	return nil
}

func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified && status >= 200
}

// preconditions evaluates the client's conditional headers against o
// (RFC 9110 13.2.2): 412 for a failed If-Match or If-Unmodified-Since,
// 304 for a matching If-None-Match or If-Modified-Since, else 0.
func preconditions(r *http.Request, o *Object) int {
	hd := r.Header
	if len(hd["If-Match"]) == 0 && len(hd["If-None-Match"]) == 0 && len(hd["If-Modified-Since"]) == 0 &&
		len(hd["If-Unmodified-Since"]) == 0 {
		return 0
	}
	if o.Status != http.StatusOK {
		return 0
	}
	if im := hd["If-Match"]; len(im) > 0 {
		if !etagMatch(im, o.ETag, false) {
			return http.StatusPreconditionFailed
		}
	} else if t, ok := conditionalDate(hd["If-Unmodified-Since"]); ok {
		lm, lerr := http.ParseTime(o.LastMod)
		if lerr != nil || lm.After(t) {
			return http.StatusPreconditionFailed
		}
	}
	if inm := hd["If-None-Match"]; len(inm) > 0 {
		if etagMatch(inm, o.ETag, true) {
			return http.StatusNotModified
		}
		return 0
	}
	if t, ok := conditionalDate(hd["If-Modified-Since"]); ok {
		lm, lerr := http.ParseTime(o.LastMod)
		if lerr != nil {
			lm, lerr = http.ParseTime(o.get("Date"))
		}
		if lerr == nil && !lm.After(t) {
			return http.StatusNotModified
		}
	}
	return 0
}

// conditionalDate is the date of an If-Modified-Since or
// If-Unmodified-Since, which a recipient ignores unless it is one valid
// HTTP-date (RFC 9110 13.1.3, 13.1.4): a list, a second field line or a
// lenient form do not count. Stored Last-Modified and Date are parsed
// robustly instead, as RFC 9110 5.6.7 encourages.
func conditionalDate(values []string) (time.Time, bool) {
	if len(values) != 1 {
		return time.Time{}, false
	}
	return parseHTTPDate(values[0], time.Now())
}

// etagMatch compares a list of entity-tags with etag, weakly (If-None-Match)
// or strongly (If-Match).
func etagMatch(list []string, etag string, weak bool) bool {
	for _, v := range list {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimSpace(t)
			if t == "*" {
				return etag != "" || weak
			}
			if etag == "" || t == "" {
				continue
			}
			if weak {
				if strings.TrimPrefix(t, "W/") == strings.TrimPrefix(etag, "W/") {
					return true
				}
			} else if t == etag && !strings.HasPrefix(t, "W/") {
				return true
			}
		}
	}
	return false
}

// ifRange reports whether a Range request's If-Range (if any) still
// matches o, so the range applies (RFC 9110 13.1.5).
func ifRange(r *http.Request, o *Object) bool {
	ir := r.Header.Get("If-Range")
	if ir == "" {
		return true
	}
	if strings.HasPrefix(ir, `"`) || strings.HasPrefix(ir, "W/") {
		return !strings.HasPrefix(ir, "W/") && ir == o.ETag && !strings.HasPrefix(o.ETag, "W/")
	}
	return ir == o.LastMod
}

// parseRange parses a single "bytes=" range against size: ok false means
// ignore the header (malformed, several ranges, other unit); n < 0 means
// unsatisfiable (416).
func parseRange(v string, size int64) (start, n int64, ok bool) {
	spec, found := strings.CutPrefix(strings.TrimSpace(v), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false
	}
	if a == "" {
		suffix, err := strconv.ParseInt(b, 10, 64)
		if err != nil || suffix < 0 {
			return 0, 0, false
		}
		if suffix == 0 || size == 0 {
			return 0, -1, true
		}
		suffix = min(suffix, size)
		return size - suffix, suffix, true
	}
	first, err := strconv.ParseInt(a, 10, 64)
	if err != nil || first < 0 {
		return 0, 0, false
	}
	last := size - 1
	if b != "" {
		if last, err = strconv.ParseInt(b, 10, 64); err != nil || last < first {
			return 0, 0, false
		}
	}
	if first >= size {
		return 0, -1, true
	}
	last = min(last, size-1)
	return first, last - first + 1, true
}

package pipeline

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"levee/internal/guard"
	"levee/internal/httpwire"
	"levee/internal/telemetry"
)

// Wall is the root http.Handler of a generation: it opens the Exchange,
// runs the chain behind the panic wall, answers errors, then logs and
// counts the request. It always runs, whatever the phases do.
type Wall struct {
	Chain   Handler
	Guard   *guard.Wall
	Access  *slog.Logger // nil turns the access log off
	Log     *slog.Logger
	Metrics *telemetry.Metrics
}

// ServeHTTP serves one request; it never lets a panic escape except
// http.ErrAbortHandler, which net/http turns into a cut connection.
func (wl *Wall) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ex := exchanges.Get().(*Exchange)
	*ex = Exchange{w: w, Start: startOf(w)}
	ex.ID = newID()
	ex.Peer = peerAddr(r.RemoteAddr)
	ex.Client = ex.Peer
	ex.closeConn = bodyFramingSuspect(r)
	defer wl.finish(ex, r)
	if err := wl.Chain.ServeHTTP(ex, r); err != nil {
		ex.Err = err
		WriteError(ex, err)
	}
}

func (wl *Wall) finish(ex *Exchange, r *http.Request) {
	v := recover()
	abort := false
	if v != nil {
		if v == http.ErrAbortHandler {
			abort = true
		} else {
			where := ex.Phase
			if where == "" {
				where = "wall"
			}
			wl.Guard.Record("phase:"+where, v, slog.String("id", ex.ID), slog.String("path", r.URL.Path))
			ex.Err = Errorf(SourceInternal, http.StatusInternalServerError, "panic", "internal error", nil)
			if ex.WroteHeader() {
				abort = true
			} else {
				abort = !wl.Guard.Run("error-writer", func() { WriteError(ex, ex.Err) })
			}
		}
	}
	if ex.Status == 0 && r.Context().Err() == context.Canceled {
		ex.ClientGone = true
	}
	if ex.ClientGone {
		ex.Status = StatusClientClosed
	}
	wl.account(ex, r)
	if abort {
		panic(http.ErrAbortHandler)
	}
	// Nothing keeps an Exchange past its request (a background refresh
	// gets its own), so it is reused. Not after an abort: the panic may
	// still be unwinding through phases that hold it.
	*ex = Exchange{}
	exchanges.Put(ex)
}

// exchanges recycles Exchanges: at tens of thousands of requests a second
// their allocation was the largest share of the garbage a cache hit made.
var exchanges = sync.Pool{New: func() any { return new(Exchange) }}

func (wl *Wall) account(ex *Exchange, r *http.Request) {
	site := "-"
	if ex.Site != nil {
		site = ex.Site.Name
	}
	status := ex.Status
	if status == 0 {
		status = http.StatusOK
	}
	sm := wl.Metrics.Site(site)
	sm.Code(telemetry.CodeClass(status)).Inc()
	dur := time.Since(ex.Start)
	sm.Duration.Observe(dur.Seconds())
	if ex.ClientGone {
		sm.Gone.Inc()
	}
	if wl.Access != nil {
		wl.logAccess(ex, r, site, status, dur)
	}
}

func (wl *Wall) logAccess(ex *Exchange, r *http.Request, site string, status int, dur time.Duration) {
	route := "-"
	if ex.Route != nil {
		route = ex.Route.Path
	}
	attrs := []slog.Attr{
		slog.String("id", ex.ID),
		slog.String("client", ex.Client.String()),
		slog.String("scheme", scheme(r)),
		slog.String("method", r.Method),
		slog.String("host", r.Host),
		slog.String("uri", r.RequestURI),
		slog.String("proto", r.Proto),
		slog.String("site", site),
		slog.String("route", route),
		slog.String("origin", ex.Origin),
		slog.Int("status", status),
		slog.Int64("bytes", ex.Bytes),
		slog.Float64("duration_ms", float64(dur.Microseconds())/1000),
		slog.Float64("origin_ms", float64(ex.OriginNS.Microseconds())/1000),
	}
	if d := ex.Decisions(); len(d) > 0 {
		vals := make([]any, 0, len(d))
		for _, x := range d {
			vals = append(vals, slog.String(x.Phase, x.Value))
		}
		attrs = append(attrs, slog.Group("decisions", vals...))
	}
	if ex.Err != nil {
		attrs = append(attrs, slog.String("error", ex.Err.Error()))
	}
	wl.Access.LogAttrs(context.Background(), slog.LevelInfo, "request", attrs...)
}

// scheme is what the client used: https on TLS (HTTP/1.1, HTTP/2 and
// HTTP/3 requests all carry their connection's state), http otherwise.
func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// bodyFramingSuspect reports an HTTP/1 request whose connection must be
// closed after its response. RFC 9112 §6.1 demands it when a request
// carries both Transfer-Encoding and Content-Length: a peer that framed it
// by the other header sees a different next request (smuggling). net/http
// removes Content-Length before the handler runs, so both cannot be seen
// together here: every HTTP/1 request with a Transfer-Encoding is closed
// after. Such bodies are rare and the cost is one reconnection.
func bodyFramingSuspect(r *http.Request) bool {
	return r.ProtoMajor == 1 && len(r.TransferEncoding) > 0
}

func peerAddr(remote string) netip.Addr {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// newID returns a short random request ID: 16 hex digits, enough to find a
// request in the logs without a shared counter.
func newID() string {
	var b [16]byte
	v := rand.Uint64()
	const hex = "0123456789abcdef"
	for i := 15; i >= 0; i-- {
		b[i] = hex[v&15]
		v >>= 4
	}
	return string(b[:])
}

// startOf is the request's start: when the server found its first bytes,
// if it says so (httpwire.Arrival), else now.
func startOf(w http.ResponseWriter) time.Time {
	if a, ok := w.(httpwire.Arrival); ok {
		return a.Arrived()
	}
	return time.Now()
}

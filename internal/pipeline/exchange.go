package pipeline

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"

	"levee/internal/router"
)

// MaxDecisions bounds the decisions recorded per request for the access log
// and the debug header; later ones are dropped and counted in Dropped.
const MaxDecisions = 8

// Exchange is the one per-request state, shared by every phase. It is also
// the http.ResponseWriter the phases write to, so it sees the status and
// byte count of whatever answers. Find it with From.
type Exchange struct {
	w http.ResponseWriter

	ID     string
	Start  time.Time
	Client netip.Addr // the client, after trusted-proxy processing
	// TLSFingerprint is the client's TLS fingerprint (e.g. JA4) when the
	// connection's TLS layer computed one; empty otherwise. Optional: the
	// shield's surge profile adds it to a request's fingerprint.
	TLSFingerprint string
	// OriginGate, when set (the shield's admission limit), is entered by
	// the proxy before the request goes to an origin: requests answered
	// without one (cache hits, collapsed waiters) never take an origin
	// slot. GateState is the gate's own per-request state, used with
	// sync/atomic.
	OriginGate OriginGate
	GateState  int32
	Peer       netip.Addr // the socket peer
	Trusted    bool       // Peer is a trusted proxy
	Site       *router.Site
	Route      *router.Route
	Origin     string        // host:port of the origin used last
	OriginNS   time.Duration // time spent waiting on origins
	Phase      string        // the phase running now

	Status      int
	Bytes       int64
	wroteHeader bool
	ClientGone  bool
	Err         error
	// closeConn asks the HTTP/1 server to close the connection after
	// this response.
	closeConn bool

	decisions [MaxDecisions]Decision
	nDecided  int
	Dropped   int
}

// OriginGate admits a request to its origin, or returns the error that
// answers it instead (e.g. 503 when the origin is at its limit).
type OriginGate interface {
	EnterOrigin(ex *Exchange, r *http.Request) error
}

// Decision is one phase's verdict on a request, e.g. {"cache", "hit"}.
type Decision struct{ Phase, Value string }

// NewExchange wraps w for one request.
func NewExchange(w http.ResponseWriter, start time.Time) *Exchange {
	return &Exchange{w: w, Start: start}
}

// From returns the Exchange under w, following Unwrap through wrappers that
// later phases add, or nil if w is not part of a levee request.
func From(w http.ResponseWriter) *Exchange {
	for i := 0; i < 8 && w != nil; i++ {
		if ex, ok := w.(*Exchange); ok {
			return ex
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		w = u.Unwrap()
	}
	return nil
}

// Decide records a decision of the running phase.
func (ex *Exchange) Decide(value string) {
	if ex.nDecided == MaxDecisions {
		ex.Dropped++
		return
	}
	ex.decisions[ex.nDecided] = Decision{Phase: ex.Phase, Value: value}
	ex.nDecided++
}

// Decisions returns the decisions recorded so far.
func (ex *Exchange) Decisions() []Decision { return ex.decisions[:ex.nDecided] }

// WroteHeader reports whether the response status has been sent.
func (ex *Exchange) WroteHeader() bool { return ex.wroteHeader }

// Header returns the response headers.
func (ex *Exchange) Header() http.Header { return ex.w.Header() }

// WriteHeader sends the status; informational statuses (1xx) may come first.
func (ex *Exchange) WriteHeader(code int) {
	if ex.wroteHeader {
		return
	}
	if code >= 200 || code == http.StatusSwitchingProtocols {
		ex.wroteHeader = true
		ex.Status = code
		ex.setFinalFields()
	}
	ex.w.WriteHeader(code)
}

// setFinalFields sets the fields the exchange adds to a final head.
func (ex *Exchange) setFinalFields() {
	if ex.closeConn {
		ex.w.Header().Set("Connection", "close")
	}
	if ex.Site != nil && ex.Site.DebugHeader {
		ex.w.Header().Set("Levee-Debug", ex.debugValue())
	}
}

// Write sends body bytes, sending a 200 status first if none was sent.
func (ex *Exchange) Write(p []byte) (int, error) {
	if !ex.wroteHeader {
		ex.WriteHeader(http.StatusOK)
	}
	n, err := ex.w.Write(p)
	ex.Bytes += int64(n)
	return n, err
}

// ReadFrom lets io.Copy use the connection's sendfile path for files.
func (ex *Exchange) ReadFrom(r io.Reader) (int64, error) {
	if !ex.wroteHeader {
		ex.WriteHeader(http.StatusOK)
	}
	var n int64
	var err error
	if rf, ok := ex.w.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(ex.w, r)
	}
	ex.Bytes += n
	return n, err
}

// Flush sends buffered data to the client.
func (ex *Exchange) Flush() {
	if !ex.wroteHeader {
		ex.WriteHeader(http.StatusOK)
	}
	if f, ok := ex.w.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack takes over the connection (for upgrades).
func (ex *Exchange) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(ex.w).Hijack()
}

// Unwrap lets http.ResponseController reach the server's writer.
func (ex *Exchange) Unwrap() http.ResponseWriter { return ex.w }

func (ex *Exchange) debugValue() string {
	b := make([]byte, 0, 128)
	b = append(b, "id="...)
	b = append(b, ex.ID...)
	if ex.Route != nil {
		b = append(b, "; route="...)
		b = append(b, ex.Route.Name...)
	}
	if ex.Origin != "" {
		b = append(b, "; origin="...)
		b = append(b, ex.Origin...)
	}
	for _, d := range ex.Decisions() {
		b = append(b, "; "...)
		b = append(b, d.Phase...)
		b = append(b, '=')
		b = append(b, d.Value...)
	}
	return string(b)
}

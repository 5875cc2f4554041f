package h2server

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"levee/internal/pipeline"
)

// rawClient is a misbehaving HTTP/2 client over TLS.
type rawClient struct {
	t    *testing.T
	c    net.Conn
	fr   *http2.Framer
	hbuf bytes.Buffer
	enc  *hpack.Encoder
}

func dialRaw(t *testing.T, addr string, settings ...http2.Setting) *rawClient {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc := &rawClient{t: t, c: c, fr: http2.NewFramer(c, c)}
	rc.enc = hpack.NewEncoder(&rc.hbuf)
	io.WriteString(c, preface)
	rc.fr.WriteSettings(settings...)
	return rc
}

func (rc *rawClient) headers(id uint32, end bool, fields ...string) {
	rc.hbuf.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		rc.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: rc.hbuf.Bytes(), EndStream: end, EndHeaders: true})
}

func (rc *rawClient) get(id uint32, path string) {
	rc.headers(id, true, ":method", "GET", ":scheme", "https", ":authority", "x", ":path", path)
}

// until reads frames until one matches or the connection ends (nil).
func (rc *rawClient) until(match func(http2.Frame) bool) http2.Frame {
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			return nil
		}
		if match(f) {
			return f
		}
	}
}

func goAwayCode(f http2.Frame) (http2.ErrCode, bool) {
	g, ok := f.(*http2.GoAwayFrame)
	if !ok {
		return 0, false
	}
	return g.ErrCode, true
}

func isGoAway(f http2.Frame) bool { _, ok := goAwayCode(f); return ok }

// slowHandler holds every request until its client goes away.
var slowHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(5 * time.Second):
	}
})

// A client resetting streams whose handlers still run is cut past the
// bound with ENHANCE_YOUR_CALM (CVE-2023-44487).
func TestRapidResetIsCut(t *testing.T) {
	ts, _, s := start(t, slowHandler, func(s *Server) { s.MaxResetsPerSecond = 20 })
	rc := dialRaw(t, ts.Listener.Addr().String())
	for id := uint32(1); id < 200; id += 2 {
		rc.get(id, "/")
		rc.fr.WriteRSTStream(id, http2.ErrCodeCancel)
	}
	f := rc.until(isGoAway)
	if code, _ := goAwayCode(f); f == nil || code != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("got %v, want GOAWAY ENHANCE_YOUR_CALM", f)
	}
	if s.Stats().ResetCuts.Load() != 1 {
		t.Fatal("the cut was not counted")
	}
}

// A PING flood is cut past the control-frame bound.
func TestPingFloodIsCut(t *testing.T) {
	ts, _, s := start(t, slowHandler, func(s *Server) { s.MaxControlFramesPerSecond = 100 })
	rc := dialRaw(t, ts.Listener.Addr().String())
	go func() {
		for i := 0; i < 1000; i++ {
			if rc.fr.WritePing(false, [8]byte{byte(i)}) != nil {
				return
			}
		}
	}()
	f := rc.until(isGoAway)
	if code, _ := goAwayCode(f); f == nil || code != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("got %v, want GOAWAY ENHANCE_YOUR_CALM", f)
	}
	if s.Stats().FloodCuts.Load() != 1 {
		t.Fatal("the cut was not counted")
	}
}

// Streams past MaxConcurrentStreams are refused, and the advertised limit
// is the configured one.
func TestStreamsPastTheLimitAreRefused(t *testing.T) {
	ts, _, _ := start(t, slowHandler, func(s *Server) { s.MaxConcurrentStreams = 3 })
	rc := dialRaw(t, ts.Listener.Addr().String())
	for id := uint32(1); id <= 9; id += 2 {
		rc.get(id, "/")
	}
	var limit uint32
	f := rc.until(func(f http2.Frame) bool {
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			limit, _ = sf.Value(http2.SettingMaxConcurrentStreams)
		}
		r, ok := f.(*http2.RSTStreamFrame)
		return ok && r.ErrCode == http2.ErrCodeRefusedStream
	})
	if f == nil || f.Header().StreamID != 7 || limit != 3 {
		t.Fatalf("got %v (limit %d), want stream 7 refused under a limit of 3", f, limit)
	}
}

// A WINDOW_UPDATE that overflows the connection window is a
// FLOW_CONTROL_ERROR.
func TestWindowOverflowIsAnError(t *testing.T) {
	ts, _, _ := start(t, slowHandler)
	rc := dialRaw(t, ts.Listener.Addr().String())
	rc.fr.WriteWindowUpdate(0, 1<<31-1)
	f := rc.until(isGoAway)
	if code, _ := goAwayCode(f); f == nil || code != http2.ErrCodeFlowControl {
		t.Fatalf("got %v, want GOAWAY FLOW_CONTROL_ERROR", f)
	}
}

// A header block over the limit is answered 431; far over it, or in too
// many CONTINUATION frames, the connection is cut before it is decoded.
func TestHeaderLimits(t *testing.T) {
	ts, _, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), func(s *Server) { s.MaxHeaderBytes = 4096 })
	rc := dialRaw(t, ts.Listener.Addr().String())
	rc.headers(1, true, ":method", "GET", ":scheme", "https", ":authority", "x", ":path", "/",
		"x-a", strings.Repeat("a", 2000), "x-b", strings.Repeat("b", 2000), "x-c", strings.Repeat("c", 2000))
	rc.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	f := rc.until(func(f http2.Frame) bool { _, ok := f.(*http2.MetaHeadersFrame); return ok })
	if f == nil || f.(*http2.MetaHeadersFrame).PseudoValue("status") != "431" {
		t.Fatalf("got %v, want a 431 answer to a head over the limit", f)
	}
	rc2 := dialRaw(t, ts.Listener.Addr().String())
	rc2.headers(1, true, ":method", "GET") // no END_HEADERS below
	rc2.hbuf.Reset()
	rc2.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: []byte{0x82}, EndStream: true})
	for i := 0; i < 100; i++ {
		if rc2.fr.WriteContinuation(3, false, nil) != nil {
			break
		}
	}
	if f := rc2.until(isGoAway); f == nil {
		t.Fatal("an endless run of empty CONTINUATION frames was not cut")
	}
}

// The client's HTTP/2 fingerprint is in the Hello record before the first
// handler runs.
func TestFingerprint(t *testing.T) {
	got := make(chan string, 1)
	ts, _, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- pipeline.HelloFrom(r.Context()).H2
	}))
	rc := dialRaw(t, ts.Listener.Addr().String(), http2.Setting{ID: 1, Val: 65536}, http2.Setting{ID: 4, Val: 6291456})
	rc.fr.WriteWindowUpdate(0, 15663105)
	rc.headers(1, true, ":method", "GET", ":authority", "x", ":scheme", "https", ":path", "/")
	select {
	case fp := <-got:
		if want := "1:65536;4:6291456|15663105|0|m,a,s,p"; fp != want {
			t.Fatalf("fingerprint %q, want %q", fp, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no request")
	}
}

var _ = errors.New

// A handler that answers before the request body ends resets the stream
// (NO_ERROR); the body and trailers the client sent meanwhile are ignored,
// and the connection keeps serving.
func TestLateFramesAfterOurResetAreIgnored(t *testing.T) {
	ts, _, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "early "+r.URL.Path)
	}))
	rc := dialRaw(t, ts.Listener.Addr().String())
	rc.headers(1, false, ":method", "POST", ":scheme", "https", ":authority", "x", ":path", "/up")
	if f := rc.until(func(f http2.Frame) bool { r, ok := f.(*http2.RSTStreamFrame); return ok && r.StreamID == 1 }); f == nil {
		t.Fatal("no RST_STREAM after the early answer")
	}
	rc.fr.WriteData(1, false, []byte("late body"))
	rc.headers(1, true, "x-trailer", "late")
	rc.get(3, "/next")
	f := rc.until(func(f http2.Frame) bool {
		if isGoAway(f) {
			return true
		}
		d, ok := f.(*http2.DataFrame)
		return ok && d.StreamID == 3
	})
	if d, ok := f.(*http2.DataFrame); !ok || string(d.Data()) != "early /next" {
		t.Fatalf("got %v, want stream 3 answered", f)
	}
}

// A client that reads fast sends a WINDOW_UPDATE for the connection (and
// its stream) per response: at tens of thousands of responses a second on
// one connection that is past the control-frame bound, and Go's own
// client was cut with ENHANCE_YOUR_CALM under a cache-hit load. Window
// updates for the connection are not a flood; the connection stays up.
func TestWindowUpdatesOfAFastReaderAreNotAFlood(t *testing.T) {
	ts, _, s := start(t, slowHandler, func(s *Server) { s.MaxControlFramesPerSecond = 100 })
	rc := dialRaw(t, ts.Listener.Addr().String())
	rc.get(1, "/")
	for i := 0; i < 1000; i++ {
		// The connection's, and those of a stream as its reader catches up.
		if err := rc.fr.WriteWindowUpdate(uint32(i%2), 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := rc.fr.WritePing(false, [8]byte{7}); err != nil {
		t.Fatal(err)
	}
	f := rc.until(func(f http2.Frame) bool {
		p, ok := f.(*http2.PingFrame)
		return isGoAway(f) || ok && p.IsAck()
	})
	if _, ok := f.(*http2.PingFrame); !ok {
		t.Fatalf("got %v after 1000 window updates, want the PING answered", f)
	}
	if n := s.Stats().FloodCuts.Load(); n != 0 {
		t.Fatalf("%d flood cuts, want 0", n)
	}
}

// bigWriter writes 1 MiB and reports how its writes ended.
func bigWriter(deadline time.Duration, errs chan<- error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/small" {
			io.WriteString(w, "ok")
			return
		}
		if deadline > 0 {
			if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(deadline)); err != nil {
				errs <- err
				return
			}
		}
		chunk := bytes.Repeat([]byte("x"), 16<<10)
		for i := 0; i < 64; i++ {
			if _, err := w.Write(chunk); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}
}

// resetOf waits for the RST_STREAM of stream id.
func (rc *rawClient) resetOf(id uint32) *http2.RSTStreamFrame {
	f := rc.until(func(f http2.Frame) bool { r, ok := f.(*http2.RSTStreamFrame); return ok && r.StreamID == id })
	if f == nil {
		rc.t.Fatalf("stream %d was never reset", id)
	}
	return f.(*http2.RSTStreamFrame)
}

// A client that reads the socket but never grants window holds a response
// only for the write timeout: the stream is reset, its handler's write
// fails with a deadline error, and the connection serves on.
func TestStreamStalledOnWindowIsReset(t *testing.T) {
	errs := make(chan error, 1)
	ts, _, s := start(t, bigWriter(0, errs), func(s *Server) { s.WriteTimeout = 300 * time.Millisecond })
	rc := dialRaw(t, ts.Listener.Addr().String(), http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1024})
	rc.get(1, "/big")
	if code := rc.resetOf(1).ErrCode; code != http2.ErrCodeInternal {
		t.Fatalf("stream reset with %v, want INTERNAL_ERROR", code)
	}
	if err := <-errs; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the handler's write ended with %v, want a deadline error", err)
	}
	if n := s.Stats().StalledStreams.Load(); n != 1 {
		t.Fatalf("StalledStreams = %d, want 1", n)
	}
	rc.get(3, "/small")
	if rc.until(func(f http2.Frame) bool {
		d, ok := f.(*http2.DataFrame)
		return ok && d.StreamID == 3 && d.StreamEnded()
	}) == nil {
		t.Fatal("the connection did not serve a request after the stalled stream was reset")
	}
}

// http.ResponseController's write deadline is honoured: past it the
// stream is reset and writes fail; a deadline cleared in time never fires.
func TestHandlerWriteDeadline(t *testing.T) {
	errs := make(chan error, 1)
	ts, _, s := start(t, bigWriter(200*time.Millisecond, errs), func(s *Server) { s.WriteTimeout = time.Minute })
	rc := dialRaw(t, ts.Listener.Addr().String(), http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1024})
	rc.get(1, "/big")
	rc.resetOf(1)
	if err := <-errs; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the handler's write ended with %v, want a deadline error", err)
	}
	if n := s.Stats().StalledStreams.Load(); n != 0 {
		t.Fatalf("StalledStreams = %d, want 0: the handler's deadline ended it, not the stall bound", n)
	}

	cleared := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		rc.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		rc.SetWriteDeadline(time.Time{})
		time.Sleep(150 * time.Millisecond)
		io.WriteString(w, "late but fine")
	})
	ts2, c2, _ := start(t, cleared)
	res, body := get(t, c2, ts2.URL)
	if res.StatusCode != 200 || body != "late but fine" {
		t.Fatalf("a cleared deadline still cut the response: %d %q", res.StatusCode, body)
	}
}

package h2server

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// memConn is a client whose bytes are fixed in advance; what the server
// writes is counted and dropped.
type memConn struct {
	r       *bytes.Reader
	written atomic.Int64
}

func (m *memConn) Read(p []byte) (int, error)       { return m.r.Read(p) }
func (m *memConn) Write(p []byte) (int, error)      { m.written.Add(int64(len(p))); return len(p), nil }
func (m *memConn) Close() error                     { return nil }
func (m *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (m *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (m *memConn) SetDeadline(time.Time) error      { return nil }
func (m *memConn) SetReadDeadline(time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzConn feeds a connection arbitrary client bytes after the preface:
// the server must neither panic nor answer without bound.
func FuzzConn(f *testing.F) {
	var seed bytes.Buffer
	fr := http2.NewFramer(&seed, nil)
	fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, kv := range [][2]string{{":method", "POST"}, {":scheme", "https"}, {":authority", "x"}, {":path", "/a?b"}, {"content-length", "3"}, {"cookie", "a=1"}, {"cookie", "b=2"}} {
		enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true})
	fr.WriteData(1, true, []byte("abc"))
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: hb.Bytes()[:5]})
	fr.WriteContinuation(3, true, hb.Bytes()[5:])
	fr.WriteRSTStream(3, http2.ErrCodeCancel)
	fr.WritePing(false, [8]byte{1})
	fr.WriteWindowUpdate(0, 1000)
	fr.WritePriority(5, http2.PriorityParam{StreamDep: 1, Weight: 10})
	fr.WriteGoAway(0, http2.ErrCodeNo, nil)
	f.Add(seed.Bytes())
	f.Add([]byte{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		w.Header().Set("Trailer", "X-T")
		w.Write(b)
		w.Header().Set("X-T", "1")
	})
	f.Fuzz(func(t *testing.T, in []byte) {
		c := &memConn{r: bytes.NewReader(append([]byte(preface), in...))}
		s := &Server{Handler: h, IdleTimeout: time.Second}
		s.ServeConn(c)
		if n := c.written.Load(); n > 64<<10+int64(len(in))*64 {
			t.Fatalf("wrote %d bytes for %d bytes in", n, len(in))
		}
	})
}

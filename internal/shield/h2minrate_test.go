package shield_test

import (
	"bufio"
	"encoding/binary"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// Over HTTP/2 (h2c through x/net's server and TLS through levee's own), a
// client that stops granting flow-control window has its stream reset by
// the minimum transfer rate, and so has a client trickling a request body;
// both are counted, and the connections' other clients are served.
func TestH2MinRateCuts(t *testing.T) {
	for _, m := range h2Modes {
		t.Run(m.name, func(t *testing.T) { testH2MinRateCuts(t, m) })
	}
}

func testH2MinRateCuts(t *testing.T, m h2Mode) {
	o := newSmallOrigin(t, 0, 100)
	n := m.node(t, o.URL, `
shield:
  min_rate: 64KiB
  min_rate_window: 1s
`)
	// A slow reader: GET /big (64 MiB), and never a WINDOW_UPDATE, so the
	// server can send 64 KiB and then waits on the window.
	sr, srFrames := rstConn(t, m, n.Addr(""))
	defer sr.Close()
	sr.Write(frame(0x1, 0x5, 1, getHeaders("/big"))) // HEADERS, END_STREAM|END_HEADERS

	// A slow body: POST /up declaring 1,000 bytes, one byte every 200 ms.
	sb, sbFrames := rstConn(t, m, n.Addr(""))
	defer sb.Close()
	sb.Write(frame(0x8, 0, 0, binary.BigEndian.AppendUint32(nil, 1<<20))) // connection WINDOW_UPDATE
	sb.Write(frame(0x1, 0x4, 1, postHeaders("/up", "1000")))              // HEADERS, END_HEADERS
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; i < 100; i++ {
			if _, err := sb.Write(frame(0x0, 0, 1, []byte("x"))); err != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()

	if !srFrames.ended(1, 10*time.Second) {
		t.Fatal("the stream of a client granting no window was still open after 10 s (min_rate 64KiB, window 1s)")
	}
	if !sbFrames.ended(1, 10*time.Second) {
		t.Fatal("the stream of a client trickling its body was still open after 10 s")
	}
	if code, _, _, err := get(m.client(), m.url(n, "/ok")); err != nil || code != 200 {
		t.Fatalf("others are served: %d %v", code, err)
	}
	_, _, body, _ := get(clientFrom("127.0.0.3", 1), n.AdminURL("/metrics"))
	for _, want := range []string{`levee_shield_min_rate_cuts_total{direction="response"}`, `levee_shield_min_rate_cuts_total{direction="request"}`} {
		if !strings.Contains(body, want) {
			t.Errorf("%s: metric %s missing", m.name, want)
		}
	}
}

// postHeaders is an HPACK block for POST http://x<path> with a
// Content-Length, from the static table.
func postHeaders(path, length string) []byte {
	b := []byte{0x83, 0x86, 0x04, byte(len(path))}
	b = append(b, path...)
	b = append(b, 0x01, 0x01, 'x')
	b = append(b, 0x0f, 0x0d, byte(len(length))) // content-length (static 28), literal value
	return append(b, length...)
}

// streamEnds reads a connection's frames and notes, per stream, when the
// server ended it: RST_STREAM, or a frame with END_STREAM.
type streamEnds struct {
	mu   sync.Mutex
	byID map[uint32]bool
	done chan struct{}
}

func rstConn(t *testing.T, m h2Mode, addr string) (io.WriteCloser, *streamEnds) {
	c := m.dial(t, addr)
	io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	c.Write(frame(0x4, 0, 0, nil)) // SETTINGS
	se := &streamEnds{byID: map[uint32]bool{}, done: make(chan struct{})}
	go se.run(bufio.NewReader(c))
	return c, se
}

func (s *streamEnds) run(r *bufio.Reader) {
	defer close(s.done)
	hdr := make([]byte, 9)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return
		}
		n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
			return
		}
		id := binary.BigEndian.Uint32(hdr[5:]) & 0x7fffffff
		typ, flags := hdr[3], hdr[4]
		if typ == 0x3 || (typ == 0x0 || typ == 0x1) && flags&0x1 != 0 {
			s.mu.Lock()
			s.byID[id] = true
			s.mu.Unlock()
		}
	}
}

// ended waits up to d for the stream to end or the connection to close.
func (s *streamEnds) ended(id uint32, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		e := s.byID[id]
		s.mu.Unlock()
		if e {
			return true
		}
		select {
		case <-s.done:
			return true
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false
}

package h2server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// conn is one HTTP/2 connection. The read loop (serve) is the only reader
// of fr; everything below mu is shared with the stream handlers, which
// write their frames themselves (lockWrite/unlockWrite).
type conn struct {
	srv      *Server
	nc       net.Conn
	handler  http.Handler
	ctx      context.Context
	cancel   context.CancelFunc
	tlsState *tls.ConnectionState
	remote   string
	br       *bufio.Reader
	bw       *bufio.Writer
	fr       *http2.Framer
	hdec     *hpack.Decoder
	hb       headerBlock // the block being read (read loop only)
	fp       fingerprint // read loop only

	// writers counts goroutines that hold or wait for mu in order to
	// write; the last one out flushes, so the frames of concurrent streams
	// leave in one TLS write.
	writers atomic.Int32

	mu           sync.Mutex
	wcond        sync.Cond // send window grew, or a stream or the conn ended
	henc         *hpack.Encoder
	hbuf         headerBuf
	streams      map[uint32]*stream
	open         int // streams open in the protocol's sense
	running      int // handlers running
	lastStreamID uint32
	goAwaySent   bool
	goAwayID     uint32
	closed       bool
	idleSet      bool
	// closeAfterFlush: GOAWAY was sent and the last stream ended.
	closeAfterFlush bool
	// A finished stream's frames wait (deferFlush) while other handlers
	// run or more requests are already read (moreInput): the last one
	// out flushes them all in one TLS write; flushTimer bounds the wait.
	deferFlush bool
	moreInput  bool
	flushArmed bool
	flushTimer *time.Timer
	// The streams we reset last, whose late frames are ignored.
	recentResets [32]uint32
	recentN      int
	sendWindow   int64 // connection-level, to the client
	initWindow   int64 // client's SETTINGS_INITIAL_WINDOW_SIZE
	peerMaxFrame uint32
	recvWindow   int64 // connection-level, from the client
	recvCredit   int64 // consumed, not yet returned by WINDOW_UPDATE
	writeErr     error

	// Flood accounting (read loop only).
	windowStart time.Time
	resets      int
	control     int
	firstHello  bool
}

func newConn(s *Server, ctx context.Context, nc net.Conn, h http.Handler) *conn {
	c := &conn{srv: s, nc: nc, handler: h, remote: nc.RemoteAddr().String()}
	c.ctx, c.cancel = context.WithCancel(ctx)
	if tc, ok := nc.(*tls.Conn); ok {
		st := tc.ConnectionState()
		c.tlsState = &st
	}
	c.br = bufio.NewReaderSize(nc, 16<<10)
	c.bw = bufio.NewWriterSize(&stallWriter{c: c}, 32<<10)
	c.fr = http2.NewFramer(c.bw, c.br)
	c.fr.SetMaxReadFrameSize(s.maxFrame())
	c.fr.SetReuseFrames()
	c.hdec = hpack.NewDecoder(4096, c.hb.emit)
	c.hdec.SetMaxStringLength(int(s.maxHeaderList()))
	c.hb.c = c
	c.henc = hpack.NewEncoder(&c.hbuf)
	c.wcond.L = &c.mu
	c.streams = make(map[uint32]*stream)
	c.sendWindow = 65535
	c.initWindow = 65535
	c.peerMaxFrame = 16 << 10
	c.recvWindow = connRecvWindow
	return c
}

// stallWriter bounds every write to the client by the server's stall time.
type stallWriter struct{ c *conn }

func (w *stallWriter) Write(p []byte) (int, error) {
	w.c.nc.SetWriteDeadline(time.Now().Add(w.c.srv.stall()))
	return w.c.nc.Write(p)
}

func (c *conn) serve() {
	defer c.close()
	if err := c.handshake(); err != nil {
		c.srv.logger().Debug("h2: preface", "peer", c.remote, "err", err)
		return
	}
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.readError(err)
			return
		}
		if err := c.processFrame(f); err != nil {
			c.fail(err)
			return
		}
		if c.br.Buffered() == 0 {
			c.endOfInput()
		}
	}
}

// handshake reads the client preface and sends the server's SETTINGS and
// the connection window beyond the protocol's 64 KiB.
func (c *conn) handshake() error {
	c.nc.SetReadDeadline(time.Now().Add(prefaceTimeout))
	buf := make([]byte, len(preface))
	if _, err := io.ReadFull(c.br, buf); err != nil {
		return err
	}
	if string(buf) != preface {
		return errors.New("bad client preface")
	}
	c.lockWrite()
	err := c.fr.WriteSettings(
		http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: c.srv.maxStreams()},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: streamRecvWindow},
		http2.Setting{ID: http2.SettingMaxFrameSize, Val: c.srv.maxFrame()},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: c.srv.maxHeaderList()},
	)
	if err == nil {
		err = c.fr.WriteWindowUpdate(0, connRecvWindow-65535)
	}
	c.unlockWrite()
	if err != nil {
		return err
	}
	f, err := c.fr.ReadFrame()
	if err != nil {
		return err
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		c.fail(http2.ConnectionError(http2.ErrCodeProtocol))
		return errors.New("first frame is not SETTINGS")
	}
	c.setIdle()
	return c.processFrame(sf)
}

// readError ends the connection after a failed read: a protocol error gets
// its GOAWAY, a stream error its RST_STREAM (and the loop goes on in
// processFrame's caller: see serve), anything else is the peer gone.
func (c *conn) readError(err error) {
	var ce http2.ConnectionError
	switch {
	case errors.As(err, &ce):
		c.fail(ce)
	case errors.Is(err, http2.ErrFrameTooLarge):
		c.fail(http2.ConnectionError(http2.ErrCodeFrameSize))
	default:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.goAway(http2.ErrCodeNo, false)
		}
	}
}

// fail sends GOAWAY with err's code and ends the connection.
func (c *conn) fail(err error) {
	code := http2.ErrCodeProtocol
	var ce http2.ConnectionError
	if errors.As(err, &ce) {
		code = http2.ErrCode(ce)
	}
	var cut *cutError
	if errors.As(err, &cut) {
		code = cut.code
	} else {
		c.srv.Stats().ProtocolErrors.Add(1)
	}
	c.srv.logger().Debug("h2: connection error", "peer", c.remote, "err", err)
	c.goAway(code, false)
	c.lingerAndClose()
}

// cutError is a connection cut for abuse, already counted and logged.
type cutError struct {
	code http2.ErrCode
	msg  string
}

func (e *cutError) Error() string { return e.msg }

// goAway sends GOAWAY once. Graceful (code NO_ERROR from a shutdown or a
// draining response) lets running streams finish and closes after the
// last; otherwise the caller closes.
func (c *conn) goAway(code http2.ErrCode, graceful bool) {
	c.lockWrite()
	if !c.goAwaySent && !c.closed {
		c.goAwaySent = true
		c.goAwayID = c.lastStreamID
		_ = c.fr.WriteGoAway(c.lastStreamID, code, nil)
		if c.writeErr == nil {
			// Now, not by the last writer: an error cut follows at once.
			if err := c.bw.Flush(); err != nil {
				c.writeFailedLocked(err)
			}
		}
	}
	if graceful && c.open == 0 && c.running == 0 {
		c.closeAfterFlush = true
	}
	c.unlockWrite()
}

// lingerAndClose gives the client a moment to read the GOAWAY before the
// socket closes (closing with unread input would reset it first).
func (c *conn) lingerAndClose() {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	c.nc.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = io.CopyN(io.Discard, c.br, 1<<20)
	c.nc.Close()
}

// close ends every stream: handlers see their context cancelled and their
// writes fail.
func (c *conn) close() {
	c.cancel()
	c.mu.Lock()
	c.closed = true
	if c.writeErr == nil {
		c.writeErr = errConnClosed
	}
	for _, st := range c.streams {
		st.abortLocked(errConnClosed)
	}
	c.wcond.Broadcast()
	if c.flushTimer != nil {
		c.flushTimer.Stop()
	}
	c.mu.Unlock()
	c.nc.Close()
}

var (
	errConnClosed   = errors.New("h2: connection closed")
	errStreamClosed = errors.New("h2: stream reset")
)

// lockWrite takes the connection to write frames; unlockWrite flushes if
// no other writer is waiting.
func (c *conn) lockWrite() {
	c.writers.Add(1)
	c.mu.Lock()
}

func (c *conn) unlockWrite() {
	if c.writers.Add(-1) == 0 {
		if c.deferFlush && !c.closeAfterFlush {
			c.armFlushLocked()
		} else if c.bw.Buffered() > 0 && c.writeErr == nil {
			if err := c.bw.Flush(); err != nil {
				c.writeFailedLocked(err)
			}
		}
		if c.closeAfterFlush {
			c.nc.Close() // a graceful GOAWAY's last stream is done
		}
	}
	c.deferFlush = false
	c.mu.Unlock()
}

// armFlushLocked makes sure deferred frames leave within flushDelay even
// if the streams still running (a miss waiting on its origin) write
// nothing meanwhile.
func (c *conn) armFlushLocked() {
	c.deferFlush = false
	if c.flushArmed {
		return
	}
	c.flushArmed = true
	if c.flushTimer == nil {
		c.flushTimer = time.AfterFunc(flushDelay, c.timedFlush)
		return
	}
	c.flushTimer.Reset(flushDelay)
}

func (c *conn) timedFlush() {
	c.lockWrite()
	c.flushArmed = false
	c.unlockWrite()
}

// endOfInput runs when the read loop has no buffered input left: the
// answers written meanwhile leave now unless handlers still run.
func (c *conn) endOfInput() {
	c.mu.Lock()
	c.moreInput = false
	if c.running == 0 && c.writers.Load() == 0 && c.bw.Buffered() > 0 && c.writeErr == nil {
		if err := c.bw.Flush(); err != nil {
			c.writeFailedLocked(err)
		}
	}
	c.mu.Unlock()
}

// writeFailedLocked records a write error: the client is gone or stalled,
// so the connection ends.
func (c *conn) writeFailedLocked(err error) {
	if c.writeErr == nil {
		c.writeErr = err
		c.wcond.Broadcast()
		c.srv.goroutine("h2-close", func() { c.nc.Close() }) // wakes the read loop
	}
}

// setIdle arms the idle timeout when nothing runs, disarms it otherwise.
// Callers hold mu or are the read loop before any stream exists.
func (c *conn) setIdle() {
	idle := c.open == 0 && c.running == 0
	if idle && !c.idleSet {
		c.idleSet = true
		c.nc.SetReadDeadline(time.Now().Add(c.srv.idle()))
	} else if !idle && c.idleSet {
		c.idleSet = false
		c.nc.SetReadDeadline(time.Time{})
	}
}

// budget counts a control frame against the per-second bound.
func (c *conn) budget(resets int) error {
	now := time.Now()
	if now.Sub(c.windowStart) > time.Second {
		c.windowStart, c.resets, c.control = now, 0, 0
	}
	c.control++
	c.resets += resets
	if c.resets > orDefault(c.srv.MaxResetsPerSecond, DefaultMaxResetsPerSecond) {
		c.srv.Stats().ResetCuts.Add(1)
		c.srv.logger().Warn("closing HTTP/2 connection for resetting streams too fast", "peer", c.remote)
		return &cutError{http2.ErrCodeEnhanceYourCalm, "rapid reset"}
	}
	if c.control > orDefault(c.srv.MaxControlFramesPerSecond, DefaultMaxControlFramesPerSecond) {
		c.srv.Stats().FloodCuts.Add(1)
		c.srv.logger().Warn("closing HTTP/2 connection for a control-frame flood", "peer", c.remote)
		return &cutError{http2.ErrCodeEnhanceYourCalm, "control frame flood"}
	}
	return nil
}

func (c *conn) processFrame(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.HeadersFrame:
		return c.onHeaders(f)
	case *http2.ContinuationFrame:
		return c.onContinuation(f)
	case *http2.DataFrame:
		return c.onData(f)
	case *http2.SettingsFrame:
		if err := c.budget(0); err != nil {
			return err
		}
		return c.onSettings(f)
	case *http2.WindowUpdateFrame:
		// Not counted against the control-frame bound: a client reading
		// fast sends several per response (for the connection, and for
		// the stream as it reads, often after the stream ended here), tens
		// of thousands a second on one busy connection. They cost no reply
		// and a map look-up; the 2^31-1 window bound caps what they grant.
		return c.onWindowUpdate(f)
	case *http2.PingFrame:
		if err := c.budget(0); err != nil {
			return err
		}
		if f.IsAck() {
			return nil
		}
		c.lockWrite()
		err := c.fr.WritePing(true, f.Data)
		c.unlockWrite()
		return err
	case *http2.RSTStreamFrame:
		return c.onReset(f)
	case *http2.PriorityFrame:
		if err := c.budget(0); err != nil {
			return err
		}
		if f.StreamDep == f.StreamID {
			c.resetStream(f.StreamID, http2.ErrCodeProtocol)
		}
		c.fp.priority(f)
		return nil
	case *http2.GoAwayFrame:
		c.goAway(http2.ErrCodeNo, true)
		return nil
	case *http2.PushPromiseFrame:
		return http2.ConnectionError(http2.ErrCodeProtocol)
	default:
		return c.budget(0) // unknown frame types are ignored
	}
}

func (c *conn) onSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	if err := f.ForeachSetting(func(s http2.Setting) error {
		c.fp.setting(s)
		return c.applySetting(s)
	}); err != nil {
		return err
	}
	c.fp.settingsDone = true
	c.lockWrite()
	err := c.fr.WriteSettingsAck()
	c.unlockWrite()
	return err
}

func (c *conn) applySetting(s http2.Setting) error {
	if err := s.Valid(); err != nil {
		return err
	}
	c.lockWrite()
	defer c.unlockWrite()
	switch s.ID {
	case http2.SettingInitialWindowSize:
		delta := int64(s.Val) - c.initWindow
		c.initWindow = int64(s.Val)
		for _, st := range c.streams {
			st.sendWindow += delta
			if st.sendWindow > 1<<31-1 {
				return http2.ConnectionError(http2.ErrCodeFlowControl)
			}
		}
		c.wcond.Broadcast()
	case http2.SettingMaxFrameSize:
		c.peerMaxFrame = s.Val
	case http2.SettingHeaderTableSize:
		c.henc.SetMaxDynamicTableSize(min(s.Val, 4096))
	}
	return nil
}

func (c *conn) onWindowUpdate(f *http2.WindowUpdateFrame) error {
	if f.StreamID == 0 {
		c.fp.windowUpdate(f.Increment)
	}
	c.lockWrite()
	defer c.unlockWrite()
	if f.StreamID == 0 {
		if f.Increment == 0 {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		c.sendWindow += int64(f.Increment)
		if c.sendWindow > 1<<31-1 {
			return http2.ConnectionError(http2.ErrCodeFlowControl)
		}
		c.wcond.Broadcast()
		return nil
	}
	st := c.streams[f.StreamID]
	if f.Increment == 0 {
		if st == nil && f.StreamID > c.lastStreamID {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		c.resetLocked(f.StreamID, st, http2.ErrCodeProtocol)
		return nil
	}
	if st == nil || st.resetSent {
		if f.StreamID > c.lastStreamID {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		return nil // a stream that ended: allowed (RFC 9113 6.9)
	}
	st.sendWindow += int64(f.Increment)
	if st.sendWindow > 1<<31-1 {
		c.resetLocked(f.StreamID, st, http2.ErrCodeFlowControl)
	}
	c.wcond.Broadcast()
	return nil
}

func (c *conn) onReset(f *http2.RSTStreamFrame) error {
	c.lockWrite()
	if f.StreamID > c.lastStreamID {
		c.unlockWrite()
		return http2.ConnectionError(http2.ErrCodeProtocol) // idle stream
	}
	st := c.streams[f.StreamID]
	running := st != nil && !st.done
	if st != nil {
		st.resetSent = true // the client reset it: nothing more goes out
		st.peerReset = true
		st.abortLocked(errStreamClosed)
		c.closeStreamLocked(st)
		c.wcond.Broadcast()
	}
	c.unlockWrite()
	n := 0
	if running {
		n = 1
	}
	return c.budget(n)
}

// resetStream sends RST_STREAM for id and forgets the stream.
func (c *conn) resetStream(id uint32, code http2.ErrCode) {
	c.lockWrite()
	c.resetLocked(id, c.streams[id], code)
	c.unlockWrite()
}

func (c *conn) resetLocked(id uint32, st *stream, code http2.ErrCode) {
	if st != nil {
		if st.resetSent {
			return
		}
		st.resetSent = true
		st.abortLocked(errStreamClosed)
		c.closeStreamLocked(st)
		c.wcond.Broadcast()
	}
	c.recentResets[c.recentN%len(c.recentResets)] = id
	c.recentN++
	if c.writeErr == nil {
		_ = c.fr.WriteRSTStream(id, code)
	}
}

// resetByUsLocked reports whether we reset stream id lately: frames the
// client sent before it saw our RST_STREAM are ignored (RFC 9113 5.1),
// not taken for a protocol error.
func (c *conn) resetByUsLocked(id uint32) bool {
	for _, r := range c.recentResets {
		if r == id {
			return true
		}
	}
	return false
}

// closeStreamLocked ends a stream in the protocol's sense; its handler
// may still run (and is counted in running until it returns).
func (c *conn) closeStreamLocked(st *stream) {
	if st.closed {
		return
	}
	st.closed = true
	c.open--
	if st.bodyBuffered > 0 {
		c.creditLocked(int64(st.bodyBuffered))
		st.bodyBuffered = 0
	}
	if !st.handlerRunning {
		delete(c.streams, st.id)
	}
	c.setIdle()
	if c.goAwaySent && c.open == 0 && c.running == 0 {
		c.closeAfterFlush = true
	}
}

// creditLocked returns consumed bytes to the client's connection window,
// in batches of a quarter window.
func (c *conn) creditLocked(n int64) {
	c.recvWindow += n
	c.recvCredit += n
	if c.recvCredit >= connRecvWindow/4 && c.writeErr == nil {
		_ = c.fr.WriteWindowUpdate(0, uint32(c.recvCredit))
		c.recvCredit = 0
	}
}

func (c *conn) String() string { return fmt.Sprintf("h2 conn %s", c.remote) }

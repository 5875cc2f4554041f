package shield

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"levee/internal/pipeline"
)

// errTooSlow ends a transfer slower than shield.min_rate.
var errTooSlow = errors.New("transfer below the minimum rate")

// serveMinRate runs the rest of the chain with the request body and the
// response held to the minimum transfer rate. Each read or write gets a
// deadline of one window, so a stalled peer is cut within a window; once a
// window has passed, a transfer averaging under the rate is cut too, so a
// peer trickling bytes cannot hold the connection for ever. A cut response
// aborts the connection.
func (s *Shield) serveMinRate(w http.ResponseWriter, r *http.Request, next pipeline.Handler, q *req) error {
	rc := http.NewResponseController(w)
	var sb *slowBody
	if r.Body != nil && r.Body != http.NoBody {
		sb = &slowBody{ReadCloser: r.Body, rc: rc, s: s, start: q.now, end: q.now.Add(s.readBody)}
		r.Body = sb
	}
	sw := &slowWriter{ResponseWriter: w, rc: rc, s: s}
	err := s.proceed(sw, r, next, q)
	if sb != nil && sb.cut {
		// Whatever the origin made of a truncated body, the client that
		// trickled it loses the connection.
		q.ex.ClientGone = true
		panic(http.ErrAbortHandler)
	}
	if sw.cut {
		s.st.m.MinRateCuts.WithLabelValues("response").Inc()
		q.ex.ClientGone = true
		panic(http.ErrAbortHandler)
	}
	return err
}

type slowBody struct {
	io.ReadCloser
	rc         *http.ResponseController
	s          *Shield
	start, end time.Time
	n          int64
	cut        bool
}

func (b *slowBody) Read(p []byte) (int, error) {
	now := time.Now()
	_ = b.rc.SetReadDeadline(minTime(now.Add(b.s.window), b.end))
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		b.cut = true
		b.s.st.m.MinRateCuts.WithLabelValues("request").Inc()
	}
	if err == nil && b.s.tooSlow(b.n, time.Since(b.start)) {
		b.cut = true
		b.s.st.m.MinRateCuts.WithLabelValues("request").Inc()
		return n, pipeline.Errorf(pipeline.SourceClient, http.StatusRequestTimeout, "too_slow", "request body too slow", errTooSlow)
	}
	return n, err
}

type slowWriter struct {
	http.ResponseWriter
	rc    *http.ResponseController
	s     *Shield
	start time.Time
	n     int64
	cut   bool
}

func (w *slowWriter) Write(p []byte) (int, error) {
	if w.cut {
		return 0, errTooSlow
	}
	now := time.Now()
	if w.start.IsZero() {
		w.start = now
	}
	_ = w.rc.SetWriteDeadline(now.Add(w.s.window))
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	if err != nil {
		w.cut = errors.Is(err, os.ErrDeadlineExceeded)
		return n, err
	}
	if w.s.tooSlow(w.n, time.Since(w.start)) {
		w.cut = true
		return n, errTooSlow
	}
	return n, nil
}

// Flush passes flushes through, under the same deadline.
func (w *slowWriter) Flush() {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.s.window))
	if err := w.rc.Flush(); err != nil {
		w.cut = true
	}
}

// Unwrap lets pipeline.From and http.ResponseController see the Exchange.
func (w *slowWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Shield) tooSlow(n int64, elapsed time.Duration) bool {
	return elapsed > s.window && float64(n) < s.minRate*elapsed.Seconds()
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

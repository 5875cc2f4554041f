//go:build linux

package rawio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// Each answer ends the wait and is read, round after round, from a peer
// that answers at once. (The order that makes an answer arriving before
// the goroutine parks safe, the wait registered before the write, cannot
// be forced here: the window of a wait registered after the write is far
// shorter than a round trip, and such a build passed this test too.)
func TestSendThenAwaitAnswersRead(t *testing.T) {
	c, s := pair(t)
	a, b := sock(t, c), sock(t, s)
	go func() {
		buf := make([]byte, 64)
		for {
			n, err := b.Read(buf)
			if err != nil {
				return
			}
			if _, err := b.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	req := []byte("ping")
	got := make([]byte, 64)
	for i := range 3000 {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := a.SendThenAwait(req)
		if n != len(req) || err != nil {
			t.Fatalf("round %d: SendThenAwait = %d, %v", i, n, err)
		}
		m, err := a.Read(got)
		if err != nil || string(got[:m]) != "ping" {
			t.Fatalf("round %d: Read = %q, %v (an answer was missed)", i, got[:m], err)
		}
	}
}

// A send buffer that cannot take the whole request ends the call without
// waiting: it says how much went, and Write sends the rest.
func TestSendThenAwaitFullSendBuffer(t *testing.T) {
	c, s := pair(t)
	c.SetWriteBuffer(4096)
	a := sock(t, c)
	p := bytes.Repeat([]byte("0123456789abcdef"), 1<<15) // 512 KiB
	n, err := a.SendThenAwait(p)
	if err != nil || n == 0 || n >= len(p) {
		t.Fatalf("SendThenAwait = %d, %v; want part of %d and no error", n, err, len(p))
	}
	got := make(chan []byte, 1)
	go func() {
		all, _ := io.ReadAll(io.LimitReader(s, int64(len(p))))
		got <- all
	}()
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if m, err := a.Write(p[n:]); m != len(p)-n || err != nil {
		t.Fatalf("Write of the rest = %d, %v", m, err)
	}
	if all := <-got; !bytes.Equal(all, p) {
		t.Fatalf("the peer got %d bytes, not the %d sent in order", len(all), len(p))
	}
}

// The read deadline ends the wait; the request went, and the next Read
// reports the deadline.
func TestSendThenAwaitDeadline(t *testing.T) {
	c, s := pair(t)
	a := sock(t, c)
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := a.SendThenAwait([]byte("ping")); n != 4 || err != nil {
		t.Fatalf("SendThenAwait = %d, %v", n, err)
	}
	if _, err := a.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read after the deadline = %v, want the deadline", err)
	}
	buf := make([]byte, 8)
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := s.Read(buf); string(buf[:n]) != "ping" {
		t.Fatalf("the peer read %q, %v", buf[:n], err)
	}
}

// A peer that closes after the request: the wait ends and Read says EOF.
func TestSendThenAwaitPeerCloses(t *testing.T) {
	c, s := pair(t)
	a := sock(t, c)
	go func() {
		s.Read(make([]byte, 8))
		s.Close()
	}()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := a.SendThenAwait([]byte("ping")); n != 4 || err != nil {
		t.Fatalf("SendThenAwait = %d, %v", n, err)
	}
	if _, err := a.Read(make([]byte, 8)); err != io.EOF {
		t.Fatalf("Read = %v, want EOF", err)
	}
}

// A connection the peer reset fails in the write, as a net.OpError with
// the system's error, or, when the reset lands after it, in the next Read.
func TestSendThenAwaitReset(t *testing.T) {
	c, s := pair(t)
	a := sock(t, c)
	s.SetLinger(0)
	s.Close()
	time.Sleep(50 * time.Millisecond) // the reset arrives
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := a.SendThenAwait([]byte("ping"))
	if err == nil {
		_, err = a.Read(make([]byte, 8))
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || !(errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
		t.Fatalf("got %v, want a reset or broken pipe as a net.OpError", err)
	}
}

// A deadline already passed (a request cancelled before it was sent):
// nothing is written and the error says so.
func TestSendThenAwaitAfterCut(t *testing.T) {
	c, s := pair(t)
	a := sock(t, c)
	c.SetDeadline(time.Unix(1, 0))
	n, err := a.SendThenAwait([]byte("ping"))
	if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("SendThenAwait = %d, %v; want nothing sent and the deadline", n, err)
	}
	s.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := s.Read(make([]byte, 8)); n != 0 {
		t.Fatalf("the peer read %d bytes, %v", n, err)
	}
}

// A write that took long (the peer may have run and answered meanwhile)
// ends the call without the wait, so the answer is read for at once; a
// quick one waits. answerLikely is set to make every write count as slow
// or as quick; the peer never answers.
func TestSendThenAwaitWaitsOnlyAfterAQuickWrite(t *testing.T) {
	defer func(d time.Duration) { answerLikely = d }(answerLikely)

	// Slow: the call returns with the read deadline an hour away.
	answerLikely = 0
	c, _ := pair(t)
	a := sock(t, c)
	c.SetReadDeadline(time.Now().Add(time.Hour))
	done := make(chan error, 1)
	go func() {
		_, err := a.SendThenAwait([]byte("ping"))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("SendThenAwait after a slow write = %v", err)
		}
	case <-time.After(10 * time.Second):
		c.Close()
		t.Fatal("SendThenAwait waited after a write counted as slow")
	}

	// Quick: the call waits, here until the read deadline.
	answerLikely = time.Hour
	c, _ = pair(t)
	a = sock(t, c)
	dl := time.Now().Add(200 * time.Millisecond)
	c.SetReadDeadline(dl)
	if n, err := a.SendThenAwait([]byte("ping")); n != 4 || err != nil {
		t.Fatalf("SendThenAwait = %d, %v", n, err)
	}
	if time.Now().Before(dl) {
		t.Fatal("SendThenAwait returned before the deadline after a quick write to a silent peer")
	}
}

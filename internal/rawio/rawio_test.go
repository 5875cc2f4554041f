//go:build linux

package rawio

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// pair returns the two ends of a loopback TCP connection.
func pair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		done <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-done
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

func sock(t *testing.T, c net.Conn) *Sock {
	t.Helper()
	s := New(c)
	if s == nil {
		t.Fatalf("New(%T) = nil, want a Sock", c)
	}
	return s
}

func TestReadWriteBothWays(t *testing.T) {
	c, s := pair(t)
	a, b := sock(t, c), sock(t, s)
	if n, err := a.Write([]byte("GET / HTTP/1.1\r\n\r\n")); n != 18 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	buf := make([]byte, 64)
	n, err := b.Read(buf)
	if err != nil || string(buf[:n]) != "GET / HTTP/1.1\r\n\r\n" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
	if n, err := b.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v; want 0, nil", n, err)
	}
	if n, err := b.Write(nil); n != 0 || err != nil {
		t.Fatalf("Write(nil) = %d, %v; want 0, nil", n, err)
	}
}

// A write larger than the socket's buffers waits for room and still
// delivers every byte, in order.
func TestLargeWriteWaitsForRoom(t *testing.T) {
	c, s := pair(t)
	c.SetWriteBuffer(16 << 10)
	s.SetReadBuffer(16 << 10)
	a := sock(t, c)
	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	got := make(chan []byte, 1)
	go func() {
		var all []byte
		buf := make([]byte, 3000)
		for len(all) < len(want) {
			time.Sleep(50 * time.Microsecond) // a slow reader
			n, err := s.Read(buf)
			all = append(all, buf[:n]...)
			if err != nil {
				break
			}
		}
		got <- all
	}()
	n, err := a.Write(want)
	if n != len(want) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(want))
	}
	select {
	case all := <-got:
		if !bytes.Equal(all, want) {
			t.Fatalf("reader got %d bytes, not the %d written in order", len(all), len(want))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("reader did not finish")
	}
}

func TestEndOfStreamIsEOF(t *testing.T) {
	c, s := pair(t)
	b := sock(t, s)
	c.Write([]byte("x"))
	c.CloseWrite()
	buf := make([]byte, 8)
	if n, err := b.Read(buf); n != 1 || err != nil {
		t.Fatalf("first Read = %d, %v", n, err)
	}
	if n, err := b.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("Read after the peer's FIN = %d, %v; want 0, io.EOF", n, err)
	}
}

func TestResetIsECONNRESET(t *testing.T) {
	c, s := pair(t)
	b := sock(t, s)
	c.SetLinger(0)
	c.Close() // an RST
	_, err := b.Read(make([]byte, 8))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read after a reset: %v; want ECONNRESET", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" {
		t.Fatalf("error %#v is not a read *net.OpError", err)
	}
}

func TestDeadlinesApply(t *testing.T) {
	c, s := pair(t)
	b := sock(t, s)
	s.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	_, err := b.Read(make([]byte, 8))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past its deadline: %v; want a timeout", err)
	}
	// A deadline already past fails at once, with nothing read.
	c.Write([]byte("late"))
	s.SetReadDeadline(time.Unix(1, 0))
	if n, err := b.Read(make([]byte, 8)); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read with a past deadline = %d, %v", n, err)
	}
	// A write that cannot finish stops at its deadline and says exactly how
	// much went: the peer then reads that many bytes and no more.
	s.SetReadDeadline(time.Time{})
	if _, err := io.ReadFull(b, make([]byte, 4)); err != nil { // "late"
		t.Fatal(err)
	}
	a := sock(t, c)
	c.SetWriteBuffer(8 << 10)
	c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	n, err := a.Write(make([]byte, 32<<20)) // nobody reads yet
	if !errors.Is(err, os.ErrDeadlineExceeded) || n >= 32<<20 {
		t.Fatalf("blocked Write = %d, %v; want part of it and a timeout", n, err)
	}
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(s, make([]byte, n)); err != nil {
		t.Fatalf("reading the %d bytes Write reported: %v", n, err)
	}
	s.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if m, err := s.Read(make([]byte, 1)); m != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("after the %d bytes Write reported, %d more arrived (%v)", n, m, err)
	}
}

func TestCloseWakesARead(t *testing.T) {
	_, s := pair(t)
	b := sock(t, s)
	errc := make(chan error, 1)
	go func() {
		_, err := b.Read(make([]byte, 8))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	s.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read on a closed conn: %v; want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake the read")
	}
}

// Reads and writes of one Sock run at the same time from two goroutines,
// as a server reads the next request while writing an answer.
func TestConcurrentReadAndWrite(t *testing.T) {
	c, s := pair(t)
	a, b := sock(t, c), sock(t, s)
	const rounds = 2000
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // echo on b
		defer wg.Done()
		buf := make([]byte, 5)
		for range rounds {
			if _, err := io.ReadFull(b, buf); err != nil {
				t.Error(err)
				return
			}
			b.Write(buf)
		}
	}()
	go func() { // a reads the echoes while the test writes
		defer wg.Done()
		buf := make([]byte, 5)
		for i := range rounds {
			if _, err := io.ReadFull(a, buf); err != nil || string(buf) != "hello" {
				t.Errorf("echo %d: %q, %v", i, buf, err)
				return
			}
		}
	}()
	for range rounds {
		if _, err := a.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
}

type wrapped struct {
	net.Conn
	stream bool
}

func (w wrapped) StreamSocket() bool { return w.stream }
func (w wrapped) SyscallConn() (syscall.RawConn, error) {
	return w.Conn.(syscall.Conn).SyscallConn()
}

func TestOnlyPlainStreamSockets(t *testing.T) {
	c, s := pair(t)
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	for name, conn := range map[string]net.Conn{
		"pipe":                       p1,
		"TLS":                        tls.Client(c, &tls.Config{InsecureSkipVerify: true}),
		"wrapper that buffers bytes": wrapped{Conn: s, stream: false},
	} {
		if New(conn) != nil {
			t.Errorf("New(%s) gave a Sock; its bytes are not the socket's", name)
		}
	}
	w := sock(t, wrapped{Conn: s, stream: true})
	c.Write([]byte("ok"))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(w, buf); err != nil || string(buf) != "ok" {
		t.Fatalf("through a stream wrapper: %q, %v", buf, err)
	}
}

// A goroutine woken by the network that then runs for long must not keep
// other connections that became ready from being served: raw calls never
// wake the runtime's monitor thread, so a pending timer of rawio's own
// does. Everything here arrives from a child process, so no timer and no
// system call of the test wakes the monitor in between.
func TestReadyConnectionsNotStuckBehindABusyGoroutine(t *testing.T) {
	if testing.Short() {
		t.Skip("spins for 600 ms")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("needs bash for its /dev/tcp")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	// The child connects twice, waits, wakes the spinner, then 50 ms later
	// sends the byte the other reader waits for.
	script := fmt.Sprintf(`exec 3<>/dev/tcp/127.0.0.1/%d; exec 4<>/dev/tcp/127.0.0.1/%d; sleep 0.4; printf a >&3; sleep 0.05; printf x >&4; sleep 3`, port, port)
	cmd := exec.Command(bash, "-c", script)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	first, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	second, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	spinner, reader := sock(t, first), sock(t, second)

	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	const spin = 600 * time.Millisecond
	started, served := make(chan time.Time, 1), make(chan time.Time, 1)
	go func() {
		buf := make([]byte, 1)
		if _, err := spinner.Read(buf); err != nil {
			started <- time.Time{}
			return
		}
		start := time.Now()
		started <- start
		for time.Since(start) < spin { // busy, no system call
		}
	}()
	go func() {
		buf := make([]byte, 1)
		reader.Read(buf)
		served <- time.Now()
	}()
	start, at := <-started, <-served
	if start.IsZero() {
		t.Fatal("the spinner's read failed")
	}
	if wait := at.Sub(start); wait > spin/2 {
		t.Fatalf("a connection ready 50 ms into a %v busy spell was served after %v", spin, wait)
	} else {
		t.Logf("served %v after the busy spell began (the byte was sent 50 ms in)", wait)
	}
}

//go:build linux && !race

package rawio

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Built without -race only (sysSendMore is a plain write under it);
// TestRawCallsWithoutRaceDetector runs these in the README's test command.

// segmentsOut is the TCP segments the socket has sent.
func segmentsOut(t *testing.T, c *net.TCPConn) uint32 {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var info *unix.TCPInfo
	var ierr error
	if err := rc.Control(func(fd uintptr) { info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil || ierr != nil {
		t.Fatal(err, ierr)
	}
	return info.Segs_out
}

// A head written after MoreFollows leaves in one segment with the start of
// the sendfile that follows it; written plainly, it is a segment of its
// own.
func TestMoreFollowsJoinsHeadAndSendfile(t *testing.T) {
	head := []byte("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
	body := bytes.Repeat([]byte("b"), 1000)
	path := filepath.Join(t.TempDir(), "body")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, more := range []bool{false, true} {
		client, server := pair(t)
		s := sock(t, server)
		before := segmentsOut(t, server)
		if more {
			s.MoreFollows()
		}
		if _, err := s.Write(head); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := server.ReadFrom(f); err != nil || n != int64(len(body)) {
			t.Fatalf("sendfile: %d, %v", n, err)
		}
		f.Close()
		client.SetReadDeadline(time.Now().Add(5 * time.Second))
		got := make([]byte, len(head)+len(body))
		if _, err := io.ReadFull(client, got); err != nil || !bytes.Equal(got, append(append([]byte{}, head...), body...)) {
			t.Fatalf("more=%v: the peer read %q, %v", more, got, err)
		}
		want := uint32(2)
		if more {
			want = 1
		}
		if segs := segmentsOut(t, server) - before; segs != want {
			t.Errorf("more=%v: head and 1000-byte body left in %d segments, want %d", more, segs, want)
		}
	}
}

// Bytes held by MoreFollows with no send after them reach the peer when
// Push is called; the flag holds for one Write only.
func TestPushSendsHeldBytes(t *testing.T) {
	client, server := pair(t)
	s := sock(t, server)
	s.MoreFollows()
	if _, err := s.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	client.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := client.Read(buf); err == nil {
		t.Fatalf("read %q before any push: MSG_MORE did not hold the bytes", buf[:n])
	}
	if err := s.Push(); err != nil {
		t.Fatal(err)
	}
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(client, buf[:4]); err != nil || string(buf[:4]) != "held" {
		t.Fatalf("after Push the peer read %q, %v", buf[:4], err)
	}
	// The next write is plain: it arrives without a push.
	if _, err := s.Write([]byte("next")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(client, buf[:4]); err != nil || string(buf[:4]) != "next" {
		t.Fatalf("a plain write after the held one: the peer read %q, %v", buf[:4], err)
	}
}

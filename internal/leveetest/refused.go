package leveetest

import (
	"fmt"
	"syscall"
	"testing"
)

// RefusedURL returns "http://127.0.0.1:PORT" for a port that refuses
// connections for the rest of the test: a socket is bound to it and never
// listens, so a connect gets a reset.
//
// A port freed by closing a listener is not enough: tests running in
// parallel bind ports of their own, and one of them may be given the freed
// port and answer in its stead (a test then sees that server's status).
func RefusedURL(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	syscall.CloseOnExec(fd)
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("bind: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("getsockname: %v", err)
	}
	return fmt.Sprintf("http://127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}

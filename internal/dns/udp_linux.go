//go:build linux && (amd64 || arm64)

package dns

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batch is how many datagrams one recvmmsg/sendmmsg call moves at most.
const batch = 16

// maxQuery is the largest UDP query read; a longer one is cut (MSG_TRUNC)
// and dropped: queries are small, and EDNS caps answers, not questions.
const maxQuery = 4096

// mmsghdr is struct mmsghdr from <sys/socket.h> on 64-bit Linux.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

// batchConn holds the buffers of one socket's batched reads and writes.
type batchConn struct {
	in    [batch][maxQuery]byte
	names [batch]unix.RawSockaddrInet6
	iovs  [batch]unix.Iovec
	msgs  [batch]mmsghdr
	oiovs [batch]unix.Iovec
	omsgs [batch]mmsghdr
	outs  [batch][]byte

	// The system call closures are made once: a closure passed to
	// RawConn.Read escapes, and would cost allocations per batch.
	readFn, writeFn func(fd uintptr) bool
	n, sent, todo   int
	err             error
}

func newBatchConn() *batchConn {
	b := &batchConn{}
	for i := range b.msgs {
		b.iovs[i] = unix.Iovec{Base: &b.in[i][0], Len: maxQuery}
		b.msgs[i].hdr.Iov = &b.iovs[i]
		b.msgs[i].hdr.Iovlen = 1
		b.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		b.outs[i] = make([]byte, 0, 65535)
	}
	b.readFn = func(fd uintptr) bool {
		r, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.msgs[0])), batch, unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			b.n = int(r)
		case unix.EAGAIN, unix.EINTR:
			return false
		default:
			b.err = errno
		}
		return true
	}
	b.writeFn = func(fd uintptr) bool {
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.omsgs[b.sent])), uintptr(b.todo-b.sent), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			b.sent += int(r)
		case unix.EAGAIN, unix.EINTR:
			return false
		default:
			b.sent++ // skip the datagram that failed
		}
		return true
	}
	return b
}

// serveUDP reads and answers packets on one socket until it is closed,
// moving up to batch datagrams per system call each way (recvmmsg,
// sendmmsg): under load the system calls, not the answers, are the cost.
func (s *Server) serveUDP(uc *net.UDPConn) {
	rc, err := uc.SyscallConn()
	if err != nil {
		s.serveUDPPlain(uc)
		return
	}
	b := newBatchConn()
	w := newWorker()
	for {
		n, err := b.read(rc)
		if err != nil {
			if errors.Is(err, unix.ENOSYS) {
				s.serveUDPPlain(uc)
			}
			return
		}
		out := 0
		for i := 0; i < n; i++ {
			m := &b.msgs[i]
			if m.hdr.Flags&unix.MSG_TRUNC != 0 {
				continue
			}
			client := sockaddrAddr(&b.names[i])
			w.out = b.outs[i][:0]
			resp := s.respond(w, b.in[i][:m.n], client, false)
			if resp == nil {
				continue
			}
			b.outs[i] = resp[:0]
			o := &b.omsgs[out]
			b.oiovs[out] = unix.Iovec{Base: &resp[0], Len: uint64(len(resp))}
			o.hdr.Iov = &b.oiovs[out]
			o.hdr.Iovlen = 1
			o.hdr.Name = m.hdr.Name
			o.hdr.Namelen = m.hdr.Namelen
			out++
		}
		b.write(rc, out)
	}
}

// read waits for datagrams and receives up to batch of them.
func (b *batchConn) read(rc syscall.RawConn) (int, error) {
	for i := range b.msgs {
		b.msgs[i].hdr.Namelen = uint32(unsafe.Sizeof(b.names[i]))
		b.msgs[i].hdr.Flags = 0
	}
	b.n, b.err = 0, nil
	if err := rc.Read(b.readFn); err != nil {
		return 0, err
	}
	return b.n, b.err
}

// write sends the first n prepared answers; a send that fails (an
// unreachable client) is skipped, as a lost datagram would be.
func (b *batchConn) write(rc syscall.RawConn, n int) {
	b.sent, b.todo = 0, n
	for b.sent < b.todo {
		if err := rc.Write(b.writeFn); err != nil {
			return
		}
	}
}

// sockaddrAddr reads the address out of a sockaddr_in or sockaddr_in6.
func sockaddrAddr(sa *unix.RawSockaddrInet6) netip.Addr {
	raw := (*[28]byte)(unsafe.Pointer(sa))
	switch binary.NativeEndian.Uint16(raw[0:2]) {
	case unix.AF_INET:
		return netip.AddrFrom4([4]byte(raw[4:8]))
	case unix.AF_INET6:
		return netip.AddrFrom16([16]byte(raw[8:24])).Unmap()
	}
	return netip.Addr{}
}

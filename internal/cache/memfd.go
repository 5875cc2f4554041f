package cache

import (
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// MemfdMin is the smallest body the memory tier keeps in a memfd (an
// anonymous in-memory file) instead of the Go heap. A memfd body is
// served with sendfile, which saves the copy from the heap into the
// socket buffer; below this size the per-request open of a file
// description costs more than the copy it saves.
const MemfdMin = 32 << 10

// memBody is a memory-tier body kept in a sealed memfd. It is counted in
// the memory tier's weight like a heap body. Its references are one per
// memory-tier entry holding it (released by the tier's deletion
// listener), one per request serving or pinning it, and one per queued
// disk write; the memfd is closed when the last goes. Everything that
// uses the file holds a reference, so its descriptor number is never
// closed (and reused) under a reader.
type memBody struct {
	f    *os.File
	path string // /proc/self/fd/N: opening it gives a new description at offset 0
	crc  uint32 // CRC-32C of the body, for the disk tier
	size int64
	refs atomic.Int64
}

// memfdCreate is unix.MemfdCreate; tests replace it to make it fail.
var memfdCreate = unix.MemfdCreate

// newMemBody copies body into a new sealed memfd, with one reference
// held by the caller.
func newMemBody(body []byte) (*memBody, error) {
	fd, err := memfdCreate("levee-cache", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "memfd:levee-cache")
	if _, err := f.Write(body); err != nil {
		_ = f.Close()
		return nil, err
	}
	// Sealed: nothing can change the body under a reader. Best effort.
	_, _ = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS,
		unix.F_SEAL_WRITE|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL)
	b := &memBody{f: f, path: "/proc/self/fd/" + strconv.Itoa(fd), crc: crc32.Checksum(body, castagnoli),
		size: int64(len(body))}
	b.refs.Store(1)
	return b, nil
}

// acquire takes a reference unless the memfd is already closed.
func (b *memBody) acquire() bool {
	for {
		n := b.refs.Load()
		if n <= 0 {
			return false
		}
		if b.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release drops a reference, closing the memfd with the last one.
func (b *memBody) release() {
	if b.refs.Add(-1) == 0 {
		_ = b.f.Close()
	}
}

// reader returns a reader of the body that does not move the memfd's
// shared offset (pread). Hold a reference while using it.
func (b *memBody) reader(start, n int64) io.Reader {
	return io.NewSectionReader(b.f, start, n)
}

// toMemfd moves o's body into a memfd when it is at least MemfdMin bytes;
// the caller owns the returned reference (nil when the body stays on the
// heap). A failure keeps the heap body, counted and logged once.
func (s *Store) toMemfd(o *Object) *memBody {
	if o.mb != nil || int64(len(o.Body)) < s.memfdMin || o.Marker || s.memfdOff.Load() {
		return nil
	}
	b, err := newMemBody(o.Body)
	if err == nil {
		// A description of our own must open through /proc, or sendfile
		// would share (and race on) the memfd's offset.
		var f *os.File
		if f, err = os.Open(b.path); err == nil {
			_ = f.Close()
		} else {
			b.release()
			s.memfdOff.Store(true) // no /proc: never try again
		}
	}
	if err != nil {
		s.m.MemfdErrors.Inc()
		if s.memfdWarn.CompareAndSwap(false, true) {
			s.log.Warn("cache: memfd body failed; keeping bodies on the heap (logged once)", "error", err.Error())
		}
		return nil
	}
	o.mb, o.Body = b, nil
	return b
}

// serveMemfd streams n bytes from start of a memfd body. Plain HTTP/1
// gets its own file description and io.Copy from the *os.File, so
// net/http uses sendfile; other connections (TLS, HTTP/2) copy with pread.
func serveMemfd(w http.ResponseWriter, r *http.Request, b *memBody, status int, start, n int64) error {
	if !b.acquire() {
		return errDiskGone
	}
	defer b.release()
	if r.TLS == nil && r.ProtoMajor == 1 {
		if f, err := os.Open(b.path); err == nil {
			defer f.Close()
			if start == 0 || seek(f, start) {
				w.WriteHeader(status)
				_, _ = io.Copy(w, &io.LimitedReader{R: f, N: n})
				return nil
			}
		}
	}
	w.WriteHeader(status)
	_, _ = io.Copy(w, b.reader(start, n))
	return nil
}

func seek(f *os.File, off int64) bool {
	_, err := f.Seek(off, io.SeekStart)
	return err == nil
}

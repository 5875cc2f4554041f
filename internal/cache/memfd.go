package cache

import (
	"errors"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
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
// disk write; the memfd and its idle descriptions are closed when the
// last goes. Everything that
// uses the file holds a reference, so its descriptor number is never
// closed (and reused) under a reader.
type memBody struct {
	f    *os.File
	path string // /proc/self/fd/N: opening it gives a new description at offset 0
	// data maps the memfd read-only (nil when it could not be mapped):
	// plain HTTP/1 writes it to the socket. It is unmapped with the last
	// reference, so only a holder of one may touch it.
	data   []byte
	mapErr error  // why data is nil
	crc    uint32 // CRC-32C of the body, for the disk tier
	size   int64
	refs   atomic.Int64
	// idle are descriptions of the memfd free for the next request (at
	// most maxIdleDesc), so a hit costs one lseek, not open and close.
	mu     sync.Mutex
	idle   []*os.File
	closed bool
}

// maxIdleDesc bounds the idle descriptions kept per memfd body, and
// maxIdleDescs those of the whole process (each is a file descriptor).
const (
	maxIdleDesc  = 4
	maxIdleDescs = 1024
)

// idleDescs counts the idle descriptions of all memfd bodies.
var idleDescs atomic.Int64

// maxMappedBodies bounds the memfd bodies mapped into the process at once.
// Each mapping is an entry in the kernel's table of the process's
// mappings, which holds 65,530 by default (vm.max_map_count) for the
// runtime and everything else too; a body past the bound is served with
// sendfile. mappedBodies counts them.
const maxMappedBodies = 16384

var mappedBodies atomic.Int64

var errMapsFull = errors.New("the table of mapped bodies is full")

// mapMemBody maps b's memfd unless the table of mappings is full.
func (b *memBody) mapMemBody(fd int) {
	if mappedBodies.Add(1) > maxMappedBodies {
		mappedBodies.Add(-1)
		b.mapErr = errMapsFull
		return
	}
	if b.data, b.mapErr = mapBody(fd, b.size); b.mapErr != nil {
		mappedBodies.Add(-1)
	}
}

// desc returns a description of the memfd positioned at start: an idle
// one, or a new one. Hold a reference.
func (b *memBody) desc(start int64) (*os.File, error) {
	b.mu.Lock()
	var f *os.File
	if k := len(b.idle); k > 0 {
		f = b.idle[k-1]
		b.idle = b.idle[:k-1]
		idleDescs.Add(-1)
	}
	b.mu.Unlock()
	if f == nil {
		var err error
		if f, err = os.Open(b.path); err != nil {
			return nil, err
		}
		if start == 0 {
			return f, nil
		}
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// putDesc returns a description for reuse, or closes it.
func (b *memBody) putDesc(f *os.File) {
	b.mu.Lock()
	if !b.closed && len(b.idle) < maxIdleDesc && idleDescs.Load() < maxIdleDescs {
		b.idle = append(b.idle, f)
		idleDescs.Add(1)
		f = nil
	}
	b.mu.Unlock()
	if f != nil {
		_ = f.Close()
	}
}

// newMemBody copies body into a new sealed memfd, with one reference
// held by the caller.
func newMemBody(body []byte) (*memBody, error) {
	fd, err := memfdCreate("levee-cache", memfdFlags)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "memfd:levee-cache")
	if _, err := f.Write(body); err != nil {
		_ = f.Close()
		return nil, err
	}
	seal(fd)
	b := &memBody{f: f, path: "/proc/self/fd/" + strconv.Itoa(fd), crc: crc32.Checksum(body, castagnoli),
		size: int64(len(body))}
	b.mapMemBody(fd)
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
		b.mu.Lock()
		b.closed = true
		idle := b.idle
		b.idle = nil
		idleDescs.Add(-int64(len(idle)))
		b.mu.Unlock()
		for _, f := range idle {
			_ = f.Close()
		}
		if b.data != nil {
			unmapBody(b.data)
			b.data = nil
			mappedBodies.Add(-1)
		}
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
// heap). A failure keeps the heap body, counted and logged once; a
// system without memfds (ENOSYS, or not Linux) is not asked again.
func (s *Store) toMemfd(o *Object) *memBody {
	if o.mb != nil || int64(len(o.Body)) < s.memfdMin || o.Marker || s.memfdOff.Load() {
		return nil
	}
	b, err := newMemBody(o.Body)
	if errors.Is(err, errors.ErrUnsupported) {
		s.memfdOff.Store(true)
	}
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
	if b.mapErr != nil {
		s.m.Overflow.WithLabelValues("memfd_map").Inc()
		if s.mapWarn.CompareAndSwap(false, true) {
			s.log.Warn("cache: a memfd body could not be mapped; such bodies are sent with sendfile (logged once)",
				"error", b.mapErr.Error(), "mapped", mappedBodies.Load())
		}
	}
	o.mb, o.Body = b, nil
	return b
}

// serveMemfd streams n bytes from start of a memfd body. Plain HTTP/1
// takes a file description of its own (an idle one, seeked, or a new one)
// and io.Copies from the *os.File, so net/http uses sendfile; other
// connections (TLS, HTTP/2) copy with pread.
func serveMemfd(w http.ResponseWriter, r *http.Request, b *memBody, status int, start, n int64) error {
	if !b.acquire() {
		return errDiskGone
	}
	defer b.release()
	if r.TLS == nil && r.ProtoMajor == 1 {
		if b.data != nil {
			// Written from the mapping: on loopback and fast links a copy
			// into the socket costs less than sendfile, whose splice
			// looks up and references each 4 KiB page of the memfd in
			// turn (cache README, "memfd bodies"). An io.Writer keeps
			// no part of p after Write returns, and the reference held
			// here keeps the mapping until then.
			w.WriteHeader(status)
			_, _ = w.Write(b.data[start : start+n])
			return nil
		}
		if f, err := b.desc(start); err == nil {
			w.WriteHeader(status)
			_, err := io.Copy(w, &io.LimitedReader{R: f, N: n})
			if err == nil {
				b.putDesc(f)
			} else {
				_ = f.Close()
			}
			return nil
		}
	}
	w.WriteHeader(status)
	_, _ = io.Copy(w, b.reader(start, n))
	return nil
}

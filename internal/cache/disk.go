package cache

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"levee/internal/atomicfile"
)

// Disk entry file layout (little endian):
//
//	[0:8]   magic "LEVEEC1\n"
//	[8:12]  meta length      [12:16] meta CRC-32C
//	[16:24] body length      [24:28] body CRC-32C   [28:32] zero
//	meta (JSON of diskMeta), then the body.
//
// A file whose size is not 32+meta+body, or whose CRCs do not match, is
// deleted and never served. Files are written with atomicfile (temporary
// name, fsync, rename, directory fsync), so a crash leaves either the old
// entry or the new one; temporaries left by a crash are deleted at start.
const (
	diskMagic   = "LEVEEC1\n"
	diskHdrLen  = 32
	maxMetaLen  = 1 << 20
	diskQueue   = 256
	evictSample = 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// diskEntry is one indexed file. It holds no pointers, so two million of
// them cost the GC nothing to mark; the URL and tags that purges match
// live in the shared arena.
type diskEntry struct {
	size     int64  // file bytes
	off, n   uint32 // URL and tags in the arena: url \x00 tag \x00 tag...
	lastUse  uint32 // unix seconds, for sampled-LRU eviction
	verified bool   // body checksum checked since start
}

// disk is the disk tier: content-addressed files named by the key hash,
// an in-memory index rebuilt at start, and one writer goroutine fed by a
// bounded queue.
type disk struct {
	dir string
	max int64
	m   *Metrics
	log *slog.Logger

	mu      sync.Mutex
	idx     map[uint64]diskEntry
	arena   []byte
	garbage int
	used    int64

	queue   chan diskJob
	done    chan struct{}
	qmu     sync.RWMutex // guards sends on queue against close
	closed  bool         // guarded by qmu
	started bool         // guarded by qmu
	// pending counts queued and in-progress writes; while any, removals
	// leave a tombstone (guarded by mu) so a write queued before a purge
	// does not bring the purged entry back. Cleared when pending is 0.
	pending atomic.Int64
	tombs   map[uint64]uint64 // hash -> removal sequence
	seq     uint64            // guarded by mu
	// fresher holds revalidated objects whose rewrite is queued (guarded
	// by mu, at most one per hash, so bounded by the queue): until the
	// rewrite lands, get answers with their headers and freshness over the
	// body still in the file, instead of the stale copy on disk, which
	// would send every request in that window back to the origin.
	fresher  map[uint64]diskJob
	warnOnce atomic.Bool
}

type diskJob struct {
	h   uint64
	o   *Object
	seq uint64
}

// diskMeta is the stored form of an Object without its body.
type diskMeta struct {
	Key, URL      string
	Tags          []string `json:",omitempty"`
	Status        int
	Header        http.Header
	RespTime      int64
	InitAge       int64
	Fresh         int64
	SWR, SIE      int64
	Grace         int64
	NoStale       bool `json:",omitempty"`
	NoCache       bool `json:",omitempty"`
	AuthOK        bool `json:",omitempty"`
	ETag, LastMod string
	VaryNames     []string `json:",omitempty"`
	Nonce         uint64   `json:",omitempty"`
	Marker        bool     `json:",omitempty"`
	bodyLen       int64
}

// openDisk loads the index of dir (if it exists) without writing
// anything or starting anything: staging a config (and levee validate)
// has no side effects. start makes the directory and starts the writer.
func openDisk(dir string, max int64, m *Metrics, log *slog.Logger) (*disk, error) {
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		return nil, fmt.Errorf("cache.disk.path: %s is not a directory", dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("cache.disk.path: %w", err)
	}
	d := &disk{dir: dir, max: max, m: m, log: log, idx: map[uint64]diskEntry{},
		queue: make(chan diskJob, diskQueue), done: make(chan struct{})}
	d.scan()
	return d, nil
}

// start creates the directory and starts the writer, once.
func (d *disk) start(goFn func(string, func())) {
	d.qmu.Lock()
	defer d.qmu.Unlock()
	if d.started || d.closed {
		return
	}
	d.started = true
	if err := os.MkdirAll(d.dir, 0o750); err != nil {
		d.ioError("mkdir", err)
	}
	goFn("cache-disk-writer", d.writer)
}

func (d *disk) path(h uint64) string {
	name := fmt.Sprintf("%016x", h)
	return filepath.Join(d.dir, name[:2], name)
}

// scan rebuilds the index from the files, dropping temporaries and any
// entry that is truncated or whose metadata fails its checksum.
func (d *disk) scan() {
	_ = filepath.WalkDir(d.dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil
		}
		name := e.Name()
		if strings.HasPrefix(name, atomicfile.TempPrefix) {
			_ = os.Remove(p)
			return nil
		}
		h, perr := strconv.ParseUint(name, 16, 64)
		if perr != nil || len(name) != 16 {
			return nil // not ours: left alone
		}
		f, err := os.Open(p)
		if err != nil {
			d.ioError("scan", err)
			return nil
		}
		meta, size, err := readMeta(f)
		f.Close()
		if err != nil || hashKey(meta.Key) != h {
			d.corrupt(p, err)
			return nil
		}
		d.index(h, meta, size, false)
		return nil
	})
	d.evict(0)
}

// readMeta reads and checks an entry's header and metadata; the body's
// length is checked against the file size, its checksum is not.
func readMeta(f *os.File) (*diskMeta, int64, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	return readMetaSized(f, st.Size())
}

func readMetaSized(f *os.File, fileSize int64) (*diskMeta, int64, error) {
	var hdr [diskHdrLen]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return nil, 0, fmt.Errorf("short header: %w", err)
	}
	if string(hdr[:8]) != diskMagic {
		return nil, 0, errors.New("bad magic")
	}
	metaLen := int64(binary.LittleEndian.Uint32(hdr[8:12]))
	bodyLen := int64(binary.LittleEndian.Uint64(hdr[16:24]))
	if metaLen > maxMetaLen || bodyLen < 0 || fileSize != diskHdrLen+metaLen+bodyLen {
		return nil, 0, fmt.Errorf("size %d does not match header (meta %d, body %d)", fileSize, metaLen, bodyLen)
	}
	mb := make([]byte, metaLen)
	if _, err := io.ReadFull(f, mb); err != nil {
		return nil, 0, err
	}
	if crc32.Checksum(mb, castagnoli) != binary.LittleEndian.Uint32(hdr[12:16]) {
		return nil, 0, errors.New("metadata checksum mismatch")
	}
	var meta diskMeta
	if err := json.Unmarshal(mb, &meta); err != nil {
		return nil, 0, err
	}
	meta.bodyLen = bodyLen
	return &meta, fileSize, nil
}

// bodyCRC returns the body checksum stored in an entry's header.
func bodyCRC(f *os.File) (uint32, int64, error) {
	var hdr [diskHdrLen]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return 0, 0, err
	}
	return binary.LittleEndian.Uint32(hdr[24:28]), diskHdrLen + int64(binary.LittleEndian.Uint32(hdr[8:12])), nil
}

func (d *disk) index(h uint64, meta *diskMeta, size int64, verified bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.indexLocked(h, meta, size, verified)
}

func (d *disk) indexLocked(h uint64, meta *diskMeta, size int64, verified bool) {
	if old, ok := d.idx[h]; ok {
		d.used -= old.size
		d.garbage += int(old.n)
	}
	off := len(d.arena)
	d.arena = append(d.arena, meta.URL...)
	for _, t := range meta.Tags {
		d.arena = append(d.arena, 0)
		d.arena = append(d.arena, t...)
	}
	d.idx[h] = diskEntry{size: size, off: uint32(off), n: uint32(len(d.arena) - off),
		lastUse: uint32(time.Now().Unix()), verified: verified}
	d.used += size
	d.compact()
}

// compact rebuilds the arena when over half of it is garbage.
func (d *disk) compact() {
	if d.garbage < 1<<20 || d.garbage < len(d.arena)/2 {
		return
	}
	next := make([]byte, 0, len(d.arena)-d.garbage)
	for h, e := range d.idx {
		off := len(next)
		next = append(next, d.arena[e.off:e.off+e.n]...)
		e.off = uint32(off)
		d.idx[h] = e
	}
	d.arena, d.garbage = next, 0
}

// get loads the object stored under h. Bodies up to promoteMax are read
// into memory; their checksum is checked on every load. Larger bodies are
// checked once per process and then streamed from the file.
func (d *disk) get(h uint64, promoteMax int64) *Object {
	d.mu.Lock()
	e, ok := d.idx[h]
	if ok {
		e.lastUse = uint32(time.Now().Unix())
		d.idx[h] = e
	}
	d.mu.Unlock()
	if !ok {
		return nil
	}
	p := d.path(h)
	f, err := os.Open(p)
	if err != nil {
		d.ioError("open", err)
		d.drop(h)
		return nil
	}
	defer f.Close()
	meta, _, err := readMeta(f)
	if err != nil {
		d.corrupt(p, err)
		d.drop(h)
		return nil
	}
	o := meta.object()
	want, _, err := bodyCRC(f)
	if err != nil {
		d.corrupt(p, err)
		d.drop(h)
		return nil
	}
	if o.Size <= promoteMax {
		body := make([]byte, o.Size)
		if _, err := io.ReadFull(f, body); err != nil || crc32.Checksum(body, castagnoli) != want {
			d.corrupt(p, err)
			d.drop(h)
			return nil
		}
		o.Body = body
	} else if !e.verified {
		c := crc32.New(castagnoli)
		if _, err := io.Copy(c, f); err != nil || c.Sum32() != want {
			d.corrupt(p, err)
			d.drop(h)
			return nil
		}
		d.mu.Lock()
		if e, ok := d.idx[h]; ok {
			e.verified = true
			d.idx[h] = e
		}
		d.mu.Unlock()
	}
	return d.withPending(h, o)
}

// openBody opens h's file positioned at its body, checking its size, for
// streaming with sendfile.
func (d *disk) openBody(h uint64, size int64) (*os.File, error) {
	f, err := os.Open(d.path(h))
	if err != nil {
		return nil, err
	}
	_, start, err := bodyCRC(f)
	st, serr := f.Stat()
	if err != nil || serr != nil || st.Size() != start+size {
		f.Close()
		d.drop(h)
		return nil, errors.New("disk entry changed")
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// put queues o for writing; a full queue skips the disk tier (counted).
// An object without a body in memory (revalidated, too large for memory)
// is rewritten with the body of its current file.
func (d *disk) put(h uint64, o *Object) {
	d.mu.Lock()
	d.seq++
	seq := d.seq
	if o.bodyInMemory() || o.Marker {
		delete(d.fresher, h) // a whole new copy supersedes a pending rewrite
	} else {
		if d.fresher == nil {
			d.fresher = map[uint64]diskJob{}
		}
		d.fresher[h] = diskJob{h: h, o: o, seq: seq}
	}
	d.mu.Unlock()
	d.qmu.RLock()
	defer d.qmu.RUnlock()
	if d.closed {
		return // shutting down: a late fill is not written
	}
	if o.mb != nil && !o.mb.acquire() { // released after the write
		return // its memfd is gone: the object was evicted and replaced
	}
	d.pending.Add(1)
	select {
	case d.queue <- diskJob{h: h, o: o, seq: seq}:
	default:
		d.pending.Add(-1)
		d.m.Overflow.WithLabelValues("disk_queue").Inc()
		d.landed(h, seq)
		if o.mb != nil {
			o.mb.release()
		}
	}
}

func (d *disk) writer() {
	defer close(d.done)
	for j := range d.queue {
		d.write(j)
		d.landed(j.h, j.seq)
		if j.o.mb != nil {
			j.o.mb.release()
		}
		if d.pending.Add(-1) == 0 {
			d.mu.Lock()
			if d.pending.Load() == 0 {
				d.tombs = nil
			}
			d.mu.Unlock()
		}
	}
}

// landed forgets the pending rewrite of h queued as seq, once written or
// dropped.
func (d *disk) landed(h, seq uint64) {
	d.mu.Lock()
	if f, ok := d.fresher[h]; ok && f.seq == seq {
		delete(d.fresher, h)
	}
	d.mu.Unlock()
}

// withPending returns o with the headers and freshness of a pending
// rewrite of h, if one is queued for the same key.
func (d *disk) withPending(h uint64, o *Object) *Object {
	d.mu.Lock()
	f, ok := d.fresher[h]
	d.mu.Unlock()
	if !ok || f.o.Key != o.Key {
		return o
	}
	p := f.o
	o.URL, o.Tags, o.Status, o.Header, o.fields = p.URL, p.Tags, p.Status, p.Header, p.fields
	o.RespTime, o.InitAge, o.Fresh, o.SWR, o.SIE, o.Grace = p.RespTime, p.InitAge, p.Fresh, p.SWR, p.SIE, p.Grace
	o.NoStale, o.NoCache, o.AuthOK, o.ETag, o.LastMod = p.NoStale, p.NoCache, p.AuthOK, p.ETag, p.LastMod
	o.invalidAt.Store(p.invalidAt.Load())
	return o
}

// close drains the queue and stops the writer; later puts are dropped.
func (d *disk) close() {
	d.qmu.Lock()
	if !d.closed {
		d.closed = true
		close(d.queue)
	}
	started := d.started
	d.qmu.Unlock()
	if started {
		<-d.done
	}
}

func (d *disk) write(j diskJob) {
	h, o := j.h, j.o
	meta := metaOf(o)
	mb, err := json.Marshal(meta)
	if err != nil || len(mb) > maxMetaLen {
		return
	}
	body, crc, closeBody, ok := d.bodySource(h, o)
	if !ok {
		return
	}
	defer closeBody()
	size := int64(diskHdrLen+len(mb)) + o.Size
	if size > d.max/2 {
		return
	}
	d.evict(size)
	var hdr [diskHdrLen]byte
	copy(hdr[:8], diskMagic)
	binary.LittleEndian.PutUint32(hdr[8:12], uint32(len(mb)))
	binary.LittleEndian.PutUint32(hdr[12:16], crc32.Checksum(mb, castagnoli))
	binary.LittleEndian.PutUint64(hdr[16:24], uint64(o.Size))
	binary.LittleEndian.PutUint32(hdr[24:28], crc)
	final := d.path(h)
	if err := os.MkdirAll(filepath.Dir(final), 0o750); err != nil {
		d.ioError("mkdir", err)
		return
	}
	f, err := atomicfile.Create(final, 0o600)
	if err != nil {
		d.ioError("create", err)
		return
	}
	defer f.Cleanup()
	_, err = f.Write(hdr[:])
	if err == nil {
		_, err = f.Write(mb)
	}
	if err == nil {
		var n int64
		if n, err = io.Copy(f, body); err == nil && n != o.Size {
			err = io.ErrUnexpectedEOF
		}
	}
	if err == nil {
		err = f.Sync() // outside mu: lookups take it on the request path
	}
	if err != nil {
		d.ioError("write", err)
		return
	}
	// Rename and index under mu, after checking no removal of h came
	// after this write was queued.
	d.mu.Lock()
	if seq, dead := d.tombs[h]; dead && seq > j.seq {
		d.mu.Unlock()
		return
	}
	if err := f.Rename(); err != nil {
		d.mu.Unlock()
		d.ioError("rename", err)
		return
	}
	d.indexLocked(h, meta, size, o.bodyInMemory())
	d.mu.Unlock()
	if err := f.SyncDir(); err != nil {
		d.ioError("sync", err)
	}
}

// bodySource returns the body to write for o: its bytes, or the body of
// h's current file (whose checksum is kept) when o has none in memory.
func (d *disk) bodySource(h uint64, o *Object) (io.Reader, uint32, func(), bool) {
	if o.mb != nil { // referenced since put
		return o.mb.reader(0, o.Size), o.mb.crc, func() {}, true
	}
	if o.Body != nil || o.Marker {
		return bytes.NewReader(o.Body), crc32.Checksum(o.Body, castagnoli), func() {}, true
	}
	f, err := os.Open(d.path(h))
	if err != nil {
		return nil, 0, nil, false
	}
	crc, start, err := bodyCRC(f)
	st, serr := f.Stat()
	if err != nil || serr != nil || st.Size() != start+o.Size {
		f.Close()
		return nil, 0, nil, false
	}
	return io.NewSectionReader(f, start, o.Size), crc, func() { f.Close() }, true
}

// evict removes sampled least-recently-used entries until need more bytes
// fit under the bound.
func (d *disk) evict(need int64) {
	for i := 0; i < 1<<16; i++ {
		d.mu.Lock()
		if d.used+need <= d.max || len(d.idx) == 0 {
			d.mu.Unlock()
			return
		}
		var victim uint64
		oldest := uint32(1<<32 - 1)
		n := 0
		for h, e := range d.idx {
			if e.lastUse < oldest {
				victim, oldest = h, e.lastUse
			}
			if n++; n == evictSample {
				break
			}
		}
		d.dropLocked(victim)
		d.mu.Unlock()
		d.m.Evictions.WithLabelValues("disk").Inc()
	}
}

func (d *disk) remove(h uint64) { d.drop(h) }

func (d *disk) drop(h uint64) {
	d.mu.Lock()
	d.dropLocked(h)
	d.mu.Unlock()
}

func (d *disk) dropLocked(h uint64) {
	delete(d.fresher, h)
	if d.pending.Load() > 0 {
		if d.tombs == nil {
			d.tombs = map[uint64]uint64{}
		}
		d.seq++
		d.tombs[h] = d.seq
	}
	e, ok := d.idx[h]
	if !ok {
		return
	}
	delete(d.idx, h)
	d.used -= e.size
	d.garbage += int(e.n)
	if err := os.Remove(d.path(h)); err != nil && !errors.Is(err, os.ErrNotExist) {
		d.ioError("remove", err)
	}
}

func (d *disk) stats() (int, int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.idx), d.used
}

// each calls fn with every entry's URL and tags; fn must not call d.
func (d *disk) each(fn func(h uint64, url string, tags []string)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for h, e := range d.idx {
		parts := strings.Split(string(d.arena[e.off:e.off+e.n]), "\x00")
		fn(h, parts[0], parts[1:])
	}
}

func (d *disk) corrupt(p string, err error) {
	d.m.Corrupt.Inc()
	d.log.Warn("cache: dropping corrupt disk entry", "file", p, "error", fmt.Sprint(err))
	_ = os.Remove(p)
}

// ioError counts an I/O error and logs the first one: the disk tier is
// bypassed for that operation, never the request.
func (d *disk) ioError(op string, err error) {
	d.m.DiskErrors.WithLabelValues(op).Inc()
	if d.warnOnce.CompareAndSwap(false, true) {
		d.log.Error("cache: disk tier error; bypassing the disk for such operations (logged once)", "op", op, "error", err.Error())
	}
}

func metaOf(o *Object) *diskMeta {
	return &diskMeta{Key: o.Key, URL: o.URL, Tags: o.Tags, Status: o.Status, Header: o.header(),
		RespTime: o.RespTime, InitAge: o.InitAge, Fresh: o.Fresh, SWR: o.SWR, SIE: o.SIE, Grace: o.Grace,
		NoStale: o.NoStale, NoCache: o.NoCache, AuthOK: o.AuthOK, ETag: o.ETag, LastMod: o.LastMod,
		VaryNames: o.VaryNames, Nonce: o.Nonce, Marker: o.Marker}
}

func (m *diskMeta) object() *Object {
	o := &Object{Key: m.Key, URL: m.URL, Tags: m.Tags, Status: m.Status, Header: m.Header,
		RespTime: m.RespTime, InitAge: m.InitAge, Fresh: m.Fresh, SWR: m.SWR, SIE: m.SIE, Grace: m.Grace,
		NoStale: m.NoStale, NoCache: m.NoCache, AuthOK: m.AuthOK, ETag: m.ETag, LastMod: m.LastMod,
		VaryNames: m.VaryNames, Nonce: m.Nonce, Marker: m.Marker}
	if o.Header == nil {
		o.Header = http.Header{}
	}
	o.Size = m.bodyLen
	return o
}

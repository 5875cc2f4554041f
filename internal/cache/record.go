package cache

import (
	"encoding/binary"
	"errors"
)

// The memory index (memindex.go) keeps each object as a record: its
// soft-purge time (8 bytes, first, so a purge rewrites it in place), then
// its plain fields, full key, URL, tags, packed header and a heap body, in
// one byte string with varint lengths. A body in a memfd, or too large for
// a slab, is not in the record: the record says so (recSideBody) and the
// tier keeps it beside the index (leveetier.go).

var errRecordCorrupt = errors.New("cache: memory record does not decode")

// recInvalidAt is the length of the record's leading soft-purge time.
const recInvalidAt = 8

const (
	recNoStale = 1 << iota
	recNoCache
	recAuthOK
	recMarker
	recHitForMiss
	recHasBody
	recSideBody
)

// appendRecord encodes packed object o onto dst, with its heap body
// unless sideBody (the body is kept beside the record).
func appendRecord(dst []byte, o *Object, sideBody bool) []byte {
	o.pack()
	dst = binary.LittleEndian.AppendUint64(dst, uint64(o.invalidAt.Load()))
	str := func(s string) { dst = binary.AppendUvarint(dst, uint64(len(s))); dst = append(dst, s...) }
	num := func(v int64) { dst = binary.AppendVarint(dst, v) }
	strs := func(ss []string) {
		dst = binary.AppendUvarint(dst, uint64(len(ss)))
		for _, s := range ss {
			str(s)
		}
	}
	var flags int64
	for _, f := range [...]struct {
		on  bool
		bit int64
	}{{o.NoStale, recNoStale}, {o.NoCache, recNoCache}, {o.AuthOK, recAuthOK}, {o.Marker, recMarker},
		{o.HitForMiss, recHitForMiss}, {o.Body != nil && !sideBody, recHasBody}, {sideBody, recSideBody}} {
		if f.on {
			flags |= f.bit
		}
	}
	num(flags)
	str(o.Key)
	str(o.URL)
	strs(o.Tags)
	num(int64(o.Status))
	for _, v := range []int64{o.Size, o.RespTime, o.InitAge, o.Fresh, o.SWR, o.SIE, o.Grace, int64(o.Nonce), o.Until} {
		num(v)
	}
	str(o.ETag)
	str(o.LastMod)
	strs(o.VaryNames)
	dst = binary.AppendUvarint(dst, uint64(len(o.fields)))
	for _, f := range o.fields {
		str(f.name)
		strs(f.vals)
	}
	if sideBody {
		str("")
	} else {
		str(string(o.Body))
	}
	return dst
}

// setRecordInvalidAt rewrites a record's soft-purge time in place.
func setRecordInvalidAt(rec []byte, at int64) {
	binary.LittleEndian.PutUint64(rec[:recInvalidAt], uint64(at))
}

// recordReader decodes a record; every string is a substring of one copy
// of the record, so a decode costs a few allocations whatever the fields.
type recordReader struct {
	s   string
	err error
}

func (r *recordReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.next())
	return took(r, v, n)
}

func (r *recordReader) varint() int64 {
	v, n := binary.Varint(r.next())
	return took(r, v, n)
}

// next is what a varint may occupy at the read position.
func (r *recordReader) next() []byte {
	return []byte(r.s[:min(len(r.s), binary.MaxVarintLen64)])
}

// took moves past a varint of n bytes (n <= 0: none could be read, and
// the record is corrupt) and returns v, or zero once corrupt.
func took[T uint64 | int64](r *recordReader, v T, n int) T {
	if n <= 0 {
		r.err, r.s = errRecordCorrupt, ""
		return 0
	}
	r.s = r.s[n:]
	return v
}

func (r *recordReader) str() string {
	n := r.uvarint()
	if n > uint64(len(r.s)) {
		r.err, r.s = errRecordCorrupt, ""
		return ""
	}
	s := r.s[:n]
	r.s = r.s[n:]
	return s
}

func (r *recordReader) strs() []string {
	n := r.uvarint()
	if n == 0 || n > uint64(len(r.s)) {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = r.str()
	}
	return ss
}

// decodeRecord rebuilds a packed Object from a record. sideBody reports
// that its body is kept beside the record.
func decodeRecord(rec []byte) (o *Object, sideBody bool, err error) {
	return decodeRecordString(string(rec))
}

// decodeRecordString is decodeRecord of a record already copied to a
// string (every string of the Object is a substring of it).
func decodeRecordString(rec string) (o *Object, sideBody bool, err error) {
	o = &Object{}
	r, flags := decodeHead(rec, o)
	o.Status = int(r.varint())
	for _, p := range []*int64{&o.Size, &o.RespTime, &o.InitAge, &o.Fresh, &o.SWR, &o.SIE, &o.Grace} {
		*p = r.varint()
	}
	o.Nonce, o.Until = uint64(r.varint()), r.varint()
	o.ETag, o.LastMod, o.VaryNames = r.str(), r.str(), r.strs()
	if n := r.uvarint(); n > 0 && n <= uint64(len(r.s)) {
		o.fields = make([]field, n)
		for i := range o.fields {
			o.fields[i] = field{name: r.str(), vals: r.strs()}
		}
	} else {
		o.fields = []field{}
	}
	body := r.str()
	if flags&recHasBody != 0 {
		o.Body = []byte(body)
	}
	if r.err != nil || len(r.s) != 0 {
		return nil, false, errRecordCorrupt
	}
	return o, flags&recSideBody != 0, nil
}

// decodeHead reads a record's soft-purge time, flags, key, URL and tags
// into o (what a purge matches on), and returns the reader past them.
func decodeHead(rec string, o *Object) (*recordReader, int64) {
	if len(rec) < recInvalidAt {
		return &recordReader{err: errRecordCorrupt}, 0
	}
	var at [recInvalidAt]byte
	copy(at[:], rec)
	o.invalidAt.Store(int64(binary.LittleEndian.Uint64(at[:])))
	r := &recordReader{s: rec[recInvalidAt:]}
	flags := r.varint()
	o.NoStale, o.NoCache, o.AuthOK = flags&recNoStale != 0, flags&recNoCache != 0, flags&recAuthOK != 0
	o.Marker, o.HitForMiss = flags&recMarker != 0, flags&recHitForMiss != 0
	o.Key, o.URL, o.Tags = r.str(), r.str(), r.strs()
	return r, flags
}

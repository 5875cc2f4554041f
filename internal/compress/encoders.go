package compress

import (
	"io"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Levels used on the fly: fast enough to stream at line rate on one core
// (see BenchmarkEncode), and most of the ratio of the higher levels on
// text.
const (
	gzipLevel   = 5
	brotliLevel = 3
	// zstdWindow keeps decoder memory within what RFC 9659 asks of
	// HTTP zstd (8MiB at most) and the encoder's memory small.
	zstdWindow = 1 << 20
)

// encoder is a pooled streaming compressor.
type encoder interface {
	io.WriteCloser
	Flush() error
	Reset(w io.Writer)
}

// zstdEncoder adapts *zstd.Encoder, whose Reset has the same shape.
type zstdEncoder struct{ *zstd.Encoder }

var pools = map[string]*sync.Pool{
	Gzip: {New: func() any {
		w, _ := gzip.NewWriterLevel(nil, gzipLevel) // the level is a valid constant
		return w
	}},
	Brotli: {New: func() any { return brotli.NewWriterLevel(nil, brotliLevel) }},
	Zstd: {New: func() any {
		w, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(zstdWindow), zstd.WithLowerEncoderMem(true))
		if err != nil {
			return nil
		}
		return zstdEncoder{w}
	}},
}

// getEncoder returns a pooled encoder for coding writing to w, or nil if
// none could be made.
func getEncoder(coding string, w io.Writer) encoder {
	p := pools[coding]
	if p == nil {
		return nil
	}
	e, _ := p.Get().(encoder)
	if e == nil {
		return nil
	}
	e.Reset(w)
	return e
}

// putEncoder returns a closed encoder to its pool, detached from its
// writer so the pool does not keep a connection alive.
func putEncoder(coding string, e encoder) {
	e.Reset(io.Discard)
	pools[coding].Put(e)
}

// Levels for the copies the cache stores: made once per object in the
// background, so they trade CPU for ratio (see BenchmarkEncodeStored).
const (
	storedGzipLevel   = 7
	storedBrotliLevel = 5
)

// storedEncoder returns a fresh encoder at the stored levels (not pooled:
// it runs once per stored object, not per response).
func storedEncoder(coding string, w io.Writer) (io.WriteCloser, error) {
	switch coding {
	case Gzip:
		return gzip.NewWriterLevel(w, storedGzipLevel)
	case Brotli:
		return brotli.NewWriterLevel(w, storedBrotliLevel), nil
	case Zstd:
		return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedBetterCompression),
			zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(zstdWindow))
	}
	return nil, errNoEncoder
}

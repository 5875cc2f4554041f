package compress

import (
	"bytes"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"
)

// benchText is 64KiB of HTML-like text, the size of a typical page.
func benchText() []byte {
	words := []string{"levee ", "edge ", "cache ", "origin ", "<div class=\"x\">", "</div>\n", "{\"k\": 12}, "}
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	for b.Len() < 64<<10 {
		b.WriteString(words[r.IntN(len(words))])
		b.WriteString(strconv.Itoa(r.IntN(1000)))
	}
	return b.Bytes()[:64<<10]
}

// BenchmarkEncode is the CPU cost of on-the-fly compression at the levels
// levee uses: bytes/s of input per core, and the ratio achieved.
//
//	go test -run - -bench Encode -benchtime 2s ./internal/compress
func BenchmarkEncode(b *testing.B) {
	in := benchText()
	for _, coding := range DefaultEncodings {
		b.Run(coding, func(b *testing.B) {
			var out countingDiscard
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				e := getEncoder(coding, &out)
				_, _ = e.Write(in)
				_ = e.Close()
				putEncoder(coding, e)
			}
			b.ReportMetric(float64(len(in))*float64(b.N)/float64(out.n), "ratio")
		})
	}
}

type countingDiscard struct{ n int64 }

func (c *countingDiscard) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return io.Discard.Write(p)
}

// BenchmarkEncodeStored is the CPU cost of the levels used for the copies
// the cache stores (made once per object, in the background).
//
//	go test -run - -bench EncodeStored ./internal/compress
func BenchmarkEncodeStored(b *testing.B) {
	in := benchText()
	for _, coding := range DefaultEncodings {
		b.Run(coding, func(b *testing.B) {
			var out countingDiscard
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				e, err := storedEncoder(coding, &out)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = e.Write(in)
				_ = e.Close()
			}
			b.ReportMetric(float64(len(in))*float64(b.N)/float64(out.n), "ratio")
		})
	}
}

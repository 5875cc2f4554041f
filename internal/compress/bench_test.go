package compress

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"
)

// benchText is 64KiB of HTML-like text, the size of a typical page.
func benchText() []byte { return benchHTML(64 << 10) }

// benchHTML is size bytes of HTML-like text.
func benchHTML(size int) []byte {
	words := []string{"levee ", "edge ", "cache ", "origin ", "<div class=\"x\">", "</div>\n", "{\"k\": 12}, "}
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	for b.Len() < size {
		b.WriteString(words[r.IntN(len(words))])
		b.WriteString(strconv.Itoa(r.IntN(1000)))
	}
	return b.Bytes()[:size]
}

// benchJSON is size bytes of an API's JSON: an array of records with
// repeated keys and varied values.
func benchJSON(size int) []byte {
	r := rand.New(rand.NewPCG(3, 4))
	names := []string{"edge", "cache", "origin", "shield", "waf", "dns"}
	var b bytes.Buffer
	b.WriteString("[")
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, `{"id":%d,"name":"%s-%d","healthy":%t,"latency_ms":%.3f,"tags":["%s","%s"]},`,
			i, names[r.IntN(len(names))], r.IntN(10000), r.IntN(2) == 0, r.Float64()*100,
			names[r.IntN(len(names))], names[r.IntN(len(names))])
	}
	return b.Bytes()[:size]
}

// BenchmarkEncode100K is the CPU cost of on-the-fly compression at the
// levels levee uses on a 100KiB HTML page and a 100KiB JSON answer (issue
// 16): MB/s of input per core, ns/op per body, and the ratio.
//
//	go test -run - -bench Encode100K -count 6 ./internal/compress
func BenchmarkEncode100K(b *testing.B) {
	for _, body := range []struct {
		name string
		in   []byte
	}{{"html", benchHTML(100 << 10)}, {"json", benchJSON(100 << 10)}} {
		for _, coding := range DefaultEncodings {
			b.Run(body.name+"/"+coding, func(b *testing.B) {
				var out countingDiscard
				b.SetBytes(int64(len(body.in)))
				b.ReportAllocs()
				for b.Loop() {
					e := getEncoder(coding, &out)
					_, _ = e.Write(body.in)
					_ = e.Close()
					putEncoder(coding, e)
				}
				b.ReportMetric(float64(len(body.in))*float64(b.N)/float64(out.n), "ratio")
			})
		}
	}
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

package bots

import (
	"bytes"
	"fmt"
	"strings"
)

// exampleH2 is one feature of each HTTP/2 kind for Example.
var exampleH2 = []string{
	"example-h2-chrome," + SigH2 + ",1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p,5",
	"example-h2-chrome-settings," + SigH2Settings + ",1:65536;2:0;4:6291456;6:262144,3",
}

// Example returns a valid feature file (CSV) of n features: the shipped
// features first, one of each HTTP/2 kind, then synthetic ones
// (User-Agent words and documentation prefixes) to make up the count. n
// is 0 to HardMaxFeatures.
func Example(n int) ([]byte, error) {
	if n < 0 || n > HardMaxFeatures {
		return nil, fmt.Errorf("--example wants 0 to %d features, got %d", HardMaxFeatures, n)
	}
	var rows []string
	for _, line := range strings.Split(string(DefaultFeatures), "\n") {
		if line == "" || line[0] == '#' || line == csvHeader {
			continue
		}
		rows = append(rows, line)
	}
	if n < len(rows) {
		rows = rows[:n]
	}
	// The HTTP/2 kinds, matched against pipeline.Hello.H2: the whole
	// fingerprint (its pseudo-header order keeps its commas in CSV: name,
	// signal and weight never have any) and its SETTINGS part alone. The
	// values are the widely published desktop Chrome fingerprint; a real
	// file takes them from the site's own traffic.
	for _, r := range exampleH2 {
		if len(rows) < n {
			rows = append(rows, r)
		}
	}
	for i := len(rows); i < n; i++ {
		if i%2 == 0 {
			rows = append(rows, fmt.Sprintf("example-ua-%d,ua_token,example-bot-%d,-%d", i, i, 10+i%30))
		} else {
			// 198.18.0.0/15 is set aside for benchmarks (RFC 2544).
			rows = append(rows, fmt.Sprintf("example-prefix-%d,client_prefix,198.%d.%d.0/24,-%d", i, 18+(i>>8)%2, i&0xff, 5+i%20))
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s%d\n%s\n", csvMagic, SchemaVersion, csvHeader)
	for _, r := range rows {
		b.WriteString(r)
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "%s%d\n", csvEnd, len(rows))
	return b.Bytes(), nil
}

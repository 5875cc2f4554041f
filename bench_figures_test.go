package levee_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	// A measured figure: a rate, a time per operation or a ratio to a peer.
	benchFigure = regexp.MustCompile(`(?i)\d[\d,.]*\s*(req/s|requests/s|qps|ns/op|ns per)|vs nginx|\d(\.\d+)?x (nginx|knot|nsd|coredns)|req/s \|`)
	// The command that produced it.
	benchCommand = regexp.MustCompile("shared/bench/(dns/|tls/)?run|go test |wrk |bench/go-bench\\.sh|bench/dyn-split\\.sh|bench/compress-side-by-side\\.sh|levee-h3load")
	benchPeer    = regexp.MustCompile(`(?i)\b(nginx|varnish|haproxy|caddy|knot|nsd|coredns)\b`)
	// A peer's version, or the honest absence of one.
	peerVersion = regexp.MustCompile(`\d+\.\d+\.\d+|versions? not recorded`)
)

// TestREADMEFiguresNameTheirCommand: every section of a README or doc
// that quotes a benchmark figure shows the command that produced it, and,
// when it compares with another server, that server's version (or says
// it was not recorded).
func TestREADMEFiguresNameTheirCommand(t *testing.T) {
	files, _ := filepath.Glob("internal/*/README.md")
	docs, _ := filepath.Glob("docs/*.md")
	files = append(append([]string{"README.md"}, files...), docs...)
	checked := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range markdownSections(string(src)) {
			fig := benchFigure.FindString(s.text)
			if fig == "" {
				continue
			}
			checked++
			if !benchCommand.MatchString(s.text) {
				t.Errorf("%s:%d: section quotes %q without the command that produced it", f, s.line, fig)
			}
			if benchPeer.MatchString(s.text) && !peerVersion.MatchString(s.text) {
				t.Errorf("%s:%d: section compares %q with %s without its version (or \"versions not recorded\")", f, s.line, fig, benchPeer.FindString(s.text))
			}
		}
	}
	if checked == 0 {
		t.Fatal("no benchmark figure found: the pattern no longer matches the READMEs")
	}
}

type mdSection struct {
	line int
	text string
}

// markdownSections splits a Markdown file at its headings (not at lines
// starting with # inside code blocks).
func markdownSections(src string) []mdSection {
	var out []mdSection
	cur := mdSection{line: 1}
	fenced := false
	for i, l := range strings.Split(src, "\n") {
		if strings.HasPrefix(l, "```") {
			fenced = !fenced
		}
		if !fenced && strings.HasPrefix(l, "#") {
			out = append(out, cur)
			cur = mdSection{line: i + 1}
		}
		cur.text += l + "\n"
	}
	return append(out, cur)
}

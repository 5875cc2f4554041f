package waf

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"
)

var updateMatches = flag.Bool("update", false, "rewrite testdata/issue_14_crs_matches.golden from the current engine")

const matchesGolden = "testdata/issue_14_crs_matches.golden"

// TestCRSMatchesPinned pins, for the classic attacks, the ordinary corpus
// and the benchmarks' GETs, the whole outcome of the CRS at paranoia 1:
// the interruption, and every matched rule with its expanded message and
// logged data, in order. Coraza is patched in third_party/coraza for
// speed; the golden file was recorded with the published Coraza v3.8.1,
// so any patch that changes a verdict, a matched rule or what is logged
// for it fails here.
func TestCRSMatchesPinned(t *testing.T) {
	got := crsOutcomes(t)
	if *updateMatches {
		if err := os.WriteFile(matchesGolden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(matchesGolden)
	if err != nil {
		t.Fatal(err)
	}
	if got == string(want) {
		return
	}
	g, w := strings.Split(got, "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) && i < len(w); i++ {
		if g[i] != w[i] {
			t.Fatalf("%s line %d:\n got: %s\nwant: %s", matchesGolden, i+1, g[i], w[i])
		}
	}
	t.Fatalf("%s: %d lines, want %d", matchesGolden, len(g), len(w))
}

func crsOutcomes(t *testing.T) string {
	e := paranoia1(t)
	cases := map[string]*snapshot{}
	for name, s := range classicAttacks() {
		cases["attack/"+name] = s
	}
	for name, s := range ordinaryRequests() {
		cases["ordinary/"+name] = s
	}
	cases["bench/GET"] = get("/products/blue-widget-42?page=2")
	bare := get("/dyn")
	bare.header = http.Header{}
	cases["bench/GET-bare"] = bare

	names := make([]string, 0, len(cases))
	for name := range cases {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		fmt.Fprintf(&b, "== %s\n", name)
		writeOutcome(t, &b, e, cases[name])
	}
	return b.String()
}

func writeOutcome(t *testing.T, b *strings.Builder, e *engine, s *snapshot) {
	tx := e.crs.NewTransaction()
	defer func() { _ = tx.Close() }()
	it, _, err := feedCRS(tx, s)
	if err != nil {
		t.Fatal(err)
	}
	if it != nil {
		fmt.Fprintf(b, "interrupted by %d: %s %d\n", it.RuleID, it.Action, it.Status)
	}
	for _, mr := range tx.MatchedRules() {
		fmt.Fprintf(b, "%d msg=%q data=%q\n", mr.Rule().ID(), mr.Message(), mr.Data())
	}
}

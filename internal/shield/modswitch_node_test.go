package shield_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"levee/internal/leveetest"
	"levee/internal/modswitch"
)

// moduleKilled reads levee_module_killed{module}.
func moduleKilled(t *testing.T, n *leveetest.Node, module string) float64 {
	t.Helper()
	mfs, err := n.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "levee_module_killed" {
			continue
		}
		for _, m := range mf.Metric {
			if m.GetLabel()[0].GetValue() == module {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no levee_module_killed{module=%q}", module)
	return 0
}

// A sub-phase's kill switch written to the file in the data directory,
// with the admin API off, turns that sub-phase alone off within 2 s: the
// rate limit stops limiting while the deny list (another sub-phase) still
// denies; removing the line turns the rate limit back on.
func TestSubPhaseKillSwitchFileWithoutAdminAPI(t *testing.T) {
	o := newSmallOrigin(t, 0, 100)
	n := leveetest.Start(t, strings.Replace(nodeYAML(o.URL, `
shield:
  rules: [{name: per-ip, key: [ip], rate: 1/m, burst: 1}]
  lists: {deny: [127.0.0.2]}
`), `admin: {listen: "127.0.0.1:0"}`, `admin: {listen: "off"}`, 1))
	c, denied := clientFrom("127.0.0.1", 1), clientFrom("127.0.0.2", 1)
	code := func() int {
		code, _, _, err := get(c, n.URL("/dyn"))
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	code()
	if got := code(); got != 429 {
		t.Fatalf("second request got %d, want 429 from the rate limit", got)
	}
	file := filepath.Join(n.DataDir, modswitch.FileName)
	flip := func(content string, want int) {
		t.Helper()
		start := time.Now()
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 100; i++ {
			if code() == want {
				t.Logf("%q in force after %v", content, time.Since(start).Round(time.Millisecond))
				if took := time.Since(start); took > 2*time.Second {
					t.Errorf("the switch took %v, over 2s", took)
				}
				return
			}
			time.Sleep(25 * time.Millisecond)
		}
		t.Fatalf("the switch file %q took no effect within 2.5s", content)
	}
	flip("shield.ratelimit\n", 200)
	if moduleKilled(t, n, "shield.ratelimit") != 1 || moduleKilled(t, n, "shield.lists") != 0 {
		t.Error("levee_module_killed does not show the rate limit alone killed")
	}
	// The deny list refuses at the connection gate or answers 403.
	if got, _, _, err := get(denied, n.URL("/dyn")); err == nil && got != 403 {
		t.Errorf("the deny list (not killed) answered %d, want 403 or a refused connection", got)
	}
	flip("", 429)
}

package levee_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"levee/internal/leveetest"
)

// TestGoBenchDriverRuns runs the README's short line of bench/go-bench.sh
// as written: the Go benchmarks of one package, once each, on HEAD and on
// the working tree, compared by benchstat.
func TestGoBenchDriverRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs benchmarks twice")
	}
	leveetest.NeedTool(t, "benchstat")
	src, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for l := range strings.SplitSeq(string(src), "\n") {
		if strings.HasPrefix(l, "SHORT=1 ") && strings.Contains(l, "bench/go-bench.sh") {
			line = l
		}
	}
	if line == "" {
		t.Fatal("the README shows no `SHORT=1 ... bench/go-bench.sh` line")
	}
	if out, err := exec.Command("bench/go-bench.sh", "--help").CombinedOutput(); err != nil || !strings.Contains(string(out), "COUNT") {
		t.Fatalf("bench/go-bench.sh --help: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", line)
	cmd.Env = append(os.Environ(), "OUT="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
	for _, want := range []string{"== HEAD", "== working tree", "BenchmarkPick", "sec/op", "vs base"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("%s: output lacks %q:\n%s", line, want, out)
		}
	}
}

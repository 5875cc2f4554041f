//go:build linux && race

package rawio_test

import (
	"os/exec"
	"testing"

	"levee/internal/leveetest"
)

// Under -race (the README's test command) sysRead and sysWrite go through
// package syscall, so this runs the package's tests once more built
// without it: the raw calls levee ships are the ones tested.
func TestRawCallsWithoutRaceDetector(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the package once more")
	}
	goTool := leveetest.NeedTool(t, "go")
	out, err := exec.Command(goTool, "test", "-count=1", "-v", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go test without -race: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

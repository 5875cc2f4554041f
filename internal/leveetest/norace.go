package leveetest

import (
	"os/exec"
	"testing"
)

// RerunWithoutRace runs the current package's tests matching run (all when
// empty) once more, built without -race. A package whose code takes another
// path under the race detector (internal/rawio's system calls) calls it
// from a test built only under -race, so the README's test command also
// tests the path levee ships.
func RerunWithoutRace(t *testing.T, run string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the package once more")
	}
	args := []string{"test", "-count=1", "-v"}
	if run != "" {
		args = append(args, "-run", run)
	}
	out, err := exec.Command(NeedTool(t, "go"), append(args, ".")...).CombinedOutput()
	if err != nil {
		t.Fatalf("go test without -race: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

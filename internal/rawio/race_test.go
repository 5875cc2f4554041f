//go:build linux && race

package rawio_test

import (
	"testing"

	"levee/internal/leveetest"
)

// Under -race (the README's test command) sysRead and sysWrite go through
// package syscall, so this runs the package's tests once more built
// without it: the raw calls levee ships are the ones tested.
func TestRawCallsWithoutRaceDetector(t *testing.T) {
	leveetest.RerunWithoutRace(t, "")
}

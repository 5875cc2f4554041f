//go:build linux && race

package h1server_test

import (
	"testing"

	"levee/internal/leveetest"
)

// Under -race (the README's test command) internal/rawio sends a held head
// (MSG_MORE) as a plain write, so the sendfile tests run once more built
// without it, where the head really waits for the body.
func TestSendfileWithoutRaceDetector(t *testing.T) {
	leveetest.RerunWithoutRace(t, "Sendfile")
}

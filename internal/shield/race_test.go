//go:build race

package shield_test

// raceOn scales load tests down under the race detector.
const raceOn = true

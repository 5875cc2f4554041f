//go:build !race

package shield

const raceOn = false

//go:build !linux

package cache

import "errors"

// Without memfd (Linux only) every memory-tier body stays on the heap:
// toMemfd logs the failure once and stops trying, as on a Linux without
// memfd.
func memfdCreate(string, int) (int, error) { return -1, errNoMemfd }

var errNoMemfd = errors.New("memfd bodies need Linux")

const memfdFlags = 0

func seal(int) {}

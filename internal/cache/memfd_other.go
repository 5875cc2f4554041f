//go:build !linux

package cache

import (
	"errors"
	"fmt"
)

// Without memfd (Linux only) every memory-tier body stays on the heap:
// the error is errors.ErrUnsupported, so toMemfd logs it once and stops
// trying, as on a Linux kernel without memfd_create (ENOSYS).
func memfdCreate(string, int) (int, error) { return -1, errNoMemfd }

var errNoMemfd = fmt.Errorf("memfd bodies need Linux: %w", errors.ErrUnsupported)

const memfdFlags = 0

func seal(int) {}

func mapBody(int, int64) ([]byte, error) { return nil, errNoMemfd }

func unmapBody([]byte) {}

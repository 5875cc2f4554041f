//go:build linux && race

package rawio

import "syscall"

// Under the race detector the calls go through package syscall, whose Read
// and Write tell the detector that a write to a socket happens before the
// read of it; raw calls would hide that edge and every test that checks a
// handler's effect after reading its answer would report a race.
func sysRead(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Read(int(fd), p)
	return max(n, 0), errno(err)
}

func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Write(int(fd), p)
	return max(n, 0), errno(err)
}

func errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	return err.(syscall.Errno)
}

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

// sysSendMore is a plain write under the race detector: package syscall
// has no send that tells the detector of the write, and the flag changes
// only how the bytes are cut into segments (the tests built without -race,
// TestRawCallsWithoutRaceDetector, check it).
func sysSendMore(fd uintptr, p []byte) (int, syscall.Errno) { return sysWrite(fd, p) }

func errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	return err.(syscall.Errno)
}

package cache

import "golang.org/x/sys/unix"

// memfdCreate is unix.MemfdCreate; tests replace it to make it fail.
var memfdCreate = unix.MemfdCreate

const memfdFlags = unix.MFD_CLOEXEC | unix.MFD_ALLOW_SEALING

// seal makes a memfd's body unchangeable under its readers. Best effort.
func seal(fd int) {
	_, _ = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS,
		unix.F_SEAL_WRITE|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL)
}

// mapBody maps a sealed memfd's pages read-only into the process, all of
// them at once (MAP_POPULATE), so serving never faults.
func mapBody(fd int, size int64) ([]byte, error) {
	return unix.Mmap(fd, 0, int(size), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
}

func unmapBody(b []byte) { _ = unix.Munmap(b) }

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

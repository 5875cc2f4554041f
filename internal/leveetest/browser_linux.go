package leveetest

import "syscall"

// dieWithParent makes the browser die with the thread that started it, so
// a crashed test leaves nothing behind.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

//go:build !linux

package leveetest

import "syscall"

// dieWithParent: only Linux kills a child with its parent (Pdeathsig);
// elsewhere the test's cleanup ends the browser. The tests run on Linux;
// this keeps the package building on other systems.
func dieWithParent() *syscall.SysProcAttr { return nil }

//go:build unix && !linux

package dynalite

import "syscall"

// procAttr puts dynalite in a process group of its own, which Stop kills. Only Linux can
// also have it killed when this process dies without Stop.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

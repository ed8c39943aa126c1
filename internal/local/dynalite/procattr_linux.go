package dynalite

import "syscall"

// procAttr puts dynalite in a process group of its own (Stop kills the group) and has the
// kernel kill it if this process dies without Stop — a panic, a test timeout, kill -9 —
// so that no orphaned node is left holding a port. Go ends an OS thread only when a
// goroutine locked to it exits, which Start's callers do not do, so the signal does not
// fire early.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

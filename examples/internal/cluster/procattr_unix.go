//go:build unix

package cluster

import "syscall"

// ownProcessGroup puts a child in a process group of its own, so that
// the terminal's Ctrl-C reaches the demo alone, which then stops the
// children in order.
func ownProcessGroup() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

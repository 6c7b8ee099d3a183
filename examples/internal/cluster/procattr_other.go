//go:build !unix

package cluster

import "syscall"

// ownProcessGroup leaves a child's process attributes as they are.
func ownProcessGroup() *syscall.SysProcAttr { return nil }

//go:build unix

package reverse

import (
	"math"
	"syscall"
)

// openFileLimit returns the process's soft limit on open files, or 0 if
// it cannot be read.
func openFileLimit() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	return int(min(l.Cur, math.MaxInt32))
}

//go:build !unix

package reverse

// openFileLimit returns 0: the open-file limit is not known here.
func openFileLimit() int { return 0 }

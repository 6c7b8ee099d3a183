package site

// Options returns the options for the command line's -tls-cert, -tls-key
// and -h2c.
var Options = options

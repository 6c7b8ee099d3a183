package rpc

// Version is the version of the Parley runtime.
const Version = "0.1.0"

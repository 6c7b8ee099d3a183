package rpcgen

// IsAtLeastVersion0_1_0 is referenced by generated code so that code
// generated for a newer runtime fails to compile against an older one.
const IsAtLeastVersion0_1_0 = true

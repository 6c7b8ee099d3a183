package types

// Page is a client in a file without services.
//
//parley:client
type Page interface {
	// Show shows an item and its tree.
	Show(item Item, tree *Tree)
	// Ask may fail to encode its arguments.
	Ask(question string, choices []string) error
	Ping()
	Reserved(p int, function string)
}

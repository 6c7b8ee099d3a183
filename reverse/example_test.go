package reverse_test

import (
	"encoding/json"
	"fmt"

	"github.com/parley-go/parley/reverse"
)

// Server code calls browser functions on every page showing a URL.
func ExampleHub_Page() {
	hub := reverse.NewHub()
	defer hub.Close()

	// Two pages open /callcenter; one opens /other. (In a real server the
	// runtime opens these through rpc.Server.)
	a, _ := hub.Open("/callcenter", "browser-1")
	b, _ := hub.Open("/callcenter/index.html", "browser-2")
	c, _ := hub.Open("/other", "browser-1")

	_ = hub.Page("/callcenter").Call("updateCallers", []string{"Ann", "Bob"}, true)

	for _, s := range []*reverse.Session{a, b, c} {
		out, _ := json.Marshal(s.Pending(0).Messages)
		fmt.Println(s.Page(), string(out))
	}
	// Output:
	// /callcenter [{"seq":1,"fn":"updateCallers","args":[["Ann","Bob"],true]}]
	// /callcenter [{"seq":1,"fn":"updateCallers","args":[["Ann","Bob"],true]}]
	// /other null
}

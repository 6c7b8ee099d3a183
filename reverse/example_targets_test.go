package reverse_test

import (
	"encoding/json"
	"fmt"

	"github.com/parley-go/parley/reverse"
)

// Pages join groups and subscribe to topics; server code reaches them by
// either, and changes their DOM with helpers.
func ExampleHub_Publish() {
	hub := reverse.NewHub()
	defer hub.Close()

	a, _ := hub.Open("/desk", "browser-1")
	b, _ := hub.Open("/desk", "browser-2")
	a.Join("support")
	_ = b.Subscribe("/stocks/*") // what parley.subscribe does for a page

	_ = hub.Group("support").DOM().SetText("#waiting", "3")
	_ = hub.Publish("/stocks/GOOG", map[string]float64{"price": 171.35})

	for _, s := range []*reverse.Session{a, b} {
		out, _ := json.Marshal(s.Pending(0).Messages)
		fmt.Println(string(out))
	}
	// Output:
	// [{"seq":1,"fn":"parley.dom.setText","args":["#waiting","3"]}]
	// [{"seq":1,"fn":"parley.publish","args":["/stocks/GOOG",{"price":171.35}]}]
}

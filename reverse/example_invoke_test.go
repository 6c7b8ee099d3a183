package reverse_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/parley-go/parley/reverse"
)

// Server code asks every page of a group for a value and waits for their
// answers. Here the page is played by hand: it finds the invocation in
// its pending messages and answers it, as the runtime does with what the
// exposed function returns.
func ExampleTarget_Invoke() {
	hub := reverse.NewHub()
	defer hub.Close()
	page, _ := hub.Open("/desk", "browser-1")
	page.Join("supervisors")

	go func() { // the page
		for {
			for _, m := range page.Pending(0).Messages {
				var call struct{ Fn, Invoke string }
				b, _ := json.Marshal(m)
				_ = json.Unmarshal(b, &call)
				if call.Invoke != "" {
					_ = page.Answer(call.Invoke, json.RawMessage(`{"waiting":3}`), nil)
					return
				}
			}
			time.Sleep(time.Millisecond)
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	replies, err := hub.Group("supervisors").Invoke(ctx, "queueLength")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range replies {
		var v struct{ Waiting int }
		if err := r.Decode(&v); err != nil {
			fmt.Println(err) // the page threw, or did not answer in time
			continue
		}
		fmt.Println("waiting:", v.Waiting)
	}
	// Output:
	// waiting: 3
}

// The DOM helpers change every page of a target without a function of
// the page's own: the runtime applies them, treating text as text.
func ExampleTarget_DOM() {
	hub := reverse.NewHub()
	defer hub.Close()
	page, _ := hub.Open("/callcenter", "browser-1")

	dom := hub.Page("/callcenter").DOM()
	_ = dom.SetText("#waiting", "2 <callers>")
	_ = dom.AddClass("#queue", "busy")
	_ = dom.AddRows("#calls tbody",
		reverse.Row{ID: "call-7", Cells: []string{"Ann", "0:42"}},
		reverse.Row{ID: "call-8", Cells: []string{"Bob", "0:05"}})
	_ = dom.Remove("#call-7")

	for _, m := range page.Pending(0).Messages {
		out, _ := json.Marshal(m)
		fmt.Println(string(out))
	}
	// Output:
	// {"seq":1,"fn":"parley.dom.setText","args":["#waiting","2 \u003ccallers\u003e"]}
	// {"seq":2,"fn":"parley.dom.addClass","args":["#queue",["busy"]]}
	// {"seq":3,"fn":"parley.dom.addRows","args":["#calls tbody",[{"id":"call-7","cells":["Ann","0:42"]},{"id":"call-8","cells":["Bob","0:05"]}]]}
	// {"seq":4,"fn":"parley.dom.remove","args":["#call-7"]}
}

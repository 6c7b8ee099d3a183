package rpc_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/rpc"
)

// A server with a hand-written service of the shape parleygen generates,
// mounted on a ServeMux and called as a page would call it.
func ExampleNewServer() {
	hub := reverse.NewHub()
	defer hub.Close()
	srv := rpc.NewServer(rpc.WithHub(hub))
	srv.Register(rpc.ServiceDesc{
		Name: "Greeter",
		Methods: []rpc.MethodDesc{{
			Name:   "greet",
			Params: []string{"name"},
			Handler: func(ctx context.Context, args rpc.Args) (any, error) {
				var name string
				if err := args.Decode(0, &name); err != nil {
					return nil, err
				}
				if name == "" {
					return nil, rpc.NewError(rpc.CodeInvalidArgument, "who?")
				}
				return "hello, " + name, nil
			},
		}},
	})
	mux := http.NewServeMux()
	mux.Handle("/parley/", srv)
	ts := httptest.NewServer(mux)
	defer ts.Close()

	body := `{"calls":[
		{"id":1,"service":"Greeter","method":"greet","args":["Ada"]},
		{"id":2,"service":"Greeter","method":"greet","args":[""]}]}`
	req, _ := http.NewRequest("POST", ts.URL+"/parley/call", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Parley", "1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	fmt.Println(string(out))
	// Output:
	// {"results":[{"id":1,"result":"hello, Ada"},{"id":2,"error":{"code":"invalid_argument","message":"who?"}}]}
}

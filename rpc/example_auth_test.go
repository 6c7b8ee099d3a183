package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/rpc"
	"github.com/parley-go/parley/rpc/client"
)

// An Authorizer tells the server who calls; MethodDesc.Access, which
// generated code fills from a "//parley:auth role admin" line in the
// method's doc comment, says who may. This one reads a header set by a
// trusted front proxy; a real one would read the HTTP session.
func ExampleWithAuthorizer() {
	srv := rpc.NewServer(rpc.WithAuthorizer(rpc.AuthorizerFunc(func(call *rpc.Call) (*rpc.Principal, error) {
		user := call.Request.Header.Get("X-User")
		if user == "" {
			return nil, nil // nobody is logged in
		}
		return &rpc.Principal{User: user, Roles: strings.Split(call.Request.Header.Get("X-Roles"), ",")}, nil
	})))
	srv.Register(rpc.ServiceDesc{
		Name: "Admin",
		Methods: []rpc.MethodDesc{{
			Name:   "purge",
			Access: rpc.Access{Login: true, Roles: []string{"admin"}},
			Handler: func(ctx context.Context, _ rpc.Args) (any, error) {
				who, _ := rpc.CallFrom(ctx).Principal()
				return "purged by " + who.User, nil
			},
		}},
	})
	ts := httptest.NewServer(srv)
	defer ts.Close()

	for _, user := range []struct{ id, roles string }{{"", ""}, {"bob", "agent"}, {"ada", "agent,admin"}} {
		c, _ := client.New(ts.URL+"/parley/", client.WithHTTPClient(withHeaders(map[string]string{"X-User": user.id, "X-Roles": user.roles})))
		var out string
		err := c.Call(context.Background(), "Admin", "purge", &out)
		var perr *rpc.Error
		if errors.As(err, &perr) {
			out = string(perr.Code)
		}
		fmt.Printf("%q: %s\n", user.id, out)
	}
	// Output:
	// "": unauthenticated
	// "bob": permission_denied
	// "ada": purged by ada
}

// A subscribe authorizer decides which topics a page may follow; here
// each user only their own inbox. Server code publishes with the hub.
func ExampleWithSubscribeAuthorizer() {
	hub := reverse.NewHub()
	srv := rpc.NewServer(rpc.WithHub(hub),
		rpc.WithAuthorizer(rpc.AuthorizerFunc(func(call *rpc.Call) (*rpc.Principal, error) {
			return &rpc.Principal{User: call.Request.Header.Get("X-User")}, nil
		})),
		rpc.WithSubscribeAuthorizer(func(_ *reverse.Session, who *rpc.Principal, pattern string) error {
			if who == nil || pattern != "/inbox/"+who.User {
				return rpc.NewError(rpc.CodePermissionDenied, "not your inbox")
			}
			return nil
		}))
	ts := httptest.NewServer(srv)
	// The hub closes first: it hands the page's held connection back to
	// the server, which must still be open to take it.
	defer func() { hub.Close(); ts.Close() }()

	c, _ := client.New(ts.URL+"/parley/", client.WithHTTPClient(withHeaders(map[string]string{"X-User": "ada"})))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	published := make(chan string, 1)
	go func() {
		_ = c.Run(ctx, func(m client.Message) {
			if m.Fn == "parley.publish" {
				published <- string(m.Args[0]) + " " + string(m.Args[1])
			}
		})
	}()
	for c.Session() == "" && ctx.Err() == nil { // wait until the page is open
		time.Sleep(time.Millisecond)
	}

	// What parley.subscribe("/inbox/…") sends from a page.
	fmt.Println(c.Call(ctx, rpc.BuiltinService, "subscribe", nil, []string{"/inbox/bob"}))
	fmt.Println(c.Call(ctx, rpc.BuiltinService, "subscribe", nil, []string{"/inbox/ada"}))

	_ = hub.Publish("/inbox/bob", "for bob")
	_ = hub.Publish("/inbox/ada", "for ada")
	select {
	case p := <-published:
		fmt.Println(p)
	case <-ctx.Done():
		fmt.Println("nothing published")
	}
	// Output:
	// permission_denied: not your inbox
	// <nil>
	// "/inbox/ada" "for ada"
}

// headerTransport adds fixed headers to every request.
type headerTransport map[string]string

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h {
		r.Header.Set(k, v)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// withHeaders returns an HTTP client, with a cookie jar, that sends the
// given headers.
func withHeaders(h map[string]string) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Transport: headerTransport(h)}
}

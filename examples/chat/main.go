// Command chat serves Parley's example chat room.
//
//	go run ./examples/chat [-addr localhost:8080]
//
// Open the printed URL in two browsers and talk. Add ?transport=sse (or
// websocket, longpoll, poll, passive) to the URL to try one transport.
//
// To see it run as a cluster, with no sticky sessions:
//
//	go run ./examples/chat -cluster 3
//
// starts an embedded NATS server, three chat servers and a round-robin
// load balancer (haproxy if installed, else one built in) on -addr, and
// prints their URLs. A chat server joins a cluster with -nats URL; every
// server of one cluster is given the same -cookie-key (or
// PARLEY_COOKIE_KEY), so that each accepts the others' cookies.
package main

import (
	"flag"
	"log"
	"os"

	"github.com/parley-go/parley/examples/chat/chat"
	"github.com/parley-go/parley/examples/internal/cluster"
	"github.com/parley-go/parley/examples/internal/site"
)

// busName names the cluster's streams and subjects on NATS.
const busName = "parley"

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on (with -cluster, the balancer's)")
	natsURL := flag.String("nats", "", "join a cluster: share pages and the room with the chat servers on the NATS server at this URL (needs -cookie-key)")
	cookieKey := flag.String("cookie-key", os.Getenv(cluster.KeyEnv), "with -nats: the hex key (16 bytes or more) of the browser id and HTTP session cookies, the same on every server of the cluster; default $"+cluster.KeyEnv)
	nodes := flag.Int("cluster", 0, "run a cluster on loopback: an embedded NATS, this many chat servers, and a round-robin balancer on -addr")
	flag.Parse()

	if *nodes > 0 {
		demo := cluster.Demo{Name: "chat", Nodes: *nodes, Addr: *addr, Health: "/parley/health"}
		if err := demo.Run(); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *natsURL == "" {
		app := chat.NewApp()
		site.Run("Parley chat", *addr, app.Handler, app.Hub, nil)
		return
	}
	if *cookieKey == "" {
		log.Fatalf("-nats needs -cookie-key or %s: the servers of a cluster share it", cluster.KeyEnv)
	}
	key, err := cluster.ParseKey(*cookieKey)
	if err != nil {
		log.Fatal(err)
	}
	rpcOpts, err := cluster.ServerOptions(key)
	if err != nil {
		log.Fatal(err)
	}
	node, err := cluster.Join(*natsURL, busName)
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close()
	app, err := chat.NewClusterApp(node.Conn, busName, node.HubOptions(), rpcOpts)
	if err != nil {
		log.Fatal(err)
	}
	site.Run("Parley chat", *addr, app.Handler, app.Hub, nil)
	app.Hub.Close()
}

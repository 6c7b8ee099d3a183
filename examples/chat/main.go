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
// prints their URLs; -cluster 3 -redis ADDR runs them on the Redis server
// at ADDR instead of the embedded NATS. A chat server joins a cluster with
// -nats URL, or -redis ADDR (host:port or a redis:// URL); every server
// of one cluster is given the same -cookie-key (or PARLEY_COOKIE_KEY), so
// that each accepts the others' cookies.
package main

import (
	"flag"
	"log"
	"os"

	"github.com/parley-go/parley/examples/chat/chat"
	"github.com/parley-go/parley/examples/internal/cluster"
	"github.com/parley-go/parley/examples/internal/site"
)

// busName names the cluster's streams and subjects on NATS, and starts
// its keys and channels on Redis.
const busName = "parley"

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on (with -cluster, the balancer's)")
	natsURL := flag.String("nats", "", "join a cluster: share pages and the room with the chat servers on the NATS server at this URL (needs -cookie-key)")
	redisAddr := flag.String("redis", "", "join a cluster: share pages and the room with the chat servers on the Redis server at this host:port or redis:// URL (needs -cookie-key); with -cluster, run the cluster on it instead of an embedded NATS")
	cookieKey := flag.String("cookie-key", os.Getenv(cluster.KeyEnv), "with -nats or -redis: the hex key (16 bytes or more) of the browser id and HTTP session cookies, the same on every server of the cluster; default $"+cluster.KeyEnv)
	nodes := flag.Int("cluster", 0, "run a cluster on loopback: an embedded NATS (or the server of -redis), this many chat servers, and a round-robin balancer on -addr")
	flag.Parse()

	if *natsURL != "" && *redisAddr != "" {
		log.Fatal("-nats and -redis exclude each other: the servers of a cluster share one bus")
	}
	if *nodes > 0 {
		if *natsURL != "" {
			log.Fatal("-cluster runs an embedded NATS: give it -redis ADDR to run on Redis instead, not -nats")
		}
		demo := cluster.Demo{Name: "chat", Nodes: *nodes, Addr: *addr, Health: "/parley/health", Redis: *redisAddr}
		if err := demo.Run(); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *natsURL == "" && *redisAddr == "" {
		app := chat.NewApp()
		site.Run("Parley chat", *addr, app.Handler, app.Hub, nil)
		return
	}

	if *cookieKey == "" {
		log.Fatalf("-nats and -redis need -cookie-key or %s: the servers of a cluster share it", cluster.KeyEnv)
	}
	key, err := cluster.ParseKey(*cookieKey)
	if err != nil {
		log.Fatal(err)
	}
	rpcOpts, err := cluster.ServerOptions(key)
	if err != nil {
		log.Fatal(err)
	}
	var node *cluster.Node
	if *redisAddr != "" {
		node, err = cluster.JoinRedis(*redisAddr, busName)
	} else {
		node, err = cluster.Join(*natsURL, busName)
	}
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close()
	newRoom := func(pages chat.ChatPage) (*chat.Room, error) {
		if node.Redis != nil {
			return chat.NewRedisRoom(pages, node.Redis, busName)
		}
		return chat.NewSharedRoom(pages, node.NATS, busName)
	}
	app, err := chat.NewClusterApp(newRoom, node.HubOptions(), rpcOpts)
	if err != nil {
		log.Fatal(err)
	}
	site.Run("Parley chat", *addr, app.Handler, app.Hub, nil)
	app.Hub.Close()
}

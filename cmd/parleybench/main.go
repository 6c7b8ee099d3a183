// Command parleybench measures Parley under load on this machine: a bench
// server, simulated pages speaking the Parley protocol from Go, and
// experiments that drive them and write Markdown reports with SVG charts.
//
//	parleybench serve   [-addr 127.0.0.1:0] [-tick 0]          a bench server; prints its address and pid
//	parleybench load    -url URL [-pages N] [-transport T]      N simulated pages against a running server
//	parleybench paper   [-time-scale 0.05] [-out DIR]           the push-versus-pull grid of Bozdag et al. (2007)
//	parleybench fanout  [-pages 1000,10000,18000] [-out DIR]    one publish to N pages, repeated
//	parleybench idle    [-pages 18000] [-out DIR]               server memory per held page and per quiet connection, and release times
//	parleybench chart   [-in fanout.json] [-out DIR]            the SVG charts of a fanout run
//	parleybench cluster [-nodes 3] [-pages 10000] [-out DIR]    one publish to pages spread over servers sharing sessions through NATS
//
// Every command sends traffic to loopback addresses (127.0.0.0/8) only,
// and every run is bounded in count and time. paper, fanout and idle
// start the server and the loaders as child processes of their own, so
// that the server's CPU time and memory, read from /proc, are its alone.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

const usage = `usage: parleybench COMMAND [flags]

commands:
  serve    run a bench server (ticker publisher and echo service) on loopback
  load     run simulated pages against a bench server
  paper    run the push-versus-pull grid and write a report
  fanout   measure one publish to many pages, per transport
  idle     measure server memory per idle held page, per transport, and per connection quiet between requests, and how soon pages that go away are released
  chart    draw the SVG charts of a fanout run from its JSON results
  cluster  measure one publish to pages spread over servers that share sessions through NATS, against one server

Run "parleybench COMMAND -h" for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	commands := map[string]func([]string) error{
		"serve":   cmdServe,
		"load":    cmdLoad,
		"paper":   cmdPaper,
		"fanout":  cmdFanout,
		"idle":    cmdIdle,
		"chart":   cmdChart,
		"cluster": cmdCluster,
		"natsd":   cmdNATSD, // the NATS server of a cluster run, as a process of its own
	}
	run, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if err := run(os.Args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "parleybench %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// silence makes the packets from src to port on the loopback interface
// vanish, so that the server sees its peers at src go silent: no FIN, no
// RST, no ACK. It needs root and tc. It tries a prio qdisc whose third
// band is netem with 100% loss; where the kernel lacks prio or netem, an
// htb class of 8 bit/s with a one-packet queue, whose one packet of burst
// a probe SYN spends, so that nothing else passes for about a minute.
// undo removes the qdisc; it is also run on SIGINT and SIGTERM.
func silence(src netip.Addr, port int) (undo func(), err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("not root: tc cannot change the loopback interface")
	}
	if _, err := exec.LookPath("tc"); err != nil {
		return nil, errors.New("tc is not installed")
	}
	if out, err := exec.Command("tc", "qdisc", "show", "dev", "lo", "root").CombinedOutput(); err != nil || !strings.Contains(string(out), "noqueue") {
		return nil, fmt.Errorf("lo already has a root qdisc (%s): not replacing it", strings.TrimSpace(string(out)))
	}
	match := []string{"match", "ip", "src", src.String() + "/32", "match", "ip", "dport", strconv.Itoa(port), "0xffff"}
	netem := [][]string{
		{"qdisc", "add", "dev", "lo", "root", "handle", "1:", "prio", "bands", "3", "priomap", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0"},
		{"qdisc", "add", "dev", "lo", "parent", "1:3", "handle", "30:", "netem", "loss", "100%"},
		append([]string{"filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1", "u32"}, append(match, "flowid", "1:3")...),
	}
	htb := [][]string{
		{"qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "1"},
		{"class", "add", "dev", "lo", "parent", "1:", "classid", "1:1", "htb", "rate", "100gbit"},
		{"class", "add", "dev", "lo", "parent", "1:", "classid", "1:2", "htb", "rate", "8bit", "ceil", "8bit", "burst", "1", "cburst", "1"},
		{"qdisc", "add", "dev", "lo", "parent", "1:2", "handle", "20:", "pfifo", "limit", "1"},
		append([]string{"filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1", "u32"}, append(match, "flowid", "1:2")...),
	}
	var once sync.Once
	sigs := make(chan os.Signal, 1)
	undo = func() {
		once.Do(func() {
			signal.Stop(sigs)
			_ = exec.Command("tc", "qdisc", "del", "dev", "lo", "root").Run()
		})
	}
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		if _, ok := <-sigs; ok {
			undo()
			os.Exit(1)
		}
	}()
	errNetem := runTC(netem)
	if errNetem == nil {
		return undo, nil
	}
	undo()
	once = sync.Once{}
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	if err := runTC(htb); err != nil {
		undo()
		return nil, fmt.Errorf("tc: %v; and with htb: %v", errNetem, err)
	}
	// Spend the throttle's burst on a probe SYN.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, Timeout: 100 * time.Millisecond}
	if c, err := d.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
		_ = c.Close()
	}
	return undo, nil
}

// runTC runs tc with each list of arguments in turn.
func runTC(cmds [][]string) error {
	for _, args := range cmds {
		if out, err := exec.Command("tc", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("tc %s: %s", strings.Join(args[:min(len(args), 8)], " "), strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// go-echo: Go's net package as an echo peer for `netpoll bench`: the design
// swift-netpoll copies, measured as Go programs use it.
//
// Peer contract (scripts/bench-peers relies on it): started as
// `go-echo --host 127.0.0.1 --port 0`, it prints exactly `listening on HOST:PORT`
// as its first stdout line, echoes every byte of every connection, and exits 0
// promptly on SIGTERM or SIGINT. One P (GOMAXPROCS=1) unless --procs N, so it
// competes with one-loop servers on equal terms.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

func main() {
	host := flag.String("host", "127.0.0.1", "loopback address to listen on")
	port := flag.Int("port", 0, "port, 0 for any")
	procs := flag.Int("procs", 1, "GOMAXPROCS")
	flag.Parse()
	if flag.NArg() != 0 || *port < 0 || *port > 65535 || *procs < 1 {
		flag.Usage()
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*procs)

	// A benchmark peer has no business being reachable from the network.
	if ip := net.ParseIP(*host); *host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		fmt.Fprintf(os.Stderr, "go-echo: refusing to listen on %s: not a loopback address\n", *host)
		os.Exit(2)
	}

	// Registered before the listener exists so a signal sent right after the
	// first line cannot kill the process with a non-zero status.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)

	// net.Listen sets SO_REUSEADDR and takes the backlog from
	// net.core.somaxconn (4096 on current kernels), as Go servers get it.
	ln, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		fmt.Fprintf(os.Stderr, "go-echo: %v\n", err)
		os.Exit(1)
	}
	_, boundPort, _ := net.SplitHostPort(ln.Addr().String())
	// os.Stdout is unbuffered: the line is out when Printf returns.
	fmt.Printf("listening on %s\n", net.JoinHostPort(*host, boundPort))

	go func() {
		<-sigs
		os.Exit(0)
	}()

	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			// EMFILE and the like: back off and retry as net/http does, so a
			// full fd table does not turn into a spinning loop.
			fmt.Fprintf(os.Stderr, "go-echo: accept: %v\n", err)
			if backoff = 2*backoff + 5*time.Millisecond; backoff > time.Second {
				backoff = time.Second
			}
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		go echo(c)
	}
}

// echo is a plain read/write loop, not io.Copy: between two TCPConns io.Copy
// uses splice(2) through a pipe, which is not what an echo over netpoll costs.
// Go's Write returns only when all of buf is written, parking on the poller
// while the socket is full, so partial writes are handled by the runtime.
func echo(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 64*1024)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

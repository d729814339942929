// go-http: Go's net/http with a minimal handler, the Go row of scripts/bench-http:
// the same work as the Netpoll example (Examples/Sources/HTTPHelloServer) and the
// NIO peer (Benchmarks/Sources/NIOHTTPHelloServer).
//
// Contract shared by the bench-http servers: `go-http PORT` (0: any free port)
// prints `listening on 127.0.0.1:PORT` as its first stdout line and answers every
// request with the same bytes as the others: Content-Length, Content-Type
// text/plain, no Date, "Hello, World!". One P (GOMAXPROCS=1), as the other
// servers run one event loop.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
)

var body = []byte("Hello, World!")
var length = []string{strconv.Itoa(len(body))}
var plain = []string{"text/plain"}

func hello(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// A nil Date is net/http's documented way to leave the header out.
	h["Date"] = nil
	h["Content-Length"] = length
	h["Content-Type"] = plain
	w.Write(body)
}

func main() {
	runtime.GOMAXPROCS(1)
	port := 8080
	if len(os.Args) > 1 {
		p, err := strconv.Atoi(os.Args[1])
		if err != nil || p < 0 || p > 65535 {
			fmt.Fprintln(os.Stderr, "usage: go-http [PORT]")
			os.Exit(2)
		}
		port = p
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-http:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	err = (&http.Server{Handler: http.HandlerFunc(hello)}).Serve(ln)
	fmt.Fprintln(os.Stderr, "go-http:", err)
	os.Exit(1)
}

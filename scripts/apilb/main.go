// taichu-apilb: the API-server endpoint of a node in a cluster with several control-plane
// machines. It listens on the node's loopback and passes each TCP connection (TLS is not
// terminated: the API servers' certificates name 127.0.0.1) to the first API server that
// accepts it, starting from a rotating one; an API server that refused a connection is
// skipped for a while, unless all are. The kubelet, kube-proxy and flanneld of the node
// talk to it, so losing one control-plane machine never cuts a node off.
package main

import (
	"flag"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type backend struct {
	addr      string
	downUntil atomic.Int64 // unix nanoseconds
}

type balancer struct {
	backends []*backend
	next     atomic.Uint64
	dial     time.Duration
	holdDown time.Duration
}

func (b *balancer) order() []*backend {
	start := int(b.next.Add(1) % uint64(len(b.backends)))
	now := time.Now().UnixNano()
	var up, down []*backend
	for i := range b.backends {
		be := b.backends[(start+i)%len(b.backends)]
		if be.downUntil.Load() > now {
			down = append(down, be)
		} else {
			up = append(up, be)
		}
	}
	return append(up, down...)
}

func (b *balancer) serve(client net.Conn) {
	defer client.Close()
	for _, be := range b.order() {
		server, err := net.DialTimeout("tcp", be.addr, b.dial)
		if err != nil {
			be.downUntil.Store(time.Now().Add(b.holdDown).UnixNano())
			log.Printf("backend %s: %v", be.addr, err)
			continue
		}
		pipe(client, server)
		return
	}
	log.Printf("no backend accepted a connection from %s", client.RemoteAddr())
}

func pipe(a, b net.Conn) {
	defer b.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	copyHalf := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		if tcp, ok := dst.(*net.TCPConn); ok {
			_ = tcp.CloseWrite()
		}
	}
	go copyHalf(a, b)
	go copyHalf(b, a)
	wg.Wait()
}

func main() {
	listen := flag.String("listen", "127.0.0.1:6443", "address to listen on")
	backends := flag.String("backends", "", "comma-separated API servers (host:port)")
	dial := flag.Duration("dial-timeout", 2*time.Second, "time to connect to one API server")
	holdDown := flag.Duration("hold-down", 5*time.Second, "how long a refusing API server is skipped")
	flag.Parse()
	b := &balancer{dial: *dial, holdDown: *holdDown}
	for _, addr := range strings.Split(*backends, ",") {
		if addr = strings.TrimSpace(addr); addr != "" {
			b.backends = append(b.backends, &backend{addr: addr})
		}
	}
	if len(b.backends) == 0 {
		log.Fatal("no -backends given")
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s for %s", *listen, *backends)
	for {
		conn, err := ln.Accept()
		if err != nil {
			log.Printf("accept: %v", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		go b.serve(conn)
	}
}

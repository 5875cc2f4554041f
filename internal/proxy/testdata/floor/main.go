// Command floor is a diagnostic, not part of levee: the least a
// goroutine-per-connection Go proxy does for the bench's dyn load, to
// measure beside nginx what levee's layers cost over the bare exchange.
// It checks almost nothing a proxy must and must never serve real traffic.
// Its modes, flags and limits are in README.md.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"

	"levee/internal/rawio"
)

var raw = flag.Bool("raw", true, "read and write through levee's rawio, not Go's net package")

func main() {
	from := flag.String("from", "127.0.0.1:0", "address to listen on")
	to := flag.String("to", "", "origin host:port")
	mode := flag.String("mode", "loop", "loop or h1server")
	flag.Parse()
	ln, err := net.Listen("tcp", *from)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("listening on", ln.Addr())
	if *mode == "h1server" {
		log.Fatal(serveH1(ln, *to))
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serveLoop(c, *to)
	}
}

// endpoints returns c's writer and reader: rawio's when -raw.
func endpoints(c net.Conn) (io.Writer, io.Reader) {
	if s := rawio.New(c); s != nil && *raw {
		return s, s
	}
	return c, c
}

func serveLoop(c net.Conn, to string) {
	defer c.Close()
	o, err := net.Dial("tcp", to)
	if err != nil {
		return
	}
	defer o.Close()
	cw, cr := endpoints(c)
	ow, or := endpoints(o)
	cbr := bufio.NewReaderSize(cr, 16<<10)
	obr := bufio.NewReaderSize(or, 16<<10)
	out := make([]byte, 0, 4096)
	for {
		head, err := readHead(cbr)
		if err != nil {
			return
		}
		out = append(out[:0], head[:len(head)-2]...)
		out = append(out, "X-Forwarded-For: 127.0.0.1\r\n\r\n"...)
		if _, err := ow.Write(out); err != nil {
			return
		}
		rh, err := readHead(obr)
		if err != nil {
			return
		}
		n := contentLength(rh)
		body, err := obr.Peek(n)
		if err != nil {
			return
		}
		out = append(append(out[:0], rh...), body...)
		obr.Discard(n)
		if _, err := cw.Write(out); err != nil {
			return
		}
	}
}

// readHead returns a head up to and including its blank line.
func readHead(r *bufio.Reader) ([]byte, error) {
	var head []byte
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		head = append(head, line...)
		if len(line) <= 2 {
			return head, nil
		}
	}
}

// contentLength is the head's Content-Length, 0 when it has none.
func contentLength(h []byte) int {
	i := bytes.Index(bytes.ToLower(h), []byte("\ncontent-length:"))
	if i < 0 {
		return 0
	}
	rest := h[i+len("\ncontent-length:"):]
	j := bytes.IndexByte(rest, '\r')
	if j < 0 {
		return 0
	}
	n, _ := strconv.Atoi(string(bytes.TrimSpace(rest[:j])))
	return n
}

package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"

	"levee/internal/h1server"
)

// h1Floor serves with levee's h1server (requests as *http.Request, answers
// through http.ResponseWriter) and a handler that does only the exchange:
// the cost of the server's request and response objects over the raw loop.
type h1Floor struct {
	to   string
	mu   sync.Mutex
	idle []*originConn
}

type originConn struct {
	c   net.Conn
	w   io.Writer
	br  *bufio.Reader
	out []byte
}

func serveH1(ln net.Listener, to string) error {
	srv := &h1server.Server{Handler: &h1Floor{to: to}}
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		srv.Serve(c)
	}
}

func (f *h1Floor) take() (*originConn, error) {
	f.mu.Lock()
	if n := len(f.idle); n > 0 {
		oc := f.idle[n-1]
		f.idle = f.idle[:n-1]
		f.mu.Unlock()
		return oc, nil
	}
	f.mu.Unlock()
	c, err := net.Dial("tcp", f.to)
	if err != nil {
		return nil, err
	}
	w, r := endpoints(c)
	return &originConn{c: c, w: w, br: bufio.NewReaderSize(r, 16<<10)}, nil
}

func (f *h1Floor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	oc, err := f.take()
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	out := append(oc.out[:0], r.Method...)
	out = append(out, ' ')
	out = append(out, r.URL.RequestURI()...)
	out = append(out, " HTTP/1.1\r\nHost: "...)
	out = append(out, r.Host...)
	out = append(out, "\r\n"...)
	for k, vv := range r.Header {
		for _, v := range vv {
			out = append(append(append(append(out, k...), ": "...), v...), "\r\n"...)
		}
	}
	out = append(out, "X-Forwarded-For: 127.0.0.1\r\n\r\n"...)
	oc.out = out
	if _, err := oc.w.Write(out); err != nil {
		oc.c.Close()
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	head, err := readHead(oc.br)
	if err != nil || len(head) < 12 {
		oc.c.Close()
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	code, _ := strconv.Atoi(string(head[9:12]))
	lines := bytes.Split(head[:len(head)-4], []byte("\r\n"))[1:]
	h := w.Header()
	for _, l := range lines {
		if k, v, ok := bytes.Cut(l, []byte(": ")); ok {
			h[string(k)] = []string{string(v)}
		}
	}
	n := contentLength(head)
	body, err := oc.br.Peek(n)
	if err != nil {
		oc.c.Close()
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	w.WriteHeader(code)
	w.Write(body)
	oc.br.Discard(n)
	f.mu.Lock()
	f.idle = append(f.idle, oc)
	f.mu.Unlock()
}

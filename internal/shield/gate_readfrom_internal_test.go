package shield

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// The gate keeps the TCP connection's ReadFrom, so net/http's io.Copy from
// a file (the cache's memfd and disk bodies) still uses sendfile.
func TestGatedConnReadFrom(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- b
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	var w io.Writer = &gatedConn{Conn: c}
	rf, ok := w.(io.ReaderFrom)
	if !ok {
		t.Fatal("gatedConn is not an io.ReaderFrom")
	}
	body := bytes.Repeat([]byte("0123456789abcdef"), 20000)
	p := filepath.Join(t.TempDir(), "body")
	if err := os.WriteFile(p, body, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(100, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	n, err := rf.ReadFrom(&io.LimitedReader{R: f, N: 200000})
	c.Close()
	if err != nil || n != 200000 {
		t.Fatalf("ReadFrom: %d, %v", n, err)
	}
	if b := <-got; !bytes.Equal(b, body[100:200100]) {
		t.Fatalf("received %d bytes, not the file's", len(b))
	}
}

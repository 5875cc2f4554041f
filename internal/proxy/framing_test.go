package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"levee/internal/leveetest"
	"levee/internal/leveetest/raworigin"
)

// A request with both Transfer-Encoding: chunked and Content-Length is
// answered and then the connection is closed (RFC 9112 §6.1): the bytes
// after it ("X" + "GET /b", a request under one reading of the framing
// and garbage under the other) must never reach the origin as a request.
func TestChunkedWithContentLengthClosesConnection(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		server string
		down   bool // the origin is unreachable: the answer is levee's 502
	}{{"levee", false}, {"net/http", false}, {"levee", true}, {"net/http", true}} {
		server := c.server
		name := strings.ReplaceAll(server, "/", "-")
		if c.down {
			name += "-origin-down"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o := raworigin.Start(t, nil)
			url := o.URL
			if c.down {
				url = leveetest.RefusedURL(t)
			}
			n := leveetest.Start(t, fmt.Sprintf(`
admin: {listen: "127.0.0.1:0"}
listeners: [{listen: "127.0.0.1:0", http1: %q}]
sites:
  - name: t
    hosts: ["*"]
    routes:
      - path: /
        origins: [{url: %q}]
`, server, url))
			conn, err := net.Dial("tcp", n.Addr(""))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(conn, "POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"+
				"0\r\n\r\nX"+"GET /b HTTP/1.1\r\nHost: t\r\n\r\n")
			br := bufio.NewReader(conn)
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("first response: %v", err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if c.down != (res.StatusCode == http.StatusBadGateway) {
				t.Fatalf("first response %d %q\naccess log:\n%s", res.StatusCode, body, n.Access.String())
			}
			if next, err := http.ReadResponse(br, nil); err == nil {
				t.Errorf("a second response (%d) came on the connection; it must be closed after the first", next.StatusCode)
			} else if err != io.EOF && err != io.ErrUnexpectedEOF {
				t.Errorf("after the first response: %v, want the connection closed", err)
			}
			for _, line := range o.Seen() {
				if strings.Contains(line, "/b") {
					t.Errorf("the origin received %q, smuggled after the first request", line)
				}
			}
		})
	}
}

package h1server

import (
	"bufio"
	"bytes"
	"net/http"
	"reflect"
	"testing"
)

// FuzzParse checks the parser against net/http's: any head accepted here
// must be read the same way by http.ReadRequest (which the fallback
// would otherwise have used), and nothing panics.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"HEAD /a?b=c HTTP/1.0\r\n\r\n",
		"GET /p HTTP/1.1\r\nhost: example.com:80\r\nAccept: */*\r\nCookie: a\r\nCookie: b\r\n\r\n",
		"GET /%41 HTTP/1.1\r\nHost: x\r\nPragma: no-cache\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nConnection: close, keep-alive\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX:\t a \t\r\n\r\n",
		"GET /? HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\na",
		"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		if len(head) > ReadBufferSize {
			return
		}
		if i := bytes.Index(head, crlfcrlf); i >= 0 {
			head = head[:i+len(crlfcrlf)]
		}
		cn := &conn{remote: "192.0.2.1:1234"}
		var got http.Request
		if !cn.parse(head, &got) {
			return
		}
		want, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
		if err != nil {
			t.Fatalf("accepted %q, which net/http rejects: %v", head, err)
		}
		// net/http's server removes Host from the header map and applies
		// the Pragma rule; ReadRequest alone does not.
		delete(want.Header, "Host")
		fixPragmaCacheControl(want.Header)
		if got.Method != want.Method || got.RequestURI != want.RequestURI || got.Host != want.Host ||
			got.Proto != want.Proto || got.ProtoMinor != want.ProtoMinor ||
			got.URL.String() != want.URL.String() || got.URL.Path != want.URL.Path ||
			got.URL.RawQuery != want.URL.RawQuery {
			t.Fatalf("%q:\n got  %s %q host %q %s path %q query %q\n want %s %q host %q %s path %q query %q",
				head, got.Method, got.RequestURI, got.Host, got.Proto, got.URL.Path, got.URL.RawQuery,
				want.Method, want.RequestURI, want.Host, want.Proto, want.URL.Path, want.URL.RawQuery)
		}
		if !reflect.DeepEqual(map[string][]string(got.Header), map[string][]string(want.Header)) {
			t.Fatalf("%q: header\n got  %v\n want %v", head, got.Header, want.Header)
		}
		if got.Close != want.Close {
			t.Fatalf("%q: close %v, net/http %v", head, got.Close, want.Close)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	head := []byte("GET /obj/1k?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench\r\n" +
		"Accept: */*\r\nAccept-Encoding: gzip\r\n\r\n")
	cn := &conn{remote: "192.0.2.1:1234"}
	b.ReportAllocs()
	for b.Loop() {
		var r http.Request
		if !cn.parse(head, &r) {
			b.Fatal("declined")
		}
	}
}

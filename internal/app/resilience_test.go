package app_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"levee/internal/app"
	"levee/internal/leveetest"
	"levee/internal/pipeline"
)

func twoRoutes(origin string, extra string) string {
	return fmt.Sprintf(`
admin: {listen: "127.0.0.1:0"}
listeners: [{listen: "127.0.0.1:0"}]
log: {access: true}
%s
sites:
  - name: t
    hosts: ["*"]
    routes:
      - {path: /, origins: [{url: %q}]}
      - {path: /boom/, origins: [{url: %q}]}
`, extra, origin, origin)
}

func TestPanickingPhaseCostsOnlyItsRoute(t *testing.T) {
	o := leveetest.NewOrigin(t, leveetest.Text("ok"))
	boom := func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			if pipeline.From(w).Route.Path == "/boom/" {
				var m map[string]int
				m["nil map write"]++ // a real runtime panic
			}
			return next.ServeHTTP(w, r)
		})
	}
	n := leveetest.Start(t, twoRoutes(o.URL, ""), leveetest.WithPhase("fault", boom))
	for i := 0; i < 10; i++ {
		status, body, hdr := leveetest.Get(t, n.URL("/boom/x"))
		id := hdr.Get("X-Request-Id")
		if status != 500 || id == "" || !strings.Contains(body, "request id: "+id) {
			t.Fatalf("panicking route: %d %q (id %q)", status, body, id)
		}
		if !strings.Contains(n.Logs.String(), `"id":"`+id+`"`) {
			t.Fatalf("request id %s not in the panic log", id)
		}
		if status, body, _ := leveetest.Get(t, n.URL("/fine")); status != 200 || body != "ok" {
			t.Fatalf("other route: %d %q", status, body)
		}
	}
	if got := n.Wall().Count("phase:fault"); got != 10 {
		t.Errorf("levee_panics_total{where=phase:fault} = %v, want 10", got)
	}
	if o.Hits() != 10 {
		t.Errorf("origin hits %d, want 10 (only the healthy route)", o.Hits())
	}
}

func TestHeaderTrickleIsCutOff(t *testing.T) {
	o := leveetest.NewOrigin(t, leveetest.Text("ok"))
	n := leveetest.Start(t, twoRoutes(o.URL, "timeouts: {read_header: 500ms}"))
	const slow = 20
	conns := make([]net.Conn, 0, slow)
	for i := 0; i < slow; i++ {
		c, err := net.Dial("tcp", n.Addr(""))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n")
		conns = append(conns, c)
	}
	// Trickle one header byte at a time while a normal client is served.
	for i := 0; i < 5; i++ {
		for _, c := range conns {
			c.Write([]byte("X"))
		}
		if status, _, _ := leveetest.Get(t, n.URL("/")); status != 200 {
			t.Fatalf("normal client not served during trickle: %d", status)
		}
		time.Sleep(150 * time.Millisecond)
	}
	cut := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.ReadAll(c); err == nil {
			cut++ // EOF: the server closed it
		}
	}
	if cut != slow {
		t.Fatalf("%d of %d trickling connections were closed by the header timeout", cut, slow)
	}
	if o.Hits() != 5 {
		t.Errorf("origin hits %d, want 5", o.Hits())
	}
}

func rawRequest(t *testing.T, addr, req string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, req)
	line, _ := bufio.NewReader(c).ReadString('\n')
	return line
}

func TestMalformedAndOversizedNeverReachOrigin(t *testing.T) {
	o := leveetest.NewOrigin(t, leveetest.Text("ok"))
	n := leveetest.Start(t, twoRoutes(o.URL, "limits: {max_header_bytes: 4KiB, max_request_body: 1KiB}"))
	big := strings.Repeat("a", 16<<10)
	cases := map[string]struct{ req, status string }{
		"garbage":             {"\x16\x03\x01\x00\xa5hello\r\n\r\n", "400"},
		"bad request line":    {"GET\r\n\r\n", "400"},
		"bad version":         {"GET / HTTP/9.9\r\nHost: x\r\n\r\n", "505"},
		"no host":             {"GET / HTTP/1.1\r\n\r\n", "400"},
		"bad header":          {"GET / HTTP/1.1\r\nHost: x\r\nBad Header: v\r\n\r\n", "400"},
		"header with NUL":     {"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", "400"},
		"two content lengths": {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "400"},
		"bad CL":              {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", "400"},
		"bad TE":              {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", "501"},
		"oversized headers":   {"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n", "431"},
		"oversized body":      {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n" + strings.Repeat("b", 4096), "413"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			line := rawRequest(t, n.Addr(""), tc.req)
			if !strings.HasPrefix(line, "HTTP/1.1 "+tc.status) {
				t.Errorf("got %q, want status %s", line, tc.status)
			}
		})
	}
	if o.Hits() != 0 {
		t.Fatalf("%d malformed or oversized requests reached the origin", o.Hits())
	}
	// The node is still fine.
	if status, _, _ := leveetest.Get(t, n.URL("/")); status != 200 {
		t.Fatalf("after bad input: %d", status)
	}
}

// A request with both Content-Length and Transfer-Encoding is handled as
// RFC 9112 section 6.3 allows: Transfer-Encoding wins and Content-Length is
// dropped. levee re-frames the body towards the origin, so the two cannot
// disagree about where the request ends (no smuggling).
func TestContentLengthAndChunkedAreReframed(t *testing.T) {
	seen := make(chan string, 1)
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen <- fmt.Sprintf("cl=%d te=%v body=%q", r.ContentLength, r.TransferEncoding, b)
	}))
	n := leveetest.Start(t, twoRoutes(o.URL, ""))
	line := rawRequest(t, n.Addr(""), "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
	if !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Fatalf("got %q", line)
	}
	if got := <-seen; got != `cl=-1 te=[chunked] body="hello"` {
		t.Fatalf("origin saw %s", got)
	}
}

func TestChunkedBodyOverLimitIs413(t *testing.T) {
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	n := leveetest.Start(t, twoRoutes(o.URL, "limits: {max_request_body: 1KiB}"))
	res, err := leveetest.Client().Post(n.URL("/"), "text/plain", io.MultiReader(strings.NewReader(strings.Repeat("c", 4096))))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 413 {
		t.Fatalf("chunked 4KiB body with a 1KiB limit: %d", res.StatusCode)
	}
}

func TestLastKnownGoodOnBrokenStart(t *testing.T) {
	o := leveetest.NewOrigin(t, leveetest.Text("ok"))
	first := leveetest.Start(t, twoRoutes(o.URL, ""))
	dataDir, cfgPath := first.DataDir, first.ConfigPath
	first.Shutdown()
	if m, _ := filepath.Glob(filepath.Join(dataDir, "last-good-*.yaml")); len(m) != 1 {
		t.Fatalf("last-known-good files: %v, want one", m)
	}
	os.WriteFile(cfgPath, []byte("listeners: [oops"), 0o600)

	strict := app.New(app.Options{ConfigPath: cfgPath, DataDir: dataDir, Strict: true, Log: io.Discard, Access: io.Discard})
	if err := strict.Start(); err == nil {
		strict.Shutdown()
		t.Fatal("--strict started on a broken config")
	}
	logs := &leveetest.SyncBuffer{}
	n := app.New(app.Options{ConfigPath: cfgPath, DataDir: dataDir, Log: logs, Access: io.Discard})
	if err := n.Start(); err != nil {
		t.Fatalf("did not fall back: %v", err)
	}
	defer n.Shutdown()
	if !strings.Contains(logs.String(), "STARTED ON THE LAST-KNOWN-GOOD CONFIG") {
		t.Errorf("fallback not announced:\n%s", logs.String())
	}
	var addr string
	for _, a := range n.Addrs() {
		addr = a.String()
	}
	if status, body, _ := leveetest.Get(t, "http://"+addr+"/"); status != 200 || body != "ok" {
		t.Fatalf("LKG node: %d %q", status, body)
	}
	if st := n.Status().(app.Status); !st.LastKnownGood {
		t.Errorf("status does not say last-known-good")
	}
}

// Two nodes on one host share the default data directory. When A's file
// breaks, A must not start on B's config (B's sites, B's ports): each
// last-known-good belongs to the config file it was applied from, and one
// that names another file is refused.
func TestLastKnownGoodBelongsToItsConfigFile(t *testing.T) {
	oa := leveetest.NewOrigin(t, leveetest.Text("node a"))
	ob := leveetest.NewOrigin(t, leveetest.Text("node b"))
	shared := t.TempDir()
	dir := t.TempDir()
	start := func(name, origin string) (*app.Node, string) {
		path := filepath.Join(dir, name+".yaml")
		os.WriteFile(path, []byte(twoRoutes(origin, "")), 0o600)
		n := app.New(app.Options{ConfigPath: path, DataDir: shared, Log: io.Discard, Access: io.Discard})
		if err := n.Start(); err != nil {
			t.Fatal(err)
		}
		return n, path
	}
	b, _ := start("b", ob.URL)
	defer b.Shutdown()
	// A was never applied: nothing of A's own to fall back on.
	pathA := filepath.Join(dir, "a.yaml")
	os.WriteFile(pathA, []byte("listeners: [oops"), 0o600)
	a := app.New(app.Options{ConfigPath: pathA, DataDir: shared, Log: io.Discard, Access: io.Discard})
	if err := a.Start(); err == nil {
		a.Shutdown()
		t.Fatal("node A started on node B's last-known-good config")
	}
	// A file renamed into A's place (or a hash collision) names B's config.
	a2, _ := start("a", oa.URL)
	a2.Shutdown()
	files, _ := filepath.Glob(filepath.Join(shared, "last-good-*.yaml"))
	if len(files) != 2 {
		t.Fatalf("last-known-good files %v, want one per config", files)
	}
	var fileA, fileB string
	for _, f := range files {
		if b, _ := os.ReadFile(f); strings.Contains(string(b), pathA) {
			fileA = f
		} else {
			fileB = f
		}
	}
	srcB, _ := os.ReadFile(fileB)
	os.WriteFile(fileA, srcB, 0o600)
	os.WriteFile(pathA, []byte("listeners: [oops"), 0o600)
	a3 := app.New(app.Options{ConfigPath: pathA, DataDir: shared, Log: io.Discard, Access: io.Discard})
	err := a3.Start()
	if err == nil {
		a3.Shutdown()
		t.Fatal("node A started on a last-known-good file saved from B's config")
	}
	if !strings.Contains(err.Error(), "b.yaml") {
		t.Errorf("refusal does not say whose file it is: %v", err)
	}
}

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	started := make(chan struct{})
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		fmt.Fprint(w, "finished")
	}))
	n := leveetest.Start(t, twoRoutes(o.URL, ""))
	addr := n.Addr("")
	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		res, err := leveetest.Client().Get("http://" + addr + "/slow")
		if err != nil {
			done <- result{err: err}
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		done <- result{status: res.StatusCode, body: string(b)}
	}()
	<-started
	if err := n.Shutdown(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	r := <-done
	if r.err != nil || r.status != 200 || r.body != "finished" {
		t.Fatalf("in-flight request: %+v", r)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}

func TestWebSocketSurvivesReloads(t *testing.T) {
	up := websocket.Upgrader{}
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			c.WriteMessage(mt, append([]byte("echo:"), msg...))
		}
	}))
	n := leveetest.Start(t, twoRoutes(o.URL, ""))
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+n.Addr("")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var reloads atomic.Int32
	for i := 0; i < 10; i++ {
		extra := fmt.Sprintf("timeouts: {idle: %ds}", 30+i) // forces a server handoff each time
		if code, body := n.PostConfig(twoRoutes(o.URL, extra)); code != 200 {
			t.Fatalf("reload %d: %s", i, body)
		}
		reloads.Add(1)
		msg := fmt.Sprintf("after reload %d", i)
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if err := ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatalf("write after reload %d: %v", i, err)
		}
		_, got, err := ws.ReadMessage()
		if err != nil || string(got) != "echo:"+msg {
			t.Fatalf("after reload %d: %q %v", i, got, err)
		}
	}
	if n.Generation() != 11 {
		t.Errorf("generation %d, want 11", n.Generation())
	}
}

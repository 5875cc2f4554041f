package proxy

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The floor program (testdata/floor) is the diagnostic the README's
// session 12 figures come from; this keeps it building and proxying, in
// each of its modes, so those figures stay reproducible.
func TestFloorDiagnosticProxies(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "floor")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/floor").CombinedOutput(); err != nil {
		t.Fatalf("go build ./testdata/floor: %v\n%s", err, out)
	}
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Write([]byte("answer to " + r.URL.Path + " for " + r.Header.Get("X-Forwarded-For")))
	}))
	defer origin.Close()
	for _, args := range [][]string{
		{"-mode", "loop"}, {"-mode", "loop", "-raw=false"},
		{"-mode", "h1server"}, {"-mode", "h1server", "-raw=false"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			addr := startFloor(t, bin, append(args, "-to", strings.TrimPrefix(origin.URL, "http://")))
			c := &http.Client{Timeout: 10 * time.Second}
			for i := range 3 { // the connection is kept and reused
				res, err := c.Get("http://" + addr + "/dyn")
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 || string(body) != "answer to /dyn for 127.0.0.1" {
					t.Fatalf("request %d: %d %q", i, res.StatusCode, body)
				}
			}
		})
	}
}

// startFloor runs the floor with args and returns the address it serves.
func startFloor(t *testing.T, bin string, args []string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		addr, ok := strings.CutPrefix(strings.TrimSpace(s), "listening on ")
		if !ok {
			t.Fatalf("floor said %q", s)
		}
		return addr
	case <-time.After(20 * time.Second):
		t.Fatal("the floor did not start")
	}
	return ""
}

package main

import (
	"bufio"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"levee/internal/leveetest"
)

// buildLevee compiles the binary once per test run.
func buildLevee(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "levee")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestREADMEDemo runs the README's first command (with free ports) and the
// curl lines it prints.
func TestREADMEDemo(t *testing.T) {
	bin := buildLevee(t)
	cmd := exec.Command(bin, "demo", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stdout)
	var tries []string
	deadline := time.Now().Add(20 * time.Second)
	for sc.Scan() && time.Now().Before(deadline) {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "curl ") {
			tries = append(tries, line)
		}
		if strings.HasPrefix(line, "Access log follows") {
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	if len(tries) < 4 {
		t.Fatalf("demo printed %d curl lines", len(tries))
	}
	url := regexp.MustCompile(`http://[0-9.:]+/[a-z/]*`)
	for _, line := range tries {
		u := url.FindString(line)
		status, body, _ := leveetest.Get(t, u)
		if status != 200 || body == "" {
			t.Errorf("%s: %d %q", line, status, body)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("demo did not exit cleanly on SIGTERM: %v", err)
	}
}

func TestReverseProxyQuickMode(t *testing.T) {
	bin := buildLevee(t)
	a := leveetest.NewOrigin(t, leveetest.Text("a"))
	b := leveetest.NewOrigin(t, leveetest.Text("b"))
	addr := freeAddr(t)
	cmd := exec.Command(bin, "reverse-proxy", "--from", addr, "--to", a.URL, "--to", strings.TrimPrefix(b.URL, "http://"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitUp(t, addr)
	seen := map[string]int{}
	for i := 0; i < 10; i++ {
		_, body, _ := leveetest.Get(t, "http://"+addr+"/")
		seen[body]++
	}
	if seen["a"] != 5 || seen["b"] != 5 {
		t.Errorf("round robin: %v", seen)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit: %v", err)
	}
}

func TestServeExitCodes(t *testing.T) {
	bin := buildLevee(t)
	cfg := filepath.Join(t.TempDir(), "bad.yaml")
	err := exec.Command(bin, "serve", "-c", cfg, "--strict").Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("serve on a missing config: %v, want exit 2", err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	s := leveetest.NewOrigin(t, leveetest.Text(""))
	addr := strings.TrimPrefix(s.URL, "http://")
	s.Close()
	return addr
}

func waitUp(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get("http://" + addr + "/"); err == nil {
			res.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never came up", addr)
}

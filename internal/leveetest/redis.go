package leveetest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Redis is a real redis-server on a loopback port, with its own temp dir,
// for cluster tests. Stop and Start keep the port, so nodes reconnect.
type Redis struct {
	T    testing.TB
	Addr string
	dir  string
	bin  string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// StartRedis starts redis-server on a free loopback port and stops it (by
// its PID) when the test ends. It skips when redis-server is missing,
// unless LEVEE_REQUIRE_INTEGRATION=1 demands it: then it fails.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if strings.TrimSpace(os.Getenv("LEVEE_REQUIRE_INTEGRATION")) == "1" {
			t.Fatal("redis-server is required (LEVEE_REQUIRE_INTEGRATION=1)")
		}
		t.Skip("redis-server not installed")
	}
	r := &Redis{T: t, dir: t.TempDir(), bin: bin, Addr: FreeAddr(t)}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// URL is the store's redis:// URL (database 0).
func (r *Redis) URL() string { return "redis://" + r.Addr + "/0" }

// Start (re)starts the server on its port; it waits until it answers PING.
func (r *Redis) Start() {
	r.T.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return
	}
	_, port, _ := net.SplitHostPort(r.Addr)
	cmd := exec.Command(r.bin, "--bind", "127.0.0.1", "--port", port, "--dir", r.dir,
		"--save", "", "--appendonly", "no", "--protected-mode", "yes", "--daemonize", "no", "--loglevel", "warning")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		r.T.Fatalf("redis-server: %v", err)
	}
	r.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if r.pingLocked() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.T.Fatalf("redis-server on %s did not answer within 10s", r.Addr)
}

// Stop kills the server (SIGKILL, by PID: a crash, not a shutdown) and
// waits for it.
func (r *Redis) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// Do sends one command (inline protocol) and returns the first reply line.
func (r *Redis) Do(args ...string) string {
	r.T.Helper()
	c := r.dial()
	defer c.Close()
	fmt.Fprintf(c, "%s\r\n", strings.Join(args, " "))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		r.T.Fatalf("redis %v: %v", args, err)
	}
	return strings.TrimSpace(line)
}

// dial connects to the server for one command, failing the test if it cannot.
func (r *Redis) dial() net.Conn {
	r.T.Helper()
	c, err := net.DialTimeout("tcp", r.Addr, time.Second)
	if err != nil {
		r.T.Fatalf("redis: %v", err)
	}
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	return c
}

// Get returns the string value at key, or "" when the key is absent.
// Do reads only a reply's first line, which for a string is its length.
func (r *Redis) Get(key string) string {
	r.T.Helper()
	c := r.dial()
	defer c.Close()
	fmt.Fprintf(c, "GET %s\r\n", key)
	br := bufio.NewReader(c)
	head, err := br.ReadString('\n')
	if err != nil {
		r.T.Fatalf("redis GET %s: %v", key, err)
	}
	if !strings.HasPrefix(head, "$") || strings.HasPrefix(head, "$-1") {
		return ""
	}
	val, err := br.ReadString('\n')
	if err != nil {
		r.T.Fatalf("redis GET %s: %v", key, err)
	}
	return strings.TrimSpace(val)
}

func (r *Redis) pingLocked() bool {
	c, err := net.DialTimeout("tcp", r.Addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	fmt.Fprintf(c, "PING\r\n")
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.HasPrefix(line, "+PONG")
}

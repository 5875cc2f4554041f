package cluster_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"levee/internal/cluster"
	"levee/internal/leveetest"
)

// A store that requires a password: a node reads it from password_file
// (or password_env) and joins; one without it stays out, serving locally.
func TestPasswordFromFileAndEnv(t *testing.T) {
	r := leveetest.StartRedis(t)
	if got := r.Do("CONFIG", "SET", "requirepass", "s3cret-pw"); got != "+OK" {
		t.Fatalf("requirepass: %s", got)
	}
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("s3cret-pw\n"), 0o600)
	withFile := fastConfig(r.URL(), "file")
	withFile.PasswordFile = pw
	t.Setenv("LEVEE_TEST_REDIS_PW", "s3cret-pw")
	withEnv := fastConfig(r.URL(), "env")
	withEnv.PasswordEnv = "LEVEE_TEST_REDIS_PW"
	a := startNode(t, withFile, "")
	b := startNode(t, withEnv, "")
	none := startNode(t, fastConfig(r.URL(), "none"), "")
	eventually(t, 5*time.Second, "both nodes with the password see each other", func() bool {
		return len(a.cap.Status().Members) == 2 && len(b.cap.Status().Members) == 2
	})
	eventually(t, 5*time.Second, "the node without the password reports the store down", func() bool {
		return none.cap.Status().Store == "down"
	})
	if st := none.cap.Status(); len(st.Members) != 0 {
		t.Fatalf("a node without the password: %+v", st)
	}
}

// startSentinel runs redis-server in sentinel mode monitoring master as
// "mymaster" on a free loopback port, stopped by its PID; with password
// set, the sentinel requires it (its own requirepass).
func startSentinel(t *testing.T, master, password string) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("LEVEE_REQUIRE_INTEGRATION") == "1" {
			t.Fatal("redis-server is required (LEVEE_REQUIRE_INTEGRATION=1)")
		}
		t.Skip("redis-server not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	host, port, _ := net.SplitHostPort(master)
	_, sport, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	text := fmt.Sprintf("bind 127.0.0.1\nport %s\ndir %s\nsentinel monitor mymaster %s %s 1\n", sport, dir, host, port)
	auth := ""
	if password != "" {
		text += "requirepass " + password + "\n"
		auth = "AUTH " + password + "\r\n"
	}
	os.WriteFile(conf, []byte(text), 0o600)
	cmd := exec.Command(bin, conf, "--sentinel")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			fmt.Fprintf(c, "%sSENTINEL get-master-addr-by-name mymaster\r\n", auth)
			buf := make([]byte, 256)
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			n, _ := c.Read(buf)
			c.Close()
			if strings.Contains(string(buf[:n]), port) {
				return addr
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("sentinel on %s did not come up", addr)
	return ""
}

// Nodes find the master through a real Sentinel, by URL and by the
// sentinel: section, and share state there.
func TestSentinelAddress(t *testing.T) {
	r := leveetest.StartRedis(t)
	s := startSentinel(t, r.Addr, "")
	byURL := fastConfig("redis-sentinel://"+s+"/mymaster/0", "by-url")
	bySection := fastConfig("", "by-section")
	bySection.Sentinel = cluster.SentinelConfig{Master: "mymaster", Addrs: []string{s}}
	a := startNode(t, byURL, "")
	b := startNode(t, bySection, "")
	eventually(t, 5*time.Second, "both nodes through the sentinel see each other", func() bool {
		return len(a.cap.Status().Members) == 2 && len(b.cap.Status().Members) == 2
	})
	if got := r.Do("ZCARD", "{levee}:members"); got != ":2" {
		t.Fatalf("the master holds %s members, want 2", got)
	}
}

// Sentinels with a password of their own: a node given it
// (sentinel_password_env) finds the master; one without stays out and
// reports the store down.
func TestSentinelPassword(t *testing.T) {
	r := leveetest.StartRedis(t)
	s := startSentinel(t, r.Addr, "sentinel-pw")
	t.Setenv("LEVEE_TEST_SENTINEL_PW", "sentinel-pw")
	with := fastConfig("redis-sentinel://"+s+"/mymaster/0", "with")
	with.SentinelPasswordEnv = "LEVEE_TEST_SENTINEL_PW"
	a := startNode(t, with, "")
	none := startNode(t, fastConfig("redis-sentinel://"+s+"/mymaster/0", "none"), "")
	eventually(t, 5*time.Second, "the node with the sentinel's password joins", func() bool {
		st := a.cap.Status()
		return st.Store == "up" && len(st.Members) == 1
	})
	eventually(t, 5*time.Second, "the node without it reports the store down", func() bool {
		return none.cap.Status().Store == "down"
	})
	if got := r.Do("ZCARD", "{levee}:members"); got != ":1" {
		t.Fatalf("the master holds %s members, want 1", got)
	}
}

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

	"levee/internal/cache"
	"levee/internal/leveetest"
)

// startRedisCluster runs three redis-server masters in cluster mode on
// free loopback ports, joins them with `redis-cli --cluster create` and
// returns their addresses once every slot is served. Each is stopped by
// its PID.
func startRedisCluster(t *testing.T) []string {
	t.Helper()
	server, err1 := exec.LookPath("redis-server")
	cli, err2 := exec.LookPath("redis-cli")
	if err1 != nil || err2 != nil {
		if os.Getenv("LEVEE_REQUIRE_INTEGRATION") == "1" {
			t.Fatal("redis-server and redis-cli are required (LEVEE_REQUIRE_INTEGRATION=1)")
		}
		t.Skip("redis-server or redis-cli not installed")
	}
	var addrs []string
	for range 3 {
		// Cluster mode also listens on port+10000 (the bus): pick ports
		// whose bus port is free too.
		addr := freeClusterAddr(t)
		_, port, _ := net.SplitHostPort(addr)
		dir := t.TempDir()
		cmd := exec.Command(server, "--bind", "127.0.0.1", "--port", port, "--dir", dir, "--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, "nodes.conf"), "--save", "", "--appendonly", "no", "--loglevel", "warning")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		addrs = append(addrs, addr)
	}
	for _, a := range addrs {
		eventually(t, 10*time.Second, a+" answers", func() bool {
			c, err := net.DialTimeout("tcp", a, 200*time.Millisecond)
			if err == nil {
				c.Close()
			}
			return err == nil
		})
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	if out, err := exec.Command(cli, append(args, "--cluster-yes")...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	eventually(t, 10*time.Second, "cluster state ok on every master", func() bool {
		for _, a := range addrs {
			host, port, _ := net.SplitHostPort(a)
			out, _ := exec.Command(cli, "-h", host, "-p", port, "cluster", "info").Output()
			if !strings.Contains(string(out), "cluster_state:ok") {
				return false
			}
		}
		return true
	})
	return addrs
}

func freeClusterAddr(t *testing.T) string {
	for range 50 {
		port := leveetest.FreePort(t)
		// The cluster bus is port+10000: above FreePort's range, so only
		// checked free now.
		bus, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+10000))
		if err == nil {
			bus.Close()
			return fmt.Sprintf("127.0.0.1:%d", port)
		}
	}
	t.Fatal("no free port pair for a cluster-mode redis-server")
	return ""
}

// Three nodes on a real Redis Cluster (three masters) by a
// redis-cluster:// address: they see each other and a purge on one
// reaches the other two (every key shares the {levee} hash slot).
func TestRedisClusterAddress(t *testing.T) {
	addrs := startRedisCluster(t)
	// The {levee} slot (5396) is the first master's: the URL names the
	// others first, so a client that did not follow the cluster's
	// redirections would fail here.
	url := "redis-cluster://" + strings.Join([]string{addrs[1], addrs[2], addrs[0]}, ",")
	var nodes []*testNode
	for _, name := range []string{"a", "b", "c"} {
		nodes = append(nodes, startNode(t, fastConfig(url, name), ""))
	}
	for _, n := range nodes {
		eventually(t, 10*time.Second, "3 members through the Redis Cluster", func() bool { return len(memberNames(n)) == 3 })
	}
	nodes[0].cache.purge(cache.Purge{URL: "/on-a-cluster"})
	for _, n := range nodes[1:] {
		eventually(t, 5*time.Second, "the purge applied", func() bool {
			got := n.cache.got()
			return len(got) == 1 && got[0].URL == "/on-a-cluster"
		})
	}
}

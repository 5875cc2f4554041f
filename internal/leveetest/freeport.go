package leveetest

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// FreePort returns a port on 127.0.0.1 free for TCP and UDP at the time of
// the call, for a server that must be told its port before it binds
// (Pebble, redis-server, a node's listeners).
//
// A port freed by closing a listener bound to port 0 is an ephemeral port,
// and anything running beside the test (another package's process, a
// server bound to port 0, an outgoing connection) may be given it before
// the caller binds; two such calls could even return the same port. CI
// once failed so: Pebble's ACME port and a node's DNS port were one. So the
// port is taken from below the kernel's ephemeral range, where nothing is
// handed out unasked, and never twice in one process.
func FreePort(t testing.TB) int {
	t.Helper()
	return FreePortOn(t, "127.0.0.1")
}

// FreeAddr is FreePort as an address, "127.0.0.1:port".
func FreeAddr(t testing.TB) string {
	t.Helper()
	return FreeAddrOn(t, "127.0.0.1")
}

// FreeAddrOn is FreePortOn as an address, "ip:port".
func FreeAddrOn(t testing.TB, ip string) string {
	t.Helper()
	return net.JoinHostPort(ip, strconv.Itoa(FreePortOn(t, ip)))
}

// FreePortOn is FreePort on another loopback address.
func FreePortOn(t testing.TB, ip string) int {
	t.Helper()
	lo, hi := fixedPortLow, ephemeralLow()-1
	if hi-lo < 1000 { // a machine whose ephemeral range starts low
		return boundPort(t, ip)
	}
	for range 1000 {
		p := lo + rand.IntN(hi-lo+1)
		if !claim(p) {
			continue
		}
		if bindable(ip, p) {
			return p
		}
	}
	t.Fatalf("no free port in %d-%d on %s after 1000 tries", lo, hi, ip)
	return 0
}

// fixedPortLow is where FreePort's range starts: above the ports services
// commonly use.
const fixedPortLow = 20000

var (
	givenMu sync.Mutex
	given   = map[int]bool{}
)

// claim marks p as handed out, false if it already was.
func claim(p int) bool {
	givenMu.Lock()
	defer givenMu.Unlock()
	if given[p] {
		return false
	}
	given[p] = true
	return true
}

// bindable reports whether ip:p can be bound for TCP and for UDP now.
func bindable(ip string, p int) bool {
	addr := net.JoinHostPort(ip, strconv.Itoa(p))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	defer ln.Close()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	pc.Close()
	return true
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768
// where it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}

// boundPort is the old way, a port the kernel gave to a listener that was
// then closed.
func boundPort(t testing.TB, ip string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

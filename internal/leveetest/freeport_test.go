package leveetest

import (
	"net"
	"strconv"
	"testing"
)

// FreePort never returns a port twice in a process, nor one in the
// kernel's ephemeral range, and the port it returns can be bound.
func TestFreePortUniqueAndBelowEphemeral(t *testing.T) {
	seen := map[int]bool{}
	for range 200 {
		p := FreePort(t)
		if seen[p] {
			t.Fatalf("port %d returned twice", p)
		}
		seen[p] = true
		if p < fixedPortLow || p >= ephemeralLow() {
			t.Fatalf("port %d outside %d-%d", p, fixedPortLow, ephemeralLow()-1)
		}
	}
	p := FreePortOn(t, "127.0.0.2")
	ln, err := net.Listen("tcp", "127.0.0.2:"+strconv.Itoa(p))
	if err != nil {
		t.Fatalf("the port FreePortOn gave cannot be bound: %v", err)
	}
	ln.Close()
}

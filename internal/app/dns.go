package app

import (
	"net"

	"levee/internal/dns"
	"levee/internal/pipeline"
)

// dnsCap is the dns capability: one DNS server per node, kept across
// reloads. A config's zones are built (parsed, bounded, keys loaded) when
// the generation is staged, so a bad zone rejects the whole config and the
// old zones keep answering; they are swapped in by the commit.
type dnsCap struct {
	n   *Node
	srv *dns.Server
}

func newDNS(n *Node) capability {
	return &dnsCap{n: n, srv: dns.New(dns.Options{Log: n.log, Wall: n.wall, Health: n, Registry: n.metrics.Registry})}
}

func (c *dnsCap) stage(g *generation) (map[string]pipeline.Phase, func(), error) {
	zs, err := dns.Build(&g.cfg.DNS, g.cfg.PoolRefs())
	if err != nil {
		return nil, nil, err
	}
	cfg := g.cfg
	return nil, func() { c.srv.Apply(&cfg.DNS, zs) }, nil
}

func (c *dnsCap) stop() { c.srv.Stop() }

// DNS returns the node's DNS server (tests, status).
func (n *Node) DNS() *dns.Server {
	for _, c := range n.caps {
		if d, ok := c.(*dnsCap); ok {
			return d.srv
		}
	}
	return nil
}

// DNSAddrs returns the bound address of each DNS address, keyed as
// configured.
func (n *Node) DNSAddrs() map[string]net.Addr {
	if d := n.DNS(); d != nil {
		return d.Addrs()
	}
	return nil
}

package app

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"levee/internal/config"
	"levee/internal/dns"
)

// Warnings lists what a valid config should still tell its operator before
// it is served: a port already in use on this host, a steered DNS pool
// without active checks, an admin API reachable from other hosts (it has no
// authentication). levee validate prints them; with --strict they fail it.
// src must already pass Check.
func Warnings(name string, src []byte) config.Errors {
	p, err := config.Load(name, src)
	if err != nil {
		return nil
	}
	c := p.Config
	var lines []string
	for i, l := range c.Listeners {
		lines = append(lines, busyPort(fmt.Sprintf("listeners[%d].listen", i), l.Listen)...)
	}
	if c.Admin.Listen != "off" {
		lines = append(lines, busyPort("admin.listen", c.Admin.Listen)...)
		if !loopbackOnly(c.Admin.Listen) {
			lines = append(lines, fmt.Sprintf("admin.listen: %s is reachable from other hosts and the admin API has no authentication: "+
				"anyone who reaches it can replace the config; keep it on 127.0.0.1 or a private network", c.Admin.Listen))
		}
	}
	for i, a := range c.DNS.Listen {
		lines = append(lines, busyPort(fmt.Sprintf("dns.listen[%d]", i), a)...)
	}
	if len(c.DNS.Zones) > 0 {
		if zs, err := dns.Build(&c.DNS, c.PoolRefs()); err == nil {
			lines = append(lines, zs.Warnings()...)
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return p.Locate(name, errors.New(strings.Join(lines, "\n")))
}

// busyPort reports an address some other socket holds now. Port 0 is never
// busy.
func busyPort(path, addr string) []string {
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "0" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return []string{fmt.Sprintf("%s: %s cannot be opened on this host now (%v): serve would exit 1, unless the node holding it is the one this file reloads",
			path, addr, unwrapSyscall(err))}
	}
	ln.Close()
	return nil
}

func unwrapSyscall(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// loopbackOnly reports whether addr listens on loopback alone.
func loopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

package app

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"levee/internal/config"
)

// ErrRejected wraps every reason a config was refused.
var ErrRejected = errors.New("config rejected")

// Apply validates src, builds a generation from it and swaps it in. On any
// failure the running generation keeps serving, the rejection is logged once
// and counted, and the error says why. source names the trigger for logs.
func (n *Node) Apply(name string, src []byte, source string) error {
	n.reloadMu.Lock()
	defer n.reloadMu.Unlock()
	if err := n.applyLocked(name, src); err != nil {
		return n.Reject(source, err)
	}
	n.metrics.Reloads.WithLabelValues("success").Inc()
	n.log.Info("config applied", "source", source, "generation", n.Generation())
	return nil
}

func (n *Node) applyLocked(name string, src []byte) error {
	p, err := config.Load(name, src)
	if err != nil {
		return err
	}
	g, err := n.stage(p)
	if err != nil {
		return err
	}
	commit, err := n.stageListeners(g)
	if err != nil {
		return err
	}
	adminCommit, err := n.stageAdmin(g)
	if err != nil {
		commit.rollback()
		return err
	}
	g.id = n.genCounter.Add(1)
	old := n.gen.Swap(g)
	commit.apply()
	adminCommit()
	for _, c := range g.commits {
		c()
	}
	n.metrics.Generation.Set(float64(g.id))
	n.afterSwap(old, g)
	return nil
}

// afterSwap persists the new config as last-known-good and, once the old
// generation has had its drain period, closes origin transports that no
// generation uses any more.
func (n *Node) afterSwap(old, g *generation) {
	if err := n.saveLKG(g.parsed.Source); err != nil {
		n.log.Warn("cannot save last-known-good config", "err", err)
	}
	if old == nil {
		return
	}
	drain := g.cfg.Timeouts.Drain.D()
	n.wall.Go("sweep-transports", func() {
		select {
		case <-time.After(drain):
		case <-n.stopped:
			return
		}
		n.reloadMu.Lock()
		defer n.reloadMu.Unlock()
		if cur := n.gen.Load(); cur != nil {
			n.transports.Sweep(cur.transports)
		}
	})
}

// listenerCommit is the staged change of listeners: sockets already opened
// and servers to start or retire once the generation is swapped.
type listenerCommit struct {
	n        *Node
	g        *generation
	opened   []*slot
	changed  []*slot
	removed  []*slot
	previous map[string]*slot
}

// stageListeners opens the sockets the new config adds. Nothing running is
// touched; a socket that cannot be opened rejects the config.
func (n *Node) stageListeners(g *generation) (*listenerCommit, error) {
	lc := &listenerCommit{n: n, g: g}
	want := map[string]bool{}
	for i := range g.cfg.Listeners {
		l := &g.cfg.Listeners[i]
		want[l.Listen] = true
		settings := listenerSettings(l, g.cfg)
		if s, ok := n.slots[l.Listen]; ok {
			if s.settings != settings {
				lc.changed = append(lc.changed, s)
			}
			continue
		}
		ln, err := net.Listen("tcp", l.Listen)
		if err != nil {
			lc.rollback()
			return nil, fmt.Errorf("listeners[%d].listen: %w", i, err)
		}
		lc.opened = append(lc.opened, &slot{addr: l.Listen, ln: ln, settings: settings})
	}
	for k, s := range n.slots {
		if !want[k] {
			lc.removed = append(lc.removed, s)
		}
	}
	return lc, nil
}

func (lc *listenerCommit) rollback() {
	for _, s := range lc.opened {
		s.ln.Close()
	}
}

// apply starts servers for new and changed listeners and retires the rest.
func (lc *listenerCommit) apply() {
	n, g := lc.n, lc.g
	drain := g.cfg.Timeouts.Drain.D()
	byAddr := map[string]*slot{}
	for _, s := range lc.opened {
		byAddr[s.addr] = s
	}
	for i := range g.cfg.Listeners {
		l := &g.cfg.Listeners[i]
		if s, ok := byAddr[l.Listen]; ok {
			s.cur.Store(n.startServer(s, l, g.cfg))
			n.slots[s.addr] = s
			n.wall.Go("accept:"+s.addr, func() { n.acceptLoop(s) })
		}
	}
	for _, s := range lc.changed {
		for i := range g.cfg.Listeners {
			if l := &g.cfg.Listeners[i]; l.Listen == s.addr {
				old := s.cur.Swap(n.startServer(s, l, g.cfg))
				s.settings = listenerSettings(l, g.cfg)
				n.retire(old, drain)
			}
		}
	}
	for _, s := range lc.removed {
		s.closed.Store(true)
		s.ln.Close()
		n.retire(s.cur.Load(), drain)
		delete(n.slots, s.addr)
	}
}

// Reject counts and logs, once, a config that was refused before or while
// being applied, and returns it wrapped in ErrRejected.
func (n *Node) Reject(source string, err error) error {
	n.metrics.Reloads.WithLabelValues("rejected").Inc()
	n.log.Error("config rejected; still serving the previous generation",
		"source", source, "generation", n.Generation(), "reason", err.Error())
	return fmt.Errorf("%w: %w", ErrRejected, err)
}

// ReloadFile re-reads the config file and applies it.
func (n *Node) ReloadFile(source string) error {
	src, err := readConfigFile(n.opts.ConfigPath)
	if err != nil {
		return n.Reject(source, err)
	}
	return n.Apply(n.opts.ConfigPath, src, source)
}

// readConfigFile reads at most MaxFileBytes+1 bytes, so an oversized file is
// detected without reading all of it.
func readConfigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, 0, 64<<10)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		m, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if len(buf) > config.MaxFileBytes {
			return nil, fmt.Errorf("%s: config is over the limit of %d bytes", path, config.MaxFileBytes)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return buf, nil
			}
			return nil, err
		}
	}
}

package app

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"levee/internal/config"
)

// ErrRejected wraps every reason a config was refused.
var ErrRejected = errors.New("config rejected")

// ErrCannotListen marks a config that is valid but whose sockets cannot be
// opened (a port in use, an address not on this host): a runtime failure,
// not a mistake in the file, so commands exit 1 for it rather than 2.
var ErrCannotListen = errors.New("cannot listen")

// Apply validates src, builds a generation from it and swaps it in. On any
// failure the running generation keeps serving, the rejection is logged once
// and counted, and the error says why. source names the trigger for logs.
func (n *Node) Apply(name string, src []byte, source string) error {
	n.reloadMu.Lock()
	defer n.reloadMu.Unlock()
	select {
	case <-n.stopped:
		// A reload racing the shutdown (a cluster version arriving) must
		// not open listeners on a node that has just closed them.
		return n.Reject(source, errors.New("the node is shutting down"))
	default:
	}
	if err := n.applyLocked(name, src); err != nil {
		return n.Reject(source, err)
	}
	n.configSource.Store(source)
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
	commit, err := n.listeners.Stage(g.listeners, g.cfg.Timeouts.Drain.D())
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCannotListen, err)
	}
	adminCommit, err := n.stageAdmin(g)
	if err != nil {
		commit.Rollback()
		return fmt.Errorf("%w: %w", ErrCannotListen, err)
	}
	g.id = n.genCounter.Add(1)
	old := n.gen.Swap(g)
	commit.Apply()
	adminCommit()
	for _, st := range g.staged {
		if st.Commit != nil {
			st.Commit()
		}
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

// Reject counts and logs, once, a config that was refused before or while
// being applied, and returns it wrapped in ErrRejected.
func (n *Node) Reject(source string, err error) error {
	n.metrics.Reloads.WithLabelValues("rejected").Inc()
	what, state := "config rejected", "still serving the previous generation"
	if errors.Is(err, ErrCannotListen) {
		what = "cannot open a socket of this config"
	}
	if n.gen.Load() == nil {
		state = "nothing is serving"
	}
	msg := what + "; " + state
	n.log.Error(msg, "source", source, "generation", n.Generation(), "reason", err.Error())
	return fmt.Errorf("%w: %w", ErrRejected, err)
}

// SourceAdmin is the source of a config posted to POST /config, and
// SourceReload that of POST /reload (levee reload): the operator's word
// that the file wins over a posted config.
const (
	SourceAdmin  = "admin"
	SourceReload = "reload"
	// SourceCluster is a version pushed with `levee cluster push`; like a
	// posted config, the file does not silently undo it.
	SourceCluster = "cluster"
)

// applyClusterVersion is the cluster's way through the config gate.
func (n *Node) applyClusterVersion(src []byte) error {
	return n.Apply("cluster version", src, SourceCluster)
}

// validateConfig checks a config as a node would load it.
func validateConfig(src []byte) error {
	_, err := config.Load("pushed config", src)
	return err
}

// ErrPostedConfigActive refuses a SIGHUP or watch reload while a config
// posted to the admin API is serving: re-reading the file would silently
// undo it. POST /reload (levee reload) or another POST /config decides.
var ErrPostedConfigActive = errors.New("a config posted to the admin API is active and the file would undo it; " +
	"run `levee reload --admin ADDR` (POST /reload) to apply the file instead, or POST the config again")

// filePaused reports whether file reloads wait for the operator because
// the active config was posted to the admin API.
func (n *Node) filePaused() bool {
	s, _ := n.configSource.Load().(string)
	return s == SourceAdmin || s == SourceCluster
}

// ReloadFile re-reads the config file and applies it. Only SourceReload
// overrides a config posted to the admin API.
func (n *Node) ReloadFile(source string) error {
	if n.opts.ConfigPath == "" {
		return n.Reject(source, errors.New("this node has no config file to re-read (it was started from flags or a built-in config)"))
	}
	if source != SourceReload && n.filePaused() {
		return n.Reject(source, ErrPostedConfigActive)
	}
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

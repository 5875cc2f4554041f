package app

import (
	"context"
	"crypto/sha256"
	"fmt"
	"levee/internal/atomicfile"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// lkgName is the last-known-good config inside the data directory.
const lkgName = "last-good.yaml"

// Start loads the config file and starts serving. If the file is rejected
// and the node is not strict, it starts on the last-known-good config and
// says so loudly; with Strict, or without a last-known-good config, it fails.
func (n *Node) Start() error {
	src, err := readConfigFile(n.opts.ConfigPath)
	if err == nil {
		err = n.Apply(n.opts.ConfigPath, src, "start")
	} else {
		err = n.Reject("start", err)
	}
	if err == nil {
		n.startWatch()
		return nil
	}
	if n.opts.Strict {
		return err
	}
	lkg := filepath.Join(n.opts.DataDir, lkgName)
	prev, rerr := readConfigFile(lkg)
	if rerr != nil {
		return fmt.Errorf("%w (and no last-known-good config: %v)", err, rerr)
	}
	if aerr := n.Apply(lkg, prev, "last-known-good"); aerr != nil {
		return fmt.Errorf("%w (and the last-known-good config failed too: %v)", err, aerr)
	}
	n.onLKG.Store(true)
	n.metrics.LastKnownGood.Set(1)
	n.startWatch()
	n.log.Error("STARTED ON THE LAST-KNOWN-GOOD CONFIG: the configured file was rejected; fix it and reload",
		"file", n.opts.ConfigPath, "last_known_good", lkg, "reason", err.Error())
	return nil
}

// StartFrom starts serving a config given as bytes (quick mode, demo, tests).
func (n *Node) StartFrom(name string, src []byte) error {
	return n.Apply(name, src, "start")
}

// saveLKG writes the applied config atomically (internal/atomicfile).
func (n *Node) saveLKG(src []byte) error {
	if n.opts.DataDir == "" {
		return nil
	}
	n.onLKG.Store(false)
	n.metrics.LastKnownGood.Set(0)
	path := filepath.Join(n.opts.DataDir, lkgName)
	if old, err := os.ReadFile(path); err == nil && sha256.Sum256(old) == sha256.Sum256(src) {
		return nil
	}
	if err := os.MkdirAll(n.opts.DataDir, 0o750); err != nil {
		return err
	}
	return atomicfile.Write(path, src, 0o600)
}

// Run serves until SIGTERM or SIGINT, reloading on SIGHUP and, when the
// config asks for it, when the file changes. Then it shuts down gracefully.
func (n *Node) Run(ctx context.Context) error {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	for {
		select {
		case <-ctx.Done():
			return n.Shutdown()
		case s := <-sigs:
			if s == syscall.SIGHUP {
				_ = n.ReloadFile("SIGHUP")
				continue
			}
			n.log.Info("shutting down", "signal", s.String())
			return n.Shutdown()
		}
	}
}

// startWatch starts polling the file. The baseline is the config just
// applied, taken now: a change made before the goroutine runs still counts.
func (n *Node) startWatch() {
	last := sha256.Sum256(n.gen.Load().parsed.Source)
	n.wall.Go("config-watch", func() { n.watch(context.Background(), last) })
}

// watch polls the config file (when reload.watch is on) and reloads when
// its content changes. Polling needs no extra dependency and works on every
// file system; the interval bounds the cost.
func (n *Node) watch(ctx context.Context, last [32]byte) {
	for {
		g := n.gen.Load()
		interval := time.Duration(g.cfg.Reload.WatchInterval)
		select {
		case <-ctx.Done():
			return
		case <-n.stopped:
			return
		case <-time.After(interval):
		}
		if !n.gen.Load().cfg.Reload.Watch {
			continue
		}
		src, err := readConfigFile(n.opts.ConfigPath)
		if err != nil {
			continue
		}
		if sum := sha256.Sum256(src); sum != last {
			last = sum
			_ = n.Apply(n.opts.ConfigPath, src, "watch")
		}
	}
}

// Shutdown stops accepting, lets in-flight requests finish within the
// drain period, then closes upgraded connections and idle origin ones.
func (n *Node) Shutdown() error {
	var err error
	n.stopOnce.Do(func() {
		n.reloadMu.Lock()
		defer n.reloadMu.Unlock()
		drain := 5 * time.Second
		if g := n.gen.Load(); g != nil {
			drain = g.cfg.Timeouts.Drain.D()
		}
		ctx, cancel := context.WithTimeout(context.Background(), drain)
		defer cancel()
		err = n.listeners.Shutdown(ctx)
		if n.admin != nil {
			_ = n.admin.srv.Shutdown(ctx)
		}
		n.caps.stop()
		n.upgrades.CloseAll()
		n.transports.CloseIdle()
		close(n.stopped)
		n.log.Info("stopped")
	})
	return err
}

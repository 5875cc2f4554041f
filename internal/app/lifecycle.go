package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"levee/internal/atomicfile"
	"levee/internal/sdnotify"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// lkgHeader opens every last-known-good file and names the config file it
// was applied from; a file naming another config is never started on.
const lkgHeader = "# levee last-known-good of "

// lkgPath is the last-known-good file of the node's config inside the data
// directory, named after a hash of the config's absolute path: two nodes
// sharing a data directory keep two files, and neither ever starts on the
// other's sites and ports. Empty when there is no file to key it to.
func (n *Node) lkgPath() (path, source string) {
	if n.opts.DataDir == "" || n.opts.ConfigPath == "" {
		return "", ""
	}
	abs, err := filepath.Abs(n.opts.ConfigPath)
	if err != nil {
		return "", ""
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(n.opts.DataDir, fmt.Sprintf("last-good-%x.yaml", sum[:8])), abs
}

// Start loads the config file and starts serving. If the file is rejected
// and the node is not strict, it starts on the last-known-good config of
// this same file and says so loudly; with Strict, or without one, it fails.
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
	lkg, prev, rerr := n.readLKG()
	if rerr != nil {
		return fmt.Errorf("%w (and no last-known-good config of this file: %v)", err, rerr)
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

// readLKG returns the last-known-good config of this node's file, without
// its header, refusing a file whose header names another config.
func (n *Node) readLKG() (path string, src []byte, err error) {
	path, source := n.lkgPath()
	if path == "" {
		return "", nil, errors.New("no data directory")
	}
	raw, err := readConfigFile(path)
	if err != nil {
		return path, nil, err
	}
	first, rest, _ := bytes.Cut(raw, []byte("\n"))
	if named := strings.TrimPrefix(string(first), lkgHeader); named != source {
		return path, nil, fmt.Errorf("%s was saved from %q, not from %s", path, named, source)
	}
	return path, rest, nil
}

// StartFrom starts serving a config given as bytes (quick mode, demo, tests).
func (n *Node) StartFrom(name string, src []byte) error {
	return n.Apply(name, src, "start")
}

// saveLKG writes the applied config atomically (internal/atomicfile), after
// a header naming the file it belongs to.
func (n *Node) saveLKG(src []byte) error {
	n.onLKG.Store(false)
	n.metrics.LastKnownGood.Set(0)
	path, source := n.lkgPath()
	if path == "" {
		return nil
	}
	data := append([]byte(lkgHeader+source+"\n"), src...)
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := os.MkdirAll(n.opts.DataDir, 0o750); err != nil {
		return err
	}
	return atomicfile.Write(path, data, 0o600)
}

// Run serves until SIGTERM or SIGINT, reloading on SIGHUP and, when the
// config asks for it, when the file changes. Then it shuts down gracefully.
func (n *Node) Run(ctx context.Context) error {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	// Ready only now: a manager may send SIGHUP as soon as it hears it,
	// and before signal.Notify that signal would kill the process.
	n.notify(sdnotify.Ready)
	onHUP := "reloads " + n.opts.ConfigPath
	if n.opts.ConfigPath == "" {
		onHUP = "ignored: no config file"
	}
	n.log.Info("serving", "generation", n.Generation(), "SIGHUP", onHUP, "SIGTERM", "drains and stops")
	for {
		select {
		case <-ctx.Done():
			return n.Shutdown()
		case s := <-sigs:
			if s == syscall.SIGHUP {
				n.onSIGHUP()
				continue
			}
			n.log.Info("shutting down", "signal", s.String())
			n.notify(sdnotify.Stopping)
			return n.Shutdown()
		}
	}
}

// onSIGHUP reloads the config file; a node started from flags or a
// built-in config has none, and says it ignores the signal.
func (n *Node) onSIGHUP() {
	if n.opts.ConfigPath == "" {
		n.log.Info("SIGHUP ignored: this node was started from flags or a built-in config and has no file to re-read; restart it to change its config")
		return
	}
	n.notify(sdnotify.Reloading)
	_ = n.ReloadFile("SIGHUP")
	n.notify(sdnotify.Ready)
}

// notify tells the service manager (systemd Type=notify) the node's state.
func (n *Node) notify(state string) {
	if err := sdnotify.Send(state); err != nil {
		n.log.Warn("cannot notify the service manager", "state", state, "err", err)
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
			if n.filePaused() {
				_ = n.Reject("watch", ErrPostedConfigActive)
				continue
			}
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
			n.admin.api.Close()
		}
		n.caps.stop()
		n.upgrades.CloseAll()
		n.transports.CloseIdle()
		close(n.stopped)
		n.log.Info("stopped")
	})
	return err
}

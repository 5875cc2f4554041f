package proxy

import (
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"levee/internal/pipeline"
)

// UpgradeSet tracks upgraded (hijacked) connections. They belong to no
// http.Server any more, so a reload leaves them open; shutdown closes them
// after the drain period.
type UpgradeSet struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// NewUpgradeSet returns an empty set.
func NewUpgradeSet() *UpgradeSet { return &UpgradeSet{conns: map[net.Conn]struct{}{}} }

func (s *UpgradeSet) add(c net.Conn) {
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
}

func (s *UpgradeSet) remove(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Len returns the number of open upgraded connections.
func (s *UpgradeSet) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// CloseAll closes every upgraded connection.
func (s *UpgradeSet) CloseAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

// upgrade completes a 101 Switching Protocols: it hijacks the client
// connection and copies bytes both ways until either side closes.
func (p *Proxy) upgrade(w http.ResponseWriter, r *http.Request, ex *pipeline.Exchange, res *http.Response) error {
	backend, ok := res.Body.(io.ReadWriteCloser)
	if !ok {
		res.Body.Close()
		return pipeline.Errorf(pipeline.SourceOrigin, http.StatusBadGateway, "upgrade", "origin switched protocols without a usable connection", nil)
	}
	defer backend.Close()
	if upgradeType(res.Header) == "" {
		return pipeline.Errorf(pipeline.SourceOrigin, http.StatusBadGateway, "upgrade", "origin switched protocols without naming one", nil)
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return pipeline.Errorf(pipeline.SourceInternal, http.StatusInternalServerError, "upgrade", "cannot take over the client connection", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Time{})
	p.Upgrades.add(conn)
	defer p.Upgrades.remove(conn)
	p.Metrics.UpgradesActive.Inc()
	defer p.Metrics.UpgradesActive.Dec()

	hdr := res.Header.Clone()
	hdr.Del("Content-Length")
	res.Header = hdr
	res.Body = nil
	res.ProtoMajor, res.ProtoMinor = 1, 1
	ex.Status = http.StatusSwitchingProtocols
	if err := res.Write(brw); err != nil {
		return pipeline.Errorf(pipeline.SourceClient, pipeline.StatusClientClosed, "client_write", "client went away", err)
	}
	if err := brw.Flush(); err != nil {
		return pipeline.Errorf(pipeline.SourceClient, pipeline.StatusClientClosed, "client_write", "client went away", err)
	}
	done := make(chan struct{}, 2)
	p.spawn("upgrade-to-origin", func() { spliceOneWay(backend, brw, done) })
	p.spawn("upgrade-to-client", func() { spliceOneWay(conn, backend, done) })
	<-done
	return nil
}

// spliceOneWay copies until EOF or error, then signals done, even when the
// copy panics, so upgrade never waits on a direction that died. Closing
// both ends (by the deferred Closes in upgrade) ends the other direction.
func spliceOneWay(dst io.Writer, src io.Reader, done chan<- struct{}) {
	defer func() { done <- struct{}{} }()
	_, _ = io.Copy(dst, src)
}

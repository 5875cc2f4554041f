package proxy

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"levee/internal/guard"
	"levee/internal/pipeline"
	"levee/internal/telemetry"
)

// brokenBackend is an upgraded origin connection whose reads panic.
type brokenBackend struct{ closed chan struct{} }

func (b *brokenBackend) Read([]byte) (int, error)    { panic("backend read broke") }
func (b *brokenBackend) Write(p []byte) (int, error) { <-b.closed; return 0, io.ErrClosedPipe }
func (b *brokenBackend) Close() error {
	select {
	case <-b.closed:
	default:
		close(b.closed)
	}
	return nil
}

// A panic while copying an upgraded connection is recovered by the wall
// and counted; the upgrade ends and the client's connection is closed.
func TestUpgradeCopyPanicContained(t *testing.T) {
	wall := guard.New(slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	p := &Proxy{Metrics: telemetry.NewMetrics(), Upgrades: NewUpgradeSet(), Go: wall.Go}
	returned := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res := &http.Response{StatusCode: http.StatusSwitchingProtocols, ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}},
			Body:   &brokenBackend{closed: make(chan struct{})}}
		returned <- p.upgrade(w, r, &pipeline.Exchange{}, res)
	}))
	defer srv.Close()

	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, "101") {
		t.Fatalf("status line %q, %v", status, err)
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		t.Fatalf("client connection not closed after the panic: %v", err)
	}
	select {
	case err := <-returned:
		if err != nil {
			t.Fatalf("upgrade: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("upgrade did not return")
	}
	// done is signalled before the wall records the panic: wait for it.
	for i := 0; i < 500 && wall.Count("goroutine:upgrade-to-client") == 0; i++ {
		time.Sleep(2 * time.Millisecond)
	}
	if n := wall.Count("goroutine:upgrade-to-client"); n != 1 {
		t.Fatalf("panics counted %v, want 1", n)
	}
	if p.Upgrades.Len() != 0 {
		t.Fatal("upgraded connection still tracked")
	}
}

package modswitch

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

func newSet(t *testing.T, dir string) (*Set, *logBuf) {
	lb := &logBuf{}
	return New(slog.New(slog.NewTextHandler(lb, nil)), nil, dir), lb
}

func TestKillSwitchFile(t *testing.T) {
	dir := t.TempDir()
	s, _ := newSet(t, dir)
	bots, waf := s.Module("bots", FailOpen), s.Module("waf", FailClosed)
	if !bots.Active() || !waf.Active() {
		t.Fatal("modules start off without a file")
	}
	os.WriteFile(filepath.Join(dir, FileName), []byte("# test\nbots\n  \nnot-a-module\n"), 0o644)
	s.Poll()
	if bots.Active() || !waf.Active() {
		t.Fatalf("after the file: bots active %v, waf active %v", bots.Active(), waf.Active())
	}
	os.WriteFile(filepath.Join(dir, FileName), []byte(""), 0o644)
	s.Poll()
	if !bots.Active() {
		t.Fatal("emptied file did not revive bots")
	}
	os.WriteFile(filepath.Join(dir, FileName), []byte("waf\n"), 0o644)
	s.Poll()
	os.Remove(filepath.Join(dir, FileName))
	s.Poll()
	if !waf.Active() {
		t.Fatal("removed file did not revive waf")
	}
}

func TestKillSwitchAPIPersists(t *testing.T) {
	dir := t.TempDir()
	s, _ := newSet(t, dir)
	s.Module("bots", FailOpen)
	mux := http.NewServeMux()
	for p, h := range s.AdminRoutes() {
		mux.Handle(p, h)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	res, err := http.Post(srv.URL+"/modules/bots/kill", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(b), `"bots":{"killed":true`) {
		t.Fatalf("kill: %d %s", res.StatusCode, b)
	}
	if res, _ := http.Post(srv.URL+"/modules/nope/kill", "", nil); res.StatusCode != 404 {
		t.Fatalf("unknown module: %d", res.StatusCode)
	}
	// A restart: a new set on the same data directory starts with bots off.
	s2, _ := newSet(t, dir)
	if s2.Module("bots", FailOpen).Active() {
		t.Fatal("the kill switch did not survive a restart")
	}
	http.Post(srv.URL+"/modules/bots/revive", "", nil)
	s3, _ := newSet(t, dir)
	if !s3.Module("bots", FailOpen).Active() {
		t.Fatal("the revive did not survive a restart")
	}
}

func TestBreakerTripsLogsOnceAndReprobes(t *testing.T) {
	s, lb := newSet(t, "")
	m := s.Module("bots", FailOpen)
	m.SetBreaker(3, 10, time.Minute, 50*time.Millisecond)
	m.Failed("panic")
	m.Failed("panic")
	if !m.Active() {
		t.Fatal("open before the 3rd failure")
	}
	for i := 0; i < 5; i++ {
		m.Failed("panic")
	}
	if m.Active() {
		t.Fatal("not open after 3 failures")
	}
	if n := lb.count("module breaker open"); n != 1 {
		t.Fatalf("%d breaker log lines, want 1", n)
	}
	deadline := time.Now().Add(2 * time.Second)
	for !m.Active() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !m.Active() || lb.count("module breaker closed") != 1 {
		t.Fatal("the breaker did not re-probe after its cooldown")
	}
	m.Failed("panic")
	if !m.Active() {
		t.Fatal("one failure after the re-probe reopened it: the count was not reset")
	}
}

func TestActiveDoesNotAllocate(t *testing.T) {
	s, _ := newSet(t, "")
	m := s.Module("bots", FailOpen)
	if a := testing.AllocsPerRun(100, func() { m.Active() }); a != 0 {
		t.Fatalf("Active allocates %.0f times", a)
	}
}

// Budget overruns trip the breaker only in numbers: load alone must not
// switch a module off after a handful of slow requests.
func TestOverrunsTripAtTheirOwnThreshold(t *testing.T) {
	s, lb := newSet(t, "")
	m := s.Module("waf", FailOpen)
	m.SetBreaker(3, 10, time.Minute, time.Hour)
	for i := 0; i < 9; i++ {
		m.Failed("budget")
	}
	if !m.Active() {
		t.Fatal("open after 9 overruns, below the overrun threshold of 10")
	}
	m.Failed("budget")
	if m.Active() || lb.count("module breaker open") != 1 {
		t.Fatal("not open after the 10th overrun")
	}
}

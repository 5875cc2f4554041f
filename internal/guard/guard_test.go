package guard

import (
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestGoRecoversAndCounts(t *testing.T) {
	var buf strings.Builder
	var mu sync.Mutex
	w := New(slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), nil)), prometheus.NewRegistry())
	var wg sync.WaitGroup
	wg.Add(1)
	w.Go("worker", func() {
		defer wg.Done()
		panic("boom")
	})
	wg.Wait()
	// wg.Done runs before the wall records the panic: wait for the record.
	for i := 0; i < 500 && w.Count("goroutine:worker") == 0; i++ {
		time.Sleep(2 * time.Millisecond)
	}
	if ok := w.Run("inline", func() { var p *int; _ = *p }); ok {
		t.Fatal("Run reported success for a panicking func")
	}
	if !w.Run("fine", func() {}) {
		t.Fatal("Run reported failure for a normal func")
	}
	if w.Count("goroutine:worker") != 1 || w.Count("goroutine:inline") != 1 || w.Count("goroutine:fine") != 0 {
		t.Fatalf("counts: %v %v", w.Count("goroutine:worker"), w.Count("goroutine:inline"))
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(buf.String(), `"panic":"boom"`) || !strings.Contains(buf.String(), "stack") {
		t.Fatalf("log: %s", buf.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

var _ io.Writer = writerFunc(nil)

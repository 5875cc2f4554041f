// Package guard holds levee's panic walls: every request, DNS query and
// background goroutine runs behind one, so that no panic ends the process.
package guard

import (
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"

	"levee/internal/telemetry"
)

// Wall recovers panics, logs them with their stack once, and counts them in
// levee_panics_total{where}. The zero value is not usable; use New.
type Wall struct {
	log    *slog.Logger
	panics *prometheus.CounterVec
}

// New returns a Wall that logs to log and registers its counter on reg.
func New(log *slog.Logger, reg prometheus.Registerer) *Wall {
	w := &Wall{
		log: log,
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "levee_panics_total",
			Help: "Panics recovered by a panic wall, by where they happened.",
		}, []string{"where"}),
	}
	if reg != nil {
		reg.MustRegister(w.panics)
	}
	return w
}

// Record logs and counts a recovered panic value. It is for walls that must
// answer something themselves (an HTTP 500, a DNS SERVFAIL) after recovering.
func (w *Wall) Record(where string, v any, attrs ...slog.Attr) {
	args := []any{"where", where, "panic", fmt.Sprint(v), "stack", string(debug.Stack())}
	for _, a := range attrs {
		args = append(args, a)
	}
	w.log.Error("panic recovered", args...)
	// Counted after logging, so a count always has its log line.
	w.panics.WithLabelValues(where).Inc()
}

// Count returns how many panics were recorded for where; for tests and status.
func (w *Wall) Count(where string) float64 {
	return telemetry.Value(w.panics.WithLabelValues(where))
}

// Go runs fn in a new goroutine behind a wall: a panic is logged and counted
// under "goroutine:"+name and the goroutine ends; the process carries on.
func (w *Wall) Go(name string, fn func()) {
	go w.Run(name, fn)
}

// Run calls fn behind a wall in the current goroutine and reports whether
// fn returned without panicking.
func (w *Wall) Run(name string, fn func()) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			w.Record("goroutine:"+name, v)
			ok = false
		}
	}()
	fn()
	return true
}

// Package demo is the small origin and embedded config behind `levee demo`:
// enough to see levee proxy, stream, upgrade and fail in one step.
package demo

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Config is the embedded default config; {{ORIGIN}}, {{LISTEN}} and
// {{ADMIN}} are filled in by Render.
//
//go:embed demo.yaml
var Config string

// Render returns the demo config for the given addresses.
func Render(origin, listen, admin string) []byte {
	r := strings.NewReplacer("{{ORIGIN}}", origin, "{{LISTEN}}", listen, "{{ADMIN}}", admin)
	return []byte(r.Replace(Config))
}

// Origin returns the demo origin's handler.
func Origin() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=60")
		fmt.Fprintf(w, "<!doctype html><title>levee demo</title><h1>Hello from the demo origin</h1><p>Served via %s at %s</p>\n",
			r.Header.Get("Via"), time.Now().UTC().Format(time.RFC3339))
	})
	mux.HandleFunc("GET /api/time", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(map[string]any{
			"time": time.Now().UTC().Format(time.RFC3339Nano), "client": r.Header.Get("X-Forwarded-For"),
			"request_id": r.Header.Get("X-Request-Id"),
		})
	})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		ms = min(max(ms, 0), 10000)
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		fmt.Fprintf(w, "slept %d ms\n", ms)
	})
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 1; i <= 5; i++ {
			fmt.Fprintf(w, "data: tick %d\n\n", i)
			http.NewResponseController(w).Flush()
			select {
			case <-time.After(200 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
		bufio.NewReader(r.Body).WriteTo(w)
	})
	return mux
}

// ListenOrigin starts the demo origin on addr and returns its URL and a
// stop func. goFn, when given, starts the server's goroutine: pass the
// node's guard.Wall.Go so a panic there is recovered and counted.
func ListenOrigin(addr string, goFn ...func(name string, fn func())) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: Origin(), ReadHeaderTimeout: 5 * time.Second}
	serve := func() { _ = srv.Serve(ln) }
	if len(goFn) > 0 && goFn[0] != nil {
		goFn[0]("demo-origin", serve)
	} else {
		go serve()
	}
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

package demo

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"levee/internal/guard"
)

// The origin's server goroutine is started by the go func it is given
// (the node's wall), and the origin serves.
func TestListenOriginRunsBehindTheWall(t *testing.T) {
	wall := guard.New(slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	var started []string
	url, stop, err := ListenOrigin("127.0.0.1:0", func(name string, fn func()) {
		started = append(started, name)
		wall.Go(name, fn)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if len(started) != 1 || started[0] != "demo-origin" {
		t.Fatalf("goroutines started through the wall: %v", started)
	}
	res, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "demo origin") {
		t.Fatalf("origin answered %d %q", res.StatusCode, body)
	}
}

// Render fills every placeholder.
func TestRenderFillsPlaceholders(t *testing.T) {
	out := string(Render("http://127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"))
	if strings.Contains(out, "{{") || !strings.Contains(out, "http://127.0.0.1:1") {
		t.Fatalf("rendered config:\n%s", out)
	}
}

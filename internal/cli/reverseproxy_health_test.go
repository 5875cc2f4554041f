package cli

import (
	"strings"
	"testing"
	"time"

	"levee/internal/config"
	"levee/internal/health"
)

func TestQuickModeFailoverSetup(t *testing.T) {
	q := &quickOptions{from: "127.0.0.1:8080", admin: "off",
		to: []string{"http://127.0.0.1:9001", "127.0.0.1:9002"}, backup: []string{"http://127.0.0.1:9003"},
		healthURI: "/healthz", healthEvery: 2 * time.Second}
	src, err := quickConfig(q)
	if err != nil {
		t.Fatal(err)
	}
	p, err := config.Load("quick", src)
	if err != nil {
		t.Fatalf("quick config rejected: %v\n%s", err, src)
	}
	c := p.Config
	r := c.Sites[0].Routes[0]
	if len(c.Pools) != 2 || strings.Join(r.Pools, ",") != "primary,backup" {
		t.Fatalf("pools %+v, route pools %v", c.Pools, r.Pools)
	}
	if len(c.Pools[0].Origins) != 2 || c.Pools[0].Origins[1].URL != "http://127.0.0.1:9002" || c.Pools[1].Origins[0].URL != "http://127.0.0.1:9003" {
		t.Fatalf("origins: %+v / %+v", c.Pools[0].Origins, c.Pools[1].Origins)
	}
	for _, pl := range c.Pools {
		a := pl.Health.Active
		if a == nil || a.Path != "/healthz" || a.Interval.D() != 2*time.Second || a.Rise != health.DefaultRise {
			t.Fatalf("pool %s health: %+v", pl.Name, pl.Health)
		}
	}
	if r.Retries.Attempts != config.DefaultAttempts || len(r.Retries.OnStatus) != 3 {
		t.Fatalf("retries not defaulted after a YAML round trip: %+v", r.Retries)
	}
}

func TestQuickModeHealthFlagErrors(t *testing.T) {
	for _, c := range []struct {
		q    quickOptions
		want string
	}{
		{quickOptions{to: []string{"a:1"}, healthEvery: time.Second}, "needs --health-uri"},
		{quickOptions{to: []string{"a:1"}, healthURI: "healthz"}, "must start with /"},
	} {
		c.q.from, c.q.admin = "127.0.0.1:1", "off"
		if _, err := quickConfig(&c.q); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err %v, want %q", c.q, err, c.want)
		}
	}
	q := quickOptions{from: "127.0.0.1:1", admin: "off", to: []string{"a:1"}}
	src, err := quickConfig(&q)
	if err != nil {
		t.Fatal(err)
	}
	p, err := config.Load("quick", src)
	if err != nil {
		t.Fatal(err)
	}
	if r := p.Config.Sites[0].Routes[0]; r.Health != nil || len(r.Origins) != 1 || len(p.Config.Pools) != 0 {
		t.Fatalf("plain --to must stay one inline pool without checks: %+v", r)
	}
}

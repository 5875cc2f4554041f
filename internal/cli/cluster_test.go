package cli

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"levee/internal/config"
)

// --cluster puts the store in the cluster section and names the node
// after the host and the listen port, so two nodes on one host differ.
func TestQuickCluster(t *testing.T) {
	src, err := quickConfig(&quickOptions{from: "127.0.0.1:8081", admin: "off", to: []string{"127.0.0.1:9"},
		cluster: "redis://127.0.0.1:6379/0", rateLimit: "100/s"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := config.Load("quick", src)
	if err != nil {
		t.Fatalf("quick config does not load: %v\n%s", err, src)
	}
	c := p.Config.Cluster
	if c.Redis != "redis://127.0.0.1:6379/0" || !strings.HasSuffix(c.Node, "-8081") || c.Advertise != "http://127.0.0.1:8081" {
		t.Fatalf("cluster = %+v", c)
	}
	if r := p.Config.Shield.Rules; len(r) != 1 || r[0].Scope != "cluster" {
		t.Fatalf("--rate-limit with --cluster is not cluster-wide: %+v", r)
	}
}

// levee cluster status prints the members the node answers with.
func TestClusterStatusPrintsMembers(t *testing.T) {
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cluster" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"enabled":true,"node":"a","store":"up","purge_seq":7,"members":[
			{"name":"a","version":"1.2","config_version":"abc","health":"serving","last_heartbeat":"2026-01-01T00:00:00Z"},
			{"name":"b","version":"1.2","config_version":"abc","health":"serving","last_heartbeat":"2026-01-01T00:00:00Z"}]}`))
	}))
	defer admin.Close()
	code, out, errOut := run("cluster", "status", "--admin", admin.URL)
	if code != 0 || !strings.Contains(out, "node a, store up") || !strings.Contains(out, "\nb ") {
		t.Fatalf("exit %d, out %q, err %q", code, out, errOut)
	}
}

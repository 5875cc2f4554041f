package cluster_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"levee/internal/cluster"
	"levee/internal/leveetest"
)

// DataFiles finds every data file a config names and reads it; a file it
// cannot read refuses the push, naming the file and its line.
func TestDataFilesNamedByTheConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	feat, allow, deny, zone := write("features.csv", "f"), write("allow.txt", "a"), write("deny.txt", "d"), write("zone", "z")
	src := fmt.Sprintf(`bots: {features: %q}
shield: {lists: {allow_file: %q, deny_file: %q}}
dns: {zones: [{origin: example.com., file: %q}, {origin: example.net., records: []}, {origin: example.org., file: %q}]}
`, feat, allow, deny, zone, zone)
	files, err := cluster.DataFiles([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range files {
		got[f.Path] = f.Data
	}
	want := map[string]string{feat: "f", allow: "a", deny: "d", zone: "z"}
	if len(files) != len(want) || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("files %v, want %v (each once)", got, want)
	}
	_, err = cluster.DataFiles([]byte("shield:\n  lists:\n    deny_file: " + filepath.Join(dir, "missing") + "\n"))
	if err == nil || !strings.Contains(err.Error(), "missing (line 3)") {
		t.Errorf("a missing file: %v", err)
	}
}

func denyListYAML(origin, file string) string {
	return pushedYAML(origin, fmt.Sprintf("shield: {lists: {deny_file: %q}}\n", file))
}

// A list file rides with its config: every node gets the pusher's bytes
// (the pusher's copy is gone by then), and a malformed one pushed next is
// refused by the canary's gate while every node keeps the last good list.
func TestDataFilesRollOutAndBadOneKeepsLastGood(t *testing.T) {
	r := leveetest.StartRedis(t)
	o := textOrigin(t, "A")
	nodes := startRolloutCluster(t, r, o.URL, 100*time.Millisecond)
	cfg := pusher(r, 100*time.Millisecond)
	list := filepath.Join(t.TempDir(), "deny.txt")
	if err := os.WriteFile(list, []byte("127.0.0.0/8\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	push := func() cluster.Plan {
		t.Helper()
		src := []byte(denyListYAML(o.URL, list))
		files, err := cluster.DataFiles(src)
		if err != nil {
			t.Fatal(err)
		}
		p, err := cluster.Push(cfg, src, cluster.PushOptions{By: "test", Files: files})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if refused(nodes[0].URL("/")) {
		t.Fatal("refused before any list was pushed")
	}
	good := push()
	os.Remove(list)
	eventually(t, 10*time.Second, "the list version done", func() bool {
		pl := rolloutStatus(t, nodes[2]).Config.Plan
		return pl != nil && pl.Version == good.Version && pl.State == cluster.StateDone
	})
	denied := func(when string) {
		t.Helper()
		for i, n := range nodes {
			if !refused(n.URL("/")) {
				t.Errorf("%s: n%d served 127.0.0.1, want it refused by the pushed deny list", when, i+1)
			}
		}
	}
	denied("after the rollout")

	if err := os.WriteFile(list, []byte("127.0.0.0/8\nnot an address\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := push()
	eventually(t, 10*time.Second, "the malformed list rejected", func() bool {
		pl := rolloutStatus(t, nodes[0]).Config.Plan
		return pl != nil && pl.Version == bad.Version && pl.State == cluster.StateRejected
	})
	if pl := rolloutStatus(t, nodes[0]).Config.Plan; !strings.Contains(pl.Reason, "not an address") {
		t.Errorf("reason %q: want the refused line", pl.Reason)
	}
	for i, n := range nodes {
		if st := rolloutStatus(t, n).Config; st.Applied != good.Version {
			t.Errorf("n%d runs version %d, want the last good %d", i+1, st.Applied, good.Version)
		}
	}
	denied("after the malformed list")
}

// refused reports whether the node turned the client away: the deny
// list closes the connection at accept (or answers 403).
func refused(url string) bool {
	cl := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := cl.Get(url)
	if err != nil {
		return true
	}
	res.Body.Close()
	return res.StatusCode == http.StatusForbidden
}

package cache_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"levee/internal/app"
	"levee/internal/cli"
	"levee/internal/leveetest"
)

func tagOrigin(t *testing.T) *leveetest.Origin {
	return leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("ETag", `"e"`)
		if strings.HasPrefix(r.URL.Path, "/p/") {
			w.Header().Set("Cache-Tag", "prod, all")
			w.Header().Set("Surrogate-Key", "skey other")
		}
		if r.Header.Get("If-None-Match") == `"e"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write([]byte("obj " + r.URL.Path))
	}))
}

func purge(t *testing.T, n *leveetest.Node, body string) (int, map[string]any) {
	t.Helper()
	res, err := http.Post(n.AdminURL("/purge"), "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func TestPurge(t *testing.T) {
	cases := []struct {
		body   string
		purged float64
		gone   []string // paths that miss afterwards
		kept   []string // paths still hit
	}{
		{`{"url": "http://h1.test/p/1"}`, 1, []string{"h1.test/p/1"}, []string{"h1.test/p/2", "h2.test/p/1"}},
		{`{"url": "/p/1"}`, 2, []string{"h1.test/p/1", "h2.test/p/1"}, []string{"h1.test/p/2"}},
		{`{"prefix": "h1.test/p/"}`, 2, []string{"h1.test/p/1", "h1.test/p/2"}, []string{"h1.test/x", "h2.test/p/1"}},
		{`{"prefix": "/p/"}`, 3, []string{"h1.test/p/1", "h2.test/p/1"}, []string{"h1.test/x"}},
		{`{"host": "h2.test"}`, 1, []string{"h2.test/p/1"}, []string{"h1.test/p/1"}},
		{`{"tag": "prod"}`, 3, []string{"h1.test/p/2"}, []string{"h1.test/x"}},
		{`{"tag": "skey"}`, 3, []string{"h2.test/p/1"}, []string{"h1.test/x"}},
		{`{"all": true}`, 4, []string{"h1.test/x", "h1.test/p/1"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.body, func(t *testing.T) {
			o := tagOrigin(t)
			n := node(t, o.URL, "", "")
			fetch := func(hp string) *http.Response {
				host, path, _ := strings.Cut(hp, "/")
				res, _ := get(t, "GET", n.URL("/"+path), "Host: "+host)
				return res
			}
			for _, hp := range []string{"h1.test/p/1", "h1.test/p/2", "h2.test/p/1", "h1.test/x"} {
				fetch(hp)
			}
			code, out := purge(t, n, tc.body)
			if code != 200 || out["purged"] != tc.purged {
				t.Fatalf("purge answered %d %v, want %v purged", code, out, tc.purged)
			}
			for _, hp := range tc.gone {
				wantStatus(t, fetch(hp), 200, "fwd=miss")
			}
			for _, hp := range tc.kept {
				wantStatus(t, fetch(hp), 200, "hit")
			}
		})
	}
}

func TestPurgeBadRequest(t *testing.T) {
	o := tagOrigin(t)
	n := node(t, o.URL, "", "")
	for _, body := range []string{`{}`, `{"url": "a", "tag": "b"}`, `{"bogus": 1}`, `not json`} {
		if code, _ := purge(t, n, body); code != 400 {
			t.Fatalf("%s: %d, want 400", body, code)
		}
	}
}

// A soft purge marks stale: the next request revalidates (304 here), and
// the stale object would still be served if the origin failed.
func TestSoftPurge(t *testing.T) {
	o := tagOrigin(t)
	n := node(t, o.URL, "", "")
	get(t, "GET", n.URL("/s"))
	if _, out := purge(t, n, `{"url": "/s", "soft": true}`); out["purged"] != 1.0 {
		t.Fatalf("soft purge: %v", out)
	}
	res, body := get(t, "GET", n.URL("/s"))
	wantStatus(t, res, 200, "fwd=stale; fwd-status=304")
	if body != "obj /s" || o.Hits() != 2 {
		t.Fatalf("body %q hits %d", body, o.Hits())
	}
	wantStatus(t, func() *http.Response { r, _ := get(t, "GET", n.URL("/s")); return r }(), 200, "hit")
}

// A purge must not cause a stampede: after it, concurrent requests for
// the purged object make one origin request.
func TestPurgeNoStampede(t *testing.T) {
	o := tagOrigin(t)
	n := node(t, o.URL, "", "")
	get(t, "GET", n.URL("/hot"))
	purge(t, n, `{"all": true}`)
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, body := get(t, "GET", n.URL("/hot"))
			if res.StatusCode != 200 || body != "obj /hot" {
				t.Errorf("%d %q", res.StatusCode, body)
			}
		}()
	}
	wg.Wait()
	if o.Hits() != 2 {
		t.Fatalf("origin hits %d, want 2 (one fill before, one after the purge)", o.Hits())
	}
}

// Purged objects stay purged across a restart of a node with a disk tier.
func TestPurgeDisk(t *testing.T) {
	dir := t.TempDir()
	o := tagOrigin(t)
	n1 := diskNode(t, o.URL, dir)
	get(t, "GET", n1.URL("/p/1"))
	get(t, "GET", n1.URL("/keep"))
	n1.Shutdown()
	n2 := diskNode(t, o.URL, dir)
	if _, out := purge(t, n2, `{"tag": "prod"}`); out["purged"] != 1.0 {
		t.Fatalf("purge on disk-only objects: %v", out)
	}
	wantStatus(t, func() *http.Response { r, _ := get(t, "GET", n2.URL("/p/1")); return r }(), 200, "fwd=miss")
	wantStatus(t, func() *http.Response { r, _ := get(t, "GET", n2.URL("/keep")); return r }(), 200, "hit")
}

// The levee purge command talks to the admin API and prints the count.
func TestPurgeCommand(t *testing.T) {
	o := tagOrigin(t)
	n := node(t, o.URL, "", "")
	get(t, "GET", n.URL("/p/1"))
	var out, errb bytes.Buffer
	admin := strings.TrimPrefix(n.AdminURL(""), "http://")
	code := cli.Main([]string{"purge", "--admin", admin, "--tag", "prod"}, &out, &errb)
	if code != 0 || !strings.Contains(out.String(), "purged 1 object\n") {
		t.Fatalf("exit %d, out %q err %q", code, out.String(), errb.String())
	}
	code = cli.Main([]string{"purge", "--admin", admin}, &out, &errb)
	if code != cli.ExitUsage {
		t.Fatalf("purge without a selector: exit %d, want %d", code, cli.ExitUsage)
	}
}

// A reload that changes the cache rules keeps the stored objects.
func TestReloadKeepsObjects(t *testing.T) {
	o := tagOrigin(t)
	n := node(t, o.URL, "", "")
	get(t, "GET", n.URL("/r"))
	y, _ := os.ReadFile(n.ConfigPath)
	next := strings.Replace(string(y), "        cache: {}\n", "        cache: {default_ttl: 5s}\n", 1)
	if next == string(y) {
		t.Fatal("config not changed")
	}
	if code, body := n.PostConfig(next); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	wantStatus(t, func() *http.Response { r, _ := get(t, "GET", n.URL("/r")); return r }(), 200, "hit")
	if o.Hits() != 1 {
		t.Fatalf("hits %d", o.Hits())
	}
}

// A disk tier that cannot be written is a counted bypass, never a 5xx.
func TestDiskErrorIsBypass(t *testing.T) {
	dir := t.TempDir()
	o := tagOrigin(t)
	n := diskNode(t, o.URL, dir)
	// Replace the fan-out directories' parent with a file: every write fails.
	os.RemoveAll(dir)
	os.WriteFile(dir, []byte("not a dir"), 0o600)
	for i := 0; i < 3; i++ {
		res, _ := get(t, "GET", n.URL(fmt.Sprintf("/e%d", i)))
		if res.StatusCode != 200 {
			t.Fatalf("status %d", res.StatusCode)
		}
	}
	res, _ := get(t, "GET", n.URL("/e0"))
	wantStatus(t, res, 200, "hit") // still served from memory
	n.Shutdown()                   // drains the disk writer
	if v := metric(n, "levee_cache_disk_errors_total"); v < 1 {
		t.Fatalf("disk errors counted: %v", v)
	}
	if c := n.Logs.Count("disk tier error"); c != 1 {
		t.Fatalf("disk error logged %d times, want once", c)
	}
}

// Validating a config (levee validate) opens nothing: no disk directory
// is created and no writer starts.
func TestValidateHasNoSideEffects(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	err := app.Check("t.yaml", []byte(fmt.Sprintf(`
listeners: [{listen: "127.0.0.1:0"}]
cache: {disk: {path: %q}}
sites: [{name: s, hosts: ["*"], routes: [{path: /, origins: [{url: "http://127.0.0.1:1"}], cache: {}}]}]
`, dir)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("validate created the disk directory: %v", err)
	}
}

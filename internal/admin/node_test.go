package admin_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"levee/internal/admin"
	"levee/internal/app"
	"levee/internal/leveetest"
)

// A node whose admin address is not loopback refuses to start without a
// token, before it opens the socket, and says how to make one.
func TestNodeRefusesNonLoopbackAdminWithoutToken(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "levee.yaml")
	os.WriteFile(cfg, []byte(`admin: {listen: "0.0.0.0:0"}
listeners: [{listen: "127.0.0.1:0"}]
sites: [{name: s, hosts: ["*"], routes: [{path: /, origins: [{url: "http://127.0.0.1:1"}]}]}]
`), 0o600)
	n := app.New(app.Options{ConfigPath: cfg, DataDir: filepath.Join(dir, "data"), Strict: true, Log: &leveetest.SyncBuffer{}, Access: &leveetest.SyncBuffer{}})
	err := n.Start()
	if err == nil {
		n.Shutdown()
		t.Fatal("the node started with a non-loopback admin address and no token")
	}
	if !strings.Contains(err.Error(), "not a loopback address") || !strings.Contains(err.Error(), "levee token create") {
		t.Fatalf("error: %v", err)
	}
}

// metricSum adds up a counter family in the node's /metrics text.
func metricSum(t *testing.T, url, name string) float64 {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var sum float64
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

// The overview's totals are the node's metrics: after a known number of
// requests, /api/v1/overview and /metrics agree, also per status class.
func TestOverviewMatchesMetrics(t *testing.T) {
	o := leveetest.NewOrigin(t, leveetest.Text("hi"))
	n := leveetest.Start(t, fmt.Sprintf(`
listeners: [{listen: "127.0.0.1:0"}]
log: {access: false}
sites: [{name: s, hosts: ["*"], routes: [{path: /, origins: [{url: %q}]}]}]
`, o.URL))
	const N = 13
	for range N {
		leveetest.Get(t, n.URL("/"))
	}
	res, err := http.Get(n.AdminURL("/api/v1/overview"))
	if err != nil {
		t.Fatal(err)
	}
	var ov struct {
		Totals admin.Totals `json:"totals"`
	}
	json.NewDecoder(res.Body).Decode(&ov)
	res.Body.Close()
	m := metricSum(t, n.AdminURL("/metrics"), "levee_http_requests_total")
	if ov.Totals.Requests != N || m != N || ov.Totals.Classes["2xx"] != N {
		t.Fatalf("overview %v requests (%v 2xx), /metrics %v, want %d", ov.Totals.Requests, ov.Totals.Classes["2xx"], m, N)
	}
}

// The series holds one hour of one-second samples in fixed memory: after
// more than an hour of samples it still holds 3600, the newest, each the
// count of its own second.
func TestSeriesKeepsOneHourOfDeltas(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_http_requests_total"}, []string{"site", "code"})
	reg.MustRegister(c)
	s := admin.NewSeries(reg)
	start := time.Unix(1_000_000, 0)
	s.Sample(start) // the baseline
	for i := 1; i <= admin.SeriesLength+500; i++ {
		c.WithLabelValues("s", "2xx").Add(float64(i % 7))
		c.WithLabelValues("s", "5xx").Add(1)
		s.Sample(start.Add(time.Duration(i) * time.Second))
	}
	if s.Len() != admin.SeriesLength {
		t.Fatalf("holds %d samples", s.Len())
	}
	all := s.Since(0)
	if len(all) != admin.SeriesLength || all[0].T != start.Unix()+501 || all[len(all)-1].T != start.Unix()+int64(admin.SeriesLength+500) {
		t.Fatalf("%d samples from %d to %d", len(all), all[0].T, all[len(all)-1].T)
	}
	for _, sm := range all {
		i := sm.T - start.Unix()
		if sm.C2xx != float64(i%7) || sm.C5xx != 1 || sm.Requests != float64(i%7)+1 {
			t.Fatalf("sample %d: %+v", i, sm)
		}
	}
	if got := s.Since(all[len(all)-3].T); len(got) != 2 {
		t.Fatalf("since: %d samples", len(got))
	}
}

// Every route the OpenAPI document names answers on a running node: none
// falls through to the API's "no route" answer, under any method.
func TestOpenAPIRoutesAnswerOnARealNode(t *testing.T) {
	n := leveetest.Start(t, `
listeners: [{listen: "127.0.0.1:0"}]
log: {access: false}
sites: [{name: s, hosts: ["*"], routes: [{path: /, origins: [{url: "http://127.0.0.1:1"}]}]}]
`)
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(admin.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	count := 0
	for path, ops := range doc.Paths {
		for method := range ops {
			req, _ := http.NewRequest(strings.ToUpper(method), n.AdminURL(concrete(path)), strings.NewReader("{}"))
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body strings.Builder
			io.Copy(&body, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusMethodNotAllowed || strings.Contains(body.String(), "no API route") {
				t.Errorf("%s %s: %d %s", method, path, res.StatusCode, body.String())
			}
			count++
		}
	}
	if count < 15 {
		t.Fatalf("only %d documented operations", count)
	}
}

// When a reload moves the admin address, the old socket is closed: a
// client of the old address is refused, and the new address answers.
func TestAdminAddressChangeClosesTheOldListener(t *testing.T) {
	o := leveetest.NewOrigin(t, leveetest.Text("hello"))
	cfg := func(admin string) string {
		return fmt.Sprintf(`admin: {listen: %q}
listeners: [{listen: "127.0.0.1:0"}]
log: {access: false}
sites: [{name: s, hosts: ["*"], routes: [{path: /, origins: [{url: %q}]}]}]
`, admin, o.URL)
	}
	n := leveetest.Start(t, cfg("127.0.0.1:0"))
	oldAddr := n.AdminAddr().String()
	newAddr := fmt.Sprintf("127.0.0.1:%d", leveetest.FreePort(t))
	// A request still running on the old server (a 20 s CPU profile) is
	// cut after the retire's grace, not served to its end: the old
	// server is closed, not only its socket.
	profile := make(chan error, 1)
	go func() {
		res, err := (&http.Client{Timeout: time.Minute}).Get("http://" + oldAddr + "/debug/pprof/profile?seconds=20")
		if err == nil {
			_, err = io.ReadAll(res.Body)
			res.Body.Close()
			if err == nil {
				err = fmt.Errorf("served to its end: %s", res.Status)
			}
		}
		profile <- err
	}()
	waitProfiling(t)
	if code, body := n.PostConfig(cfg(newAddr)); code != 200 {
		t.Fatalf("POST /config: %d %s", code, body)
	}
	if got := n.AdminAddr().String(); got != newAddr {
		t.Fatalf("admin address after the reload: %s, want %s", got, newAddr)
	}
	if code, _, _ := leveetest.Get(t, "http://"+newAddr+"/healthz"); code != 200 {
		t.Fatalf("the new admin address answers %d", code)
	}
	// The old server may still be finishing the POST that moved it; its
	// socket must be closed within the retire's grace period (5 s).
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", oldAddr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("the old admin address %s still accepts connections after the reload", oldAddr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case err := <-profile:
		if strings.Contains(err.Error(), "served to its end") {
			t.Fatalf("a request on the old admin server ran on after the reload: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a request on the old admin server is still open after 30 s")
	}
}

// waitProfiling waits until a CPU profile is running in this process (the
// profile request has reached its handler).
func waitProfiling(t *testing.T) {
	for range 200 {
		if pprof.StartCPUProfile(io.Discard) != nil {
			return
		}
		pprof.StopCPUProfile()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the profile request did not start")
}

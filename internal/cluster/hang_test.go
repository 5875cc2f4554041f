package cluster_test

import (
	"fmt"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"levee/internal/leveetest"
)

// hangProxy forwards TCP to the store until frozen; frozen, it keeps every
// connection open and accepts new ones, but moves no byte: a hung store,
// as a stuck server or a black-holed network looks to a client.
type hangProxy struct {
	ln     net.Listener
	frozen atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
	done   chan struct{}
}

func startHangProxy(t *testing.T, upstream string) *hangProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &hangProxy{ln: ln, done: make(chan struct{})}
	go p.accept(upstream)
	t.Cleanup(p.close)
	return p
}

func (p *hangProxy) url() string { return "redis://" + p.ln.Addr().String() + "/0" }

func (p *hangProxy) accept(upstream string) {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(c)
		go func() {
			p.waitThawed()
			up, err := net.DialTimeout("tcp", upstream, time.Second)
			if err != nil {
				c.Close()
				return
			}
			p.track(up)
			go p.pipe(up, c)
			p.pipe(c, up)
		}()
	}
}

func (p *hangProxy) track(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns = append(p.conns, c)
}

// waitThawed blocks while frozen (until the proxy closes).
func (p *hangProxy) waitThawed() {
	for p.frozen.Load() {
		select {
		case <-p.done:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (p *hangProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		p.waitThawed()
		n, err := src.Read(buf)
		if n > 0 {
			p.waitThawed()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (p *hangProxy) close() {
	select {
	case <-p.done:
		return
	default:
	}
	close(p.done)
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// The store hung (a proxy that stops forwarding) under load on three
// nodes with a cluster-scoped limit: no 5xx, the limit keeps answering on
// the local share, the nodes report the store down, and they converge
// when it answers again.
func TestStoreHungUnderLoad(t *testing.T) {
	r := leveetest.StartRedis(t)
	px := startHangProxy(t, r.Addr)
	o := cachedOrigin(t)
	var nodes []*leveetest.Node
	for i := 1; i <= 3; i++ {
		nodes = append(nodes, leveetest.Start(t, limitedYAML(px.url(), fmt.Sprintf("n%d", i), i, o.URL)))
	}
	for _, n := range nodes {
		eventually(t, 5*time.Second, "3 members", func() bool { return len(clusterStatus(t, n).Members) == 3 })
	}
	l := startLimitedLoad(t, nodes, "/h", true)
	time.Sleep(500 * time.Millisecond)
	px.frozen.Store(true)
	for _, n := range nodes {
		eventually(t, 5*time.Second, "store reported down", func() bool { return clusterStatus(t, n).Store == "down" })
	}
	okBefore := l.admitted()
	time.Sleep(outage(t))
	if l.admitted() == okBefore {
		t.Fatal("nothing admitted while the store hung: the limit did not fall back")
	}
	px.frozen.Store(false)
	for _, n := range nodes {
		eventually(t, 10*time.Second, "store back, 3 members", func() bool {
			s := clusterStatus(t, n)
			return s.Store == "up" && len(s.Members) == 3
		})
	}
	l.end()
	lat := l.latencies()
	t.Logf("admitted %d, limited %d, failed or 5xx %d; latency p50 %s p99 %s max %s", l.admitted(), l.total(l.limited), l.failed(),
		lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
	if l.failed() != 0 {
		t.Fatalf("%d requests failed or answered 5xx", l.failed())
	}
}

// limitedLoad is one client key's requests to every node every 5ms, over
// 20 paths under prefix, counted per node: admitted (200), limited (429),
// and failed or 5xx (anything else); with recordLatency, each answer's
// latency too.
type limitedLoad struct {
	ok, limited, bad []atomic.Int64
	stop             chan struct{}
	wg               sync.WaitGroup
	latMu            sync.Mutex
	lat              []time.Duration
}

func startLimitedLoad(t *testing.T, nodes []*leveetest.Node, prefix string, recordLatency bool) *limitedLoad {
	l := &limitedLoad{ok: make([]atomic.Int64, len(nodes)), limited: make([]atomic.Int64, len(nodes)),
		bad: make([]atomic.Int64, len(nodes)), stop: make(chan struct{})}
	for k, n := range nodes {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			cl := leveetest.Client()
			for i := 0; i < 100_000; i++ {
				select {
				case <-l.stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				l.one(cl, k, n.URL(fmt.Sprintf("%s%d", prefix, i%20)), recordLatency)
			}
		}()
	}
	t.Cleanup(l.end)
	return l
}

func (l *limitedLoad) one(cl *http.Client, k int, url string, recordLatency bool) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("X-Client", "one")
	start := time.Now()
	res, err := cl.Do(req)
	if err != nil {
		l.bad[k].Add(1)
		return
	}
	res.Body.Close()
	if recordLatency {
		l.latMu.Lock()
		l.lat = append(l.lat, time.Since(start))
		l.latMu.Unlock()
	}
	switch res.StatusCode {
	case http.StatusOK:
		l.ok[k].Add(1)
	case http.StatusTooManyRequests:
		l.limited[k].Add(1)
	default:
		l.bad[k].Add(1)
	}
}

// end stops the load and waits for it (once).
func (l *limitedLoad) end() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

func (l *limitedLoad) total(c []atomic.Int64) int64 {
	var s int64
	for i := range c {
		s += c[i].Load()
	}
	return s
}

func (l *limitedLoad) admitted() int64 { return l.total(l.ok) }
func (l *limitedLoad) failed() int64   { return l.total(l.bad) }

// latencies are the recorded latencies, sorted.
func (l *limitedLoad) latencies() []time.Duration {
	l.latMu.Lock()
	defer l.latMu.Unlock()
	lat := append([]time.Duration(nil), l.lat...)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat
}

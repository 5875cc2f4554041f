package bots

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"levee/internal/modswitch"
	"levee/internal/pipeline"
	"levee/internal/router"
)

const (
	chromeH2   = "1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p"
	chromeSets = "1:65536;2:0;4:6291456;6:262144"
)

// h2File is a feature file of the two HTTP/2 kinds: the whole
// fingerprint (commas and all, in CSV) and its SETTINGS part.
func h2File(whole, settings int) []byte {
	return []byte("#levee-bot-features schema=1\n" + csvHeader + "\n" +
		"h2-chrome,h2_fp," + chromeH2 + "," + strconv.Itoa(whole) + "\n" +
		"h2-chrome-settings,h2_settings," + chromeSets + "," + strconv.Itoa(settings) + "\n" +
		"#end 2\n")
}

func h2Model(t testing.TB) *Model {
	data := h2File(20, -7)
	feats, err := Parse(data, defLimits)
	if err != nil {
		t.Fatal(err)
	}
	if feats[0].Value != chromeH2 {
		t.Fatalf("h2_fp value parsed as %q", feats[0].Value)
	}
	return Compile(feats, data)
}

// The HTTP/2 fingerprint is weighed whole and by its SETTINGS part: the
// same SETTINGS with another WINDOW_UPDATE or header order takes the part's
// weight alone; no fingerprint (HTTP/1.x, or the server did not fill it)
// takes neither.
func TestScoreH2Fingerprint(t *testing.T) {
	m := h2Model(t)
	cases := map[string]int{
		chromeH2:                        BaseScore + 20 - 7,
		chromeSets + "|65535|0|m,p,a,s": BaseScore - 7,
		"2:0;4:4194304;6:10485760|1073741824|0|m,a,s,p": BaseScore,
		"": BaseScore,
	}
	for fp, want := range cases {
		s := Signals{Header: http.Header{}, ProtoMajor: 2, H2: fp}
		if got := m.Score(&s); got != want {
			t.Errorf("H2 %q scored %d, want %d", fp, got, want)
		}
	}
	s := Signals{Header: http.Header{}, ProtoMajor: 2, H2: chromeH2}
	if a := testing.AllocsPerRun(100, func() { m.Score(&s) }); a != 0 {
		t.Fatalf("Score with an HTTP/2 fingerprint allocates %.0f times", a)
	}
}

func TestH2FeaturesJSONLinesAndBadValues(t *testing.T) {
	jl := "{\"schema\":1}\n{\"name\":\"a\",\"signal\":\"h2_fp\",\"value\":\"" + chromeH2 + "\",\"weight\":3}\n{\"end\":1}\n"
	if f, err := Parse([]byte(jl), defLimits); err != nil || f[0].Value != chromeH2 {
		t.Fatalf("JSON Lines h2_fp: %v %v", f, err)
	}
	bad := map[string]string{
		"h2_fp, three parts":             "h2_fp," + chromeSets + "|15663105|m,a,s,p",
		"h2_fp, settings not pairs":      "h2_fp,1-65536|15663105|0|m,a,s,p",
		"h2_fp, window not a number":     "h2_fp," + chromeSets + "|x|0|m,a,s,p",
		"h2_fp, no header order":         "h2_fp," + chromeSets + "|15663105|0|",
		"h2_fp, odd character":           "h2_fp," + chromeSets + "|15663105|0|m;a",
		"h2_settings, whole fingerprint": "h2_settings," + chromeH2,
		"h2_settings, empty":             "h2_settings,",
		"h2_settings, missing value":     "h2_settings,1:;4:6291456",
		"commas in another signal":       "ua_token,cu,rl",
	}
	for name, row := range bad {
		data := "#levee-bot-features schema=1\n" + csvHeader + "\nx," + row + ",5\n#end 1\n"
		if _, err := Parse([]byte(data), defLimits); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	ex, _ := Example(60)
	if !strings.Contains(string(ex), ",h2_fp,") || !strings.Contains(string(ex), ",h2_settings,") {
		t.Error("the example file has no HTTP/2 feature")
	}
}

// The phase reads the fingerprint from the connection's record in the
// request context (where the HTTP/2 server writes it), on HTTP/2 with and
// without TLS; the score sent to the origin moves by the features' weights
// and the phase still makes no allocation.
func TestPhaseScoresH2FromTheConnectionRecord(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := NewCapability(pipeline.Host{Log: log}, nil, modswitch.New(log, nil, "").Module("bots", modswitch.FailOpen))
	c.gate.put(h2Model(t), "test")
	rc := &RouteConfig{}
	rc.SetDefaults()
	st := &settings{header: DefaultScoreHeader, cookie: DefaultCookie, passTTL: time.Hour, challengeTTL: time.Minute}
	var sent string
	h := c.phase(st, []*routeRule{compileRoute(rc)})(pipeline.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
		sent = r.Header.Get(DefaultScoreHeader)
		return nil
	}))
	serve := func(r *http.Request) string {
		ex := pipeline.NewExchange(httptest.NewRecorder(), time.Now())
		ex.Route = &router.Route{ID: 0}
		ex.Client = netip.MustParseAddr("192.0.2.1")
		sent = ""
		if err := h.ServeHTTP(ex, r); err != nil {
			t.Fatal(err)
		}
		return sent
	}
	request := func(major int, fp string) *http.Request {
		ctx := pipeline.WithHello(context.Background())
		pipeline.HelloFrom(ctx).H2 = fp
		r, _ := http.NewRequestWithContext(ctx, "GET", "http://example.com/", nil)
		r.ProtoMajor, r.ProtoMinor = major, 0
		if major == 1 {
			r.ProtoMinor = 1
		}
		return r
	}
	for _, tc := range []struct {
		name  string
		major int
		fp    string
		want  int
	}{
		{"h2c, chrome's fingerprint", 2, chromeH2, BaseScore + 20 - 7},
		{"h2c, chrome's SETTINGS only", 2, chromeSets + "|65535|0|m,p,a,s", BaseScore - 7},
		{"h2c, not filled", 2, "", BaseScore},
		{"HTTP/1.1 carries no HTTP/2 fingerprint", 1, chromeH2, BaseScore},
	} {
		if got := serve(request(tc.major, tc.fp)); got != strconv.Itoa(tc.want) {
			t.Errorf("%s: score %s, want %d", tc.name, got, tc.want)
		}
	}
	r := request(2, chromeH2)
	r.TLS = nil
	ex := pipeline.NewExchange(httptest.NewRecorder(), time.Now())
	ex.Client = netip.MustParseAddr("192.0.2.1")
	rt := &router.Route{ID: 0}
	if a := testing.AllocsPerRun(100, func() { ex.Route = rt; _ = h.ServeHTTP(ex, r) }); a != 0 {
		t.Fatalf("the phase allocates %.0f times with an HTTP/2 fingerprint", a)
	}
}

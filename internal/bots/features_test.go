package bots

import (
	"bytes"
	"crypto/tls"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

var defLimits = Limits{MaxFeatures: DefaultMaxFeatures, MaxBytes: DefaultMaxFileBytes}

func TestShippedAndGeneratedFilesParse(t *testing.T) {
	if _, err := Parse(DefaultFeatures, defLimits); err != nil {
		t.Fatalf("shipped file: %v", err)
	}
	for _, n := range []int{0, 1, 37, 38, 200} {
		data, err := Example(n)
		if err != nil {
			t.Fatal(err)
		}
		feats, err := Parse(data, defLimits)
		if err != nil || len(feats) != n {
			t.Fatalf("Example(%d): %d features, %v", n, len(feats), err)
		}
	}
	if _, err := Example(HardMaxFeatures + 1); err == nil {
		t.Fatal("Example over the hard maximum accepted")
	}
}

// duplicated returns the file with every feature row written twice, as
// the 18 Nov 2025 query did.
func duplicated(data []byte) []byte {
	var b bytes.Buffer
	lines := strings.SplitAfter(string(data), "\n")
	rows := 0
	for _, l := range lines {
		if l == "" || strings.HasPrefix(l, "#end") {
			continue
		}
		b.WriteString(l)
		if !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, csvHeader) {
			b.WriteString(l)
			rows += 2
		}
	}
	b.WriteString(csvEnd + strconv.Itoa(rows) + "\n")
	return b.Bytes()
}

func TestParseRejectsBadFilesWhole(t *testing.T) {
	good, _ := Example(150)
	full, _ := Example(200)
	small, _ := Example(80)
	cases := map[string][]byte{
		"every row twice (over the bound)":  duplicated(full),
		"every row twice (duplicate names)": duplicated(small),
		"truncated mid-row":                 good[:len(good)/2],
		"truncated at a line boundary":      good[:bytes.LastIndex(good[:len(good)/2], []byte("\n"))+1],
		"empty":                             {},
		"blank":                             []byte("\n\n"),
		"wrong schema":                      bytes.Replace(good, []byte("schema=1"), []byte("schema=2"), 1),
		"no header":                         bytes.Replace(good, []byte(csvHeader+"\n"), nil, 1),
		"unknown signal":                    bytes.Replace(good, []byte(",ua_token,curl,"), []byte(",ua_tokn,curl,"), 1),
		"bad weight":                        bytes.Replace(good, []byte(",curl,-35"), []byte(",curl,-350"), 1),
		"five fields":                       bytes.Replace(good, []byte(",curl,-35"), []byte(",curl,x,-35"), 1),
		"end count wrong":                   bytes.Replace(good, []byte("#end 150"), []byte("#end 151"), 1),
		"json wrong schema":                 []byte("{\"schema\":2}\n{\"end\":0}\n"),
		"json unknown field":                []byte("{\"schema\":1}\n{\"name\":\"a\",\"signal\":\"ua_missing\",\"value\":\"\",\"weight\":1,\"x\":1}\n{\"end\":1}\n"),
		"json truncated":                    []byte("{\"schema\":1}\n{\"name\":\"a\",\"signal\":\"ua_missing\",\"value\":\"\",\"weight\":1}\n"),
	}
	for name, data := range cases {
		if _, err := Parse(data, defLimits); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	if _, err := Parse(good, Limits{MaxFeatures: 200, MaxBytes: 100}); err == nil {
		t.Error("over the byte limit: accepted")
	}
	ok := []byte("{\"schema\":1}\n{\"name\":\"a\",\"signal\":\"ua_missing\",\"value\":\"\",\"weight\":1}\n{\"end\":1}\n")
	if f, err := Parse(ok, defLimits); err != nil || len(f) != 1 {
		t.Errorf("JSON Lines: %v", err)
	}
}

// TestJA4SpecExample is the example of FoxIO's JA4 technical details: a
// Chrome ClientHello, GREASE values included.
func TestJA4SpecExample(t *testing.T) {
	h := &tls.ClientHelloInfo{
		CipherSuites:      []uint16{0x2a2a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035},
		Extensions:        []uint16{0x3a3a, 0x0000, 0x0017, 0xff01, 0x000a, 0x000b, 0x0023, 0x0010, 0x0005, 0x000d, 0x0012, 0x0033, 0x002d, 0x002b, 0x001b, 0x0015, 0x4469, 0x5a5a},
		SignatureSchemes:  []tls.SignatureScheme{0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601},
		SupportedVersions: []uint16{0x7a7a, tls.VersionTLS13, tls.VersionTLS12},
		SupportedProtos:   []string{"h2", "http/1.1"},
		ServerName:        "example.com",
	}
	if got, want := JA4(h), "t13d1516h2_8daaf6152771_e5627efa2ab1"; got != want {
		t.Fatalf("JA4 = %s, want %s", got, want)
	}
	h.Extensions = h.Extensions[2:] // no SNI
	h.SupportedProtos = nil
	h.CipherSuites = nil
	if got := JA4(h); !strings.HasPrefix(got, "t13i0015") || !strings.Contains(got, "00_000000000000_") {
		t.Fatalf("no SNI, ALPN or ciphers: %s", got)
	}
}

func browserRequest() *http.Request {
	r, _ := http.NewRequest("GET", "http://example.com/", nil)
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36")
	r.Header.Set("Accept", "text/html,application/xhtml+xml")
	r.Header.Set("Accept-Language", "en")
	r.Header.Set("Accept-Encoding", "gzip, br")
	r.Header.Set("Sec-Fetch-Mode", "navigate")
	return r
}

func signalsOf(r *http.Request) Signals {
	return Signals{UA: r.Header.Get("User-Agent"), Header: r.Header, Client: netip.MustParseAddr("192.0.2.7"), ProtoMajor: 1, ProtoMinor: 1}
}

func shippedModel(t testing.TB) *Model {
	feats, err := Parse(DefaultFeatures, defLimits)
	if err != nil {
		t.Fatal(err)
	}
	return Compile(feats, DefaultFeatures)
}

func TestScoreSeparatesLibrariesFromBrowsers(t *testing.T) {
	m := shippedModel(t)
	br := signalsOf(browserRequest())
	if s := m.Score(&br); s < 70 {
		t.Errorf("browser scored %d, want >= 70", s)
	}
	r, _ := http.NewRequest("GET", "http://example.com/", nil)
	r.Header.Set("User-Agent", "curl/8.5.0")
	r.Header.Set("Accept", "*/*")
	cu := signalsOf(r)
	if s := m.Score(&cu); s > 10 {
		t.Errorf("curl scored %d, want <= 10", s)
	}
	empty := Signals{Header: http.Header{}}
	if s := m.Score(&empty); s != 1 {
		t.Errorf("bare request scored %d, want 1 (clamped)", s)
	}
	br.Pass = true
	if s := m.Score(&br); s != 99 {
		t.Errorf("browser with a pass scored %d, want 99 (clamped)", s)
	}
}

func TestScoreDoesNotAllocate(t *testing.T) {
	m := shippedModel(t)
	s := signalsOf(browserRequest())
	if a := testing.AllocsPerRun(100, func() { m.Score(&s) }); a != 0 {
		t.Fatalf("Score allocates %.0f times per request", a)
	}
}

func BenchmarkScore(b *testing.B) {
	m := shippedModel(b)
	s := signalsOf(browserRequest())
	b.ReportAllocs()
	for b.Loop() {
		m.Score(&s)
	}
}

// BenchmarkScore200 scores with a full file of 200 features.
func BenchmarkScore200(b *testing.B) {
	data, _ := Example(200)
	feats, err := Parse(data, defLimits)
	if err != nil {
		b.Fatal(err)
	}
	m := Compile(feats, data)
	s := signalsOf(browserRequest())
	b.ReportAllocs()
	for b.Loop() {
		m.Score(&s)
	}
}

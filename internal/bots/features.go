package bots

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/textproto"
	"strconv"
	"strings"

	"levee/internal/config/schema"
)

// SchemaVersion is the feature file schema this levee reads. A file of
// another version is rejected whole: its meaning may differ.
const SchemaVersion = 1

// The feature file, CSV form:
//
//	#levee-bot-features schema=1
//	name,signal,value,weight
//	ua-curl,ua_token,curl,-35
//	...
//	#end 1
//
// JSON Lines form: {"schema":1}, then one {"name","signal","value",
// "weight"} object a line, then {"end":N}. The trailer carries the
// feature count, so a file cut at a line boundary is still found
// truncated. Other lines starting with '#' are comments (CSV only).
const (
	csvMagic  = "#levee-bot-features schema="
	csvHeader = "name,signal,value,weight"
	csvEnd    = "#end "
)

// Signals a feature can match, and what its value means.
const (
	SigUAToken     = "ua_token"           // a User-Agent product or comment word, case-insensitive
	SigUAMissing   = "ua_missing"         // no User-Agent (value empty)
	SigUAShorter   = "ua_shorter"         // User-Agent shorter than value bytes
	SigHeaderPres  = "header_present"     // header value is present
	SigHeaderAbs   = "header_absent"      // header value is absent
	SigHeaderCount = "header_count_below" // fewer than value header fields
	SigClientPfx   = "client_prefix"      // client address in the CIDR value
	SigJA4         = "ja4"                // the TLS ClientHello's JA4 equals value
	SigJA4A        = "ja4_a"              // JA4's first part (protocol, version, SNI, counts, ALPN)
	SigPlaintext   = "plaintext"          // not over TLS (value empty)
	SigHTTPVersion = "http_version"       // 1.0, 1.1 or 2
	SigPassCookie  = "pass_cookie"        // valid (a solved challenge's cookie) or absent
	SigH2          = "h2_fp"              // the HTTP/2 fingerprint (pipeline.Hello.H2) equals value
	SigH2Settings  = "h2_settings"        // the fingerprint's SETTINGS part (before the first '|') equals value
)

// Bounds of one feature.
const (
	maxValueLength = 128
	maxTokenLength = 64
	maxWeight      = 99
)

// Feature is one row of the feature file.
type Feature struct {
	Name   string `json:"name"`
	Signal string `json:"signal"`
	Value  string `json:"value"`
	Weight int    `json:"weight"`
}

// Limits bound a feature file.
type Limits struct {
	MaxFeatures int
	MaxBytes    int64
}

// Parse reads a whole feature file (CSV or JSON Lines, told by its first
// byte) and checks every bound. Any problem rejects the file whole; the
// error says where, in the operator's words.
func Parse(data []byte, lim Limits) ([]Feature, error) {
	if int64(len(data)) > lim.MaxBytes {
		return nil, fmt.Errorf("file is %d bytes, over the limit of %d", len(data), lim.MaxBytes)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("file is empty")
	}
	if data[len(data)-1] != '\n' {
		return nil, fmt.Errorf("file does not end with a newline: truncated")
	}
	lines := strings.Split(string(data[:len(data)-1]), "\n")
	var feats []Feature
	var err error
	if strings.HasPrefix(lines[0], "{") {
		feats, err = parseJSONL(lines, lim)
	} else {
		feats, err = parseCSV(lines, lim)
	}
	if err != nil {
		return nil, err
	}
	seen := make(map[string]int, len(feats))
	for i, f := range feats {
		if prev, dup := seen[f.Name]; dup {
			return nil, fmt.Errorf("feature %d: name %q repeats feature %d", i+1, f.Name, prev+1)
		}
		seen[f.Name] = i
		if err := f.check(); err != nil {
			return nil, fmt.Errorf("feature %d (%s): %v", i+1, f.Name, err)
		}
	}
	return feats, nil
}

func parseCSV(lines []string, lim Limits) ([]Feature, error) {
	v, ok := strings.CutPrefix(strings.TrimSuffix(lines[0], "\r"), csvMagic)
	if !ok {
		return nil, fmt.Errorf("line 1: want %q followed by the schema version", csvMagic)
	}
	if err := checkSchema(v); err != nil {
		return nil, fmt.Errorf("line 1: %v", err)
	}
	if len(lines) < 2 || strings.TrimSuffix(lines[1], "\r") != csvHeader {
		return nil, fmt.Errorf("line 2: want the header line %q", csvHeader)
	}
	var feats []Feature
	for i := 2; i < len(lines); i++ {
		line := strings.TrimSuffix(lines[i], "\r")
		if n, ok := strings.CutPrefix(line, csvEnd); ok {
			if i != len(lines)-1 {
				return nil, fmt.Errorf("line %d: the end line must be the last line", i+1)
			}
			return feats, checkEnd(n, len(feats))
		}
		if line == "" || line[0] == '#' {
			continue
		}
		if len(feats) == lim.MaxFeatures {
			return nil, fmt.Errorf("line %d: more than %d features", i+1, lim.MaxFeatures)
		}
		fields := strings.Split(line, ",")
		if len(fields) > 4 && fields[1] == SigH2 {
			// The fingerprint's pseudo-header order has commas of its
			// own ("m,a,s,p"); name, signal and weight never do.
			fields = []string{fields[0], fields[1], strings.Join(fields[2:len(fields)-1], ","), fields[len(fields)-1]}
		}
		if len(fields) != 4 {
			return nil, fmt.Errorf("line %d: want 4 comma-separated fields (name,signal,value,weight), got %d", i+1, len(fields))
		}
		w, err := strconv.Atoi(fields[3])
		if err != nil {
			return nil, fmt.Errorf("line %d: weight %q is not an integer", i+1, fields[3])
		}
		feats = append(feats, Feature{Name: fields[0], Signal: fields[1], Value: fields[2], Weight: w})
	}
	return nil, fmt.Errorf("no %q line at the end: truncated", strings.TrimSpace(csvEnd)+" N")
}

func parseJSONL(lines []string, lim Limits) ([]Feature, error) {
	var head struct {
		Schema *int `json:"schema"`
	}
	if err := strictJSON(lines[0], &head); err != nil || head.Schema == nil {
		return nil, fmt.Errorf("line 1: want {\"schema\":%d}", SchemaVersion)
	}
	if err := checkSchema(strconv.Itoa(*head.Schema)); err != nil {
		return nil, fmt.Errorf("line 1: %v", err)
	}
	var feats []Feature
	for i := 1; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if strings.HasPrefix(line, `{"end"`) {
			var end struct {
				End *int `json:"end"`
			}
			if err := strictJSON(line, &end); err != nil || end.End == nil {
				return nil, fmt.Errorf("line %d: want {\"end\":N}", i+1)
			}
			if i != len(lines)-1 {
				return nil, fmt.Errorf("line %d: the end line must be the last line", i+1)
			}
			return feats, checkEnd(strconv.Itoa(*end.End), len(feats))
		}
		if len(feats) == lim.MaxFeatures {
			return nil, fmt.Errorf("line %d: more than %d features", i+1, lim.MaxFeatures)
		}
		var f Feature
		if err := strictJSON(line, &f); err != nil {
			return nil, fmt.Errorf("line %d: %v", i+1, err)
		}
		feats = append(feats, f)
	}
	return nil, fmt.Errorf("no {\"end\":N} line at the end: truncated")
}

func strictJSON(line string, v any) error {
	d := json.NewDecoder(strings.NewReader(line))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("not a well-formed feature: %v", err)
	}
	if d.More() {
		return fmt.Errorf("more than one object on the line")
	}
	return nil
}

func checkSchema(v string) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n != SchemaVersion {
		return fmt.Errorf("schema version %q, this levee reads version %d", v, SchemaVersion)
	}
	return nil
}

func checkEnd(n string, got int) error {
	want, err := strconv.Atoi(strings.TrimSpace(n))
	if err != nil {
		return fmt.Errorf("end line count %q is not a number", n)
	}
	if want != got {
		return fmt.Errorf("end line says %d features, the file holds %d: truncated or edited", want, got)
	}
	return nil
}

// check validates one feature's name, signal, value and weight.
func (f *Feature) check() error {
	if f.Name == "" || len(f.Name) > schema.MaxNameLength || !schema.ValidName(f.Name) {
		return fmt.Errorf("name must be 1 to %d letters, digits, '-', '_' or '.'", schema.MaxNameLength)
	}
	if f.Weight < -maxWeight || f.Weight > maxWeight {
		return fmt.Errorf("weight %d is out of range -%d to %d", f.Weight, maxWeight, maxWeight)
	}
	if len(f.Value) > maxValueLength {
		return fmt.Errorf("value is %d bytes, over the limit of %d", len(f.Value), maxValueLength)
	}
	v := f.Value
	switch f.Signal {
	case SigUAToken:
		if v == "" || len(v) > maxTokenLength || !isUAToken(v) {
			return fmt.Errorf("ua_token %q must be 1 to %d lower-case letters, digits, '.', '_' or '-'", v, maxTokenLength)
		}
	case SigUAMissing, SigPlaintext:
		if v != "" {
			return fmt.Errorf("%s takes no value", f.Signal)
		}
	case SigUAShorter, SigHeaderCount:
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 1000 {
			return fmt.Errorf("%s needs a number 1 to 1000, got %q", f.Signal, v)
		}
	case SigHeaderPres, SigHeaderAbs:
		if !schema.ValidHeaderName(v) {
			return fmt.Errorf("%q is not a header name", v)
		}
	case SigClientPfx:
		if _, err := schema.ParsePrefix(v); err != nil {
			return err
		}
	case SigJA4:
		if len(v) != 36 || v[10] != '_' || v[23] != '_' {
			return fmt.Errorf("%q is not a JA4 fingerprint (a_b_c, 36 characters)", v)
		}
	case SigJA4A:
		if len(v) != 10 {
			return fmt.Errorf("%q is not the first part of a JA4 fingerprint (10 characters)", v)
		}
	case SigHTTPVersion:
		if v != "1.0" && v != "1.1" && v != "2" {
			return fmt.Errorf("http_version must be 1.0, 1.1 or 2, got %q", v)
		}
	case SigPassCookie:
		if v != "valid" && v != "absent" {
			return fmt.Errorf("pass_cookie must be valid or absent, got %q", v)
		}
	case SigH2:
		if !validH2(v) {
			return fmt.Errorf("h2_fp %q is not an HTTP/2 fingerprint (SETTINGS|WINDOW_UPDATE|PRIORITY|pseudo-header order, e.g. 1:65536;4:6291456|15663105|0|m,a,s,p)", v)
		}
	case SigH2Settings:
		if !validH2Settings(v) {
			return fmt.Errorf("h2_settings %q is not a SETTINGS list (id:value pairs joined by ';', e.g. 1:65536;4:6291456)", v)
		}
	default:
		return fmt.Errorf("unknown signal %q", f.Signal)
	}
	return nil
}

// validH2 checks the shape of an HTTP/2 fingerprint: four parts joined by
// '|', the first a SETTINGS list, the second a number, the last two made of
// digits, letters, ',' and ':' only. A value of another shape could never
// equal a fingerprint, so it is a mistake in the file.
func validH2(v string) bool {
	parts := strings.Split(v, "|")
	if len(parts) != 4 || !validH2Settings(parts[0]) || !allDigits(parts[1]) {
		return false
	}
	for _, p := range parts[2:] {
		for i := 0; i < len(p); i++ {
			if c := p[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c == ',' || c == ':') {
				return false
			}
		}
	}
	return parts[3] != ""
}

// validH2Settings checks "id:value;id:value...", at least one pair.
func validH2Settings(v string) bool {
	if v == "" {
		return false
	}
	for _, pair := range strings.Split(v, ";") {
		id, val, ok := strings.Cut(pair, ":")
		if !ok || !allDigits(id) || !allDigits(val) {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isUAToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !uaTokenByte(s[i]) || s[i] >= 'A' && s[i] <= 'Z' {
			return false
		}
	}
	return true
}

func uaTokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

// Model is a compiled feature file: every feature indexed by its signal,
// so scoring a request is a handful of map look-ups and short loops.
// Immutable once built.
type Model struct {
	Version  string // sha256 of the file, first 16 hex digits
	Features int

	uaTokens     map[string]int
	uaMissing    int
	uaShorter    []threshold
	present      []headerWeight
	absent       []headerWeight
	countBelow   []threshold
	prefixes     map[netip.Prefix]int
	bits4, bits6 []int // the prefix lengths in prefixes, per family
	ja4, ja4a    map[string]int
	h2, h2s      map[string]int // whole HTTP/2 fingerprint, its SETTINGS part
	plaintext    int
	version      [3]int // 1.0, 1.1, 2
	passValid    int
	passAbsent   int
}

type threshold struct{ n, weight int }

type headerWeight struct {
	name   string // canonical
	weight int
}

// BaseScore is a request's score before any feature applies.
const BaseScore = 50

// Compile builds the model of parsed features; data is the file, for the
// version hash.
func Compile(feats []Feature, data []byte) *Model {
	sum := sha256.Sum256(data)
	m := &Model{Version: hex.EncodeToString(sum[:8]), Features: len(feats),
		uaTokens: map[string]int{}, prefixes: map[netip.Prefix]int{}, ja4: map[string]int{}, ja4a: map[string]int{},
		h2: map[string]int{}, h2s: map[string]int{}}
	for _, f := range feats {
		w := f.Weight
		switch f.Signal {
		case SigUAToken:
			m.uaTokens[f.Value] += w
		case SigUAMissing:
			m.uaMissing += w
		case SigUAShorter:
			n, _ := strconv.Atoi(f.Value)
			m.uaShorter = append(m.uaShorter, threshold{n, w})
		case SigHeaderPres:
			m.present = append(m.present, headerWeight{textproto.CanonicalMIMEHeaderKey(f.Value), w})
		case SigHeaderAbs:
			m.absent = append(m.absent, headerWeight{textproto.CanonicalMIMEHeaderKey(f.Value), w})
		case SigHeaderCount:
			n, _ := strconv.Atoi(f.Value)
			m.countBelow = append(m.countBelow, threshold{n, w})
		case SigClientPfx:
			p, _ := schema.ParsePrefix(f.Value)
			if _, ok := m.prefixes[p]; !ok {
				if p.Addr().Is4() {
					m.bits4 = addBits(m.bits4, p.Bits())
				} else {
					m.bits6 = addBits(m.bits6, p.Bits())
				}
			}
			m.prefixes[p] += w
		case SigJA4:
			m.ja4[f.Value] += w
		case SigJA4A:
			m.ja4a[f.Value] += w
		case SigPlaintext:
			m.plaintext += w
		case SigHTTPVersion:
			m.version[map[string]int{"1.0": 0, "1.1": 1, "2": 2}[f.Value]] += w
		case SigH2:
			m.h2[f.Value] += w
		case SigH2Settings:
			m.h2s[f.Value] += w
		case SigPassCookie:
			if f.Value == "valid" {
				m.passValid += w
			} else {
				m.passAbsent += w
			}
		}
	}
	return m
}

func addBits(list []int, b int) []int {
	for _, x := range list {
		if x == b {
			return list
		}
	}
	return append(list, b)
}

// Signals are what one request shows the scorer.
type Signals struct {
	UA         string
	Header     http.Header
	Client     netip.Addr
	TLS        bool
	JA4        string // empty unless TLS
	H2         string // HTTP/2 fingerprint (pipeline.Hello.H2); empty on HTTP/1.x or unknown
	ProtoMajor int
	ProtoMinor int
	Pass       bool // a valid challenge pass cookie came with the request
}

// Limits of the User-Agent scan: a longer UA is scored on its start.
const (
	maxUAScan   = 512
	maxUATokens = 48
)

// Score turns signals into a score from 1 (surely automated) to 99
// (surely human). It does not allocate.
func (m *Model) Score(s *Signals) int {
	score := BaseScore
	score += m.scoreUA(s.UA)
	for i := range m.present {
		if _, ok := s.Header[m.present[i].name]; ok {
			score += m.present[i].weight
		}
	}
	for i := range m.absent {
		if _, ok := s.Header[m.absent[i].name]; !ok {
			score += m.absent[i].weight
		}
	}
	for _, t := range m.countBelow {
		if len(s.Header) < t.n {
			score += t.weight
		}
	}
	score += m.scoreClient(s.Client)
	if s.TLS {
		if len(m.ja4) > 0 && s.JA4 != "" {
			score += m.ja4[s.JA4]
		}
		if len(m.ja4a) > 0 && len(s.JA4) >= 10 {
			score += m.ja4a[s.JA4[:10]]
		}
	} else {
		score += m.plaintext
	}
	score += m.scoreH2(s.H2)
	switch {
	case s.ProtoMajor == 1 && s.ProtoMinor == 0:
		score += m.version[0]
	case s.ProtoMajor == 1:
		score += m.version[1]
	case s.ProtoMajor == 2:
		score += m.version[2]
	}
	if s.Pass {
		score += m.passValid
	} else {
		score += m.passAbsent
	}
	return min(max(score, 1), 99)
}

// scoreH2 weighs the HTTP/2 fingerprint, whole and by its SETTINGS part;
// the part is a substring, so the look-up does not allocate.
func (m *Model) scoreH2(fp string) int {
	if fp == "" {
		return 0
	}
	w := 0
	if len(m.h2) > 0 {
		w += m.h2[fp]
	}
	if len(m.h2s) > 0 {
		settings, _, _ := strings.Cut(fp, "|")
		w += m.h2s[settings]
	}
	return w
}

func (m *Model) scoreUA(ua string) int {
	if ua == "" {
		return m.uaMissing + m.shorter(0)
	}
	w := m.shorter(len(ua))
	if len(m.uaTokens) == 0 {
		return w
	}
	if len(ua) > maxUAScan {
		ua = ua[:maxUAScan]
	}
	var buf [maxTokenLength]byte
	n, tokens := 0, 0
	flush := func() {
		if n > 0 && n <= maxTokenLength {
			w += m.uaTokens[string(buf[:n])]
			tokens++
		}
		n = 0
	}
	for i := 0; i < len(ua) && tokens < maxUATokens; i++ {
		c := ua[i]
		if !uaTokenByte(c) {
			flush()
			continue
		}
		if n < maxTokenLength {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			buf[n] = c
		}
		n++
	}
	flush()
	return w
}

func (m *Model) shorter(n int) int {
	w := 0
	for _, t := range m.uaShorter {
		if n < t.n {
			w += t.weight
		}
	}
	return w
}

func (m *Model) scoreClient(a netip.Addr) int {
	if len(m.prefixes) == 0 || !a.IsValid() {
		return 0
	}
	bits := m.bits6
	if a.Is4() {
		bits = m.bits4
	}
	w := 0
	for _, b := range bits {
		if p, err := a.Prefix(b); err == nil {
			w += m.prefixes[p]
		}
	}
	return w
}

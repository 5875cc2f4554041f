package waf

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/types"
)

// maxReportedRules bounds the rule IDs one request reports to the log.
const maxReportedRules = 16

// engine is one route's compiled inspection: the Core Rule Set at its
// settings (shared by routes with the same settings) and its custom rules.
type engine struct {
	crs        coraza.WAF // nil: CRS off
	rules      []customRule
	bodyLimit  int64
	detectOnly bool
	failClosed bool
	budget     time.Duration
}

type customRule struct {
	id       int
	target   string // method, path, query, uri, body, header, cookie
	name     string // header or cookie name
	re       *regexp.Regexp
	blocking bool
}

// crsKey identifies a CRS instance: routes with equal settings share one.
func crsKey(rc *RouteConfig) string {
	ex := slices.Clone(rc.Exclude)
	slices.Sort(ex)
	return fmt.Sprintf("p%d|t%d|d%v|b%d|x%v", rc.Paranoia, rc.Threshold, rc.DetectionOnly, rc.BodyLimit, ex)
}

// newCRS builds a Core Rule Set instance. It takes a while (hundreds of
// ms): instances are kept across reloads by their settings.
func newCRS(rc *RouteConfig) (coraza.WAF, error) {
	engineMode := "On"
	if rc.DetectionOnly {
		engineMode = "DetectionOnly"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Include @coraza.conf-recommended\n")
	fmt.Fprintf(&b, "SecRuleEngine %s\n", engineMode)
	fmt.Fprintf(&b, "SecRequestBodyAccess On\nSecResponseBodyAccess Off\n")
	// levee writes the matched rule IDs to its own access log; Coraza's
	// audit log would serialise every relevant transaction a second time.
	fmt.Fprintf(&b, "SecAuditEngine Off\n")
	// Skips a regex when the literals it needs are absent from the input:
	// most CRS regexes never run on ordinary traffic (the 4 KiB form
	// benchmark spends about a third less CPU; attacks and the
	// false-positive corpus keep their results).
	fmt.Fprintf(&b, "SecRxPreFilter On\n")
	fmt.Fprintf(&b, "SecRequestBodyLimit %d\nSecRequestBodyInMemoryLimit %d\nSecRequestBodyLimitAction ProcessPartial\n", max(rc.BodyLimit, 1), max(rc.BodyLimit, 1))
	fmt.Fprintf(&b, "Include @crs-setup.conf.example\n")
	fmt.Fprintf(&b, "SecAction \"id:900000,phase:1,pass,t:none,nolog,setvar:tx.blocking_paranoia_level=%d\"\n", rc.Paranoia)
	fmt.Fprintf(&b, "SecAction \"id:900110,phase:1,pass,t:none,nolog,setvar:tx.inbound_anomaly_score_threshold=%d,setvar:tx.outbound_anomaly_score_threshold=4\"\n", rc.Threshold)
	fmt.Fprintf(&b, "Include @owasp_crs/*.conf\n")
	for _, id := range rc.Exclude {
		fmt.Fprintf(&b, "SecRuleRemoveById %d\n", id)
	}
	return coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(b.String()))
}

func compileRules(all []Rule, only []int) []customRule {
	var out []customRule
	for _, r := range all {
		if len(only) > 0 && !slices.Contains(only, r.ID) {
			continue
		}
		cr := customRule{id: r.ID, target: r.Target, re: regexp.MustCompile(r.Regex), blocking: r.Action != "log"}
		if n, ok := strings.CutPrefix(r.Target, "header:"); ok {
			cr.target, cr.name = "header", http.CanonicalHeaderKey(n)
		}
		if n, ok := strings.CutPrefix(r.Target, "cookie:"); ok {
			cr.target, cr.name = "cookie", n
		}
		out = append(out, cr)
	}
	return out
}

// snapshot is what an inspection reads of a request: copied, so an
// inspection still running past its budget races with nothing the request
// goes on to change.
type snapshot struct {
	method, uri, path, query, proto, host string
	header                                http.Header
	body                                  []byte
	client                                string

	// abandoned is set when the request stopped waiting (its budget ran
	// out): the inspection then stops at its next phase boundary instead
	// of spending CPU on a verdict nobody reads, which under overload
	// would push more requests past their budget.
	abandoned atomic.Bool
}

// verdict is an inspection's result.
type verdict struct {
	block     bool
	abandoned bool // stopped early: its request had gone on
	ids       []int
	err       error
}

// testPanic, set by tests, panics inside inspect.
var testPanic atomic.Bool

// inspect runs the custom rules, then the CRS.
func (e *engine) inspect(s *snapshot) verdict {
	if testPanic.Load() {
		panic("waf: injected panic")
	}
	var v verdict
	for i := range e.rules {
		r := &e.rules[i]
		if r.matches(s) {
			v.ids = appendID(v.ids, r.id)
			if r.blocking && !e.detectOnly {
				v.block = true
				return v
			}
		}
	}
	if e.crs == nil {
		return v
	}
	if s.abandoned.Load() {
		v.abandoned = true
		return v
	}
	tx := e.crs.NewTransaction()
	// No ProcessLogging: phase 5 feeds Coraza's audit log and the CRS
	// correlation rules, which only log; levee logs the rule IDs itself.
	defer func() { _ = tx.Close() }()
	it, abandoned, err := feedCRS(tx, s)
	if abandoned || err != nil {
		v.abandoned, v.err = abandoned, err
		return v
	}
	for _, mr := range tx.MatchedRules() {
		// 900000-901999 are the rule set's own setup, not findings.
		if id := mr.Rule().ID(); mr.Message() != "" && (id < 900000 || id > 901999) {
			v.ids = appendID(v.ids, mr.Rule().ID())
		}
	}
	if it != nil && !e.detectOnly {
		v.block = true
		v.ids = appendID(v.ids, it.RuleID)
	}
	return v
}

// feedCRS runs phases 1 and 2 of the rule set over s; abandoned when s's
// request went on before phase 2, which is most of the cost.
func feedCRS(tx types.Transaction, s *snapshot) (it *types.Interruption, abandoned bool, err error) {
	tx.ProcessConnection(s.client, 0, "", 0)
	tx.ProcessURI(s.uri, s.method, s.proto)
	if s.host != "" {
		tx.AddRequestHeader("Host", s.host)
		tx.SetServerName(s.host)
	}
	for k, vs := range s.header {
		for _, x := range vs {
			tx.AddRequestHeader(k, x)
		}
	}
	it = tx.ProcessRequestHeaders()
	if it == nil && s.abandoned.Load() {
		return nil, true, nil
	}
	if it == nil && len(s.body) > 0 {
		if it, _, err = tx.WriteRequestBody(s.body); err != nil {
			return nil, false, err
		}
	}
	if it == nil {
		if it, err = tx.ProcessRequestBody(); err != nil {
			return nil, false, err
		}
	}
	return it, false, nil
}

func appendID(ids []int, id int) []int {
	if len(ids) >= maxReportedRules || slices.Contains(ids, id) {
		return ids
	}
	return append(ids, id)
}

func (r *customRule) matches(s *snapshot) bool {
	switch r.target {
	case "method":
		return r.re.MatchString(s.method)
	case "path":
		return r.re.MatchString(s.path)
	case "query":
		return r.re.MatchString(s.query)
	case "uri":
		return r.re.MatchString(s.uri)
	case "body":
		return r.re.Match(s.body)
	case "header":
		for _, v := range s.header[r.name] {
			if r.re.MatchString(v) {
				return true
			}
		}
	case "cookie":
		for _, c := range (&http.Request{Header: s.header}).CookiesNamed(r.name) {
			if r.re.MatchString(c.Value) {
				return true
			}
		}
	}
	return false
}

// idList renders rule IDs for the access log: "942100,949110".
func idList(ids []int) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(id))
	}
	return b.String()
}

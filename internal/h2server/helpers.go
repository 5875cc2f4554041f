package h2server

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"

	"levee/internal/pipeline"
)

// commonHeaders maps the lowercase names clients and the node send most to
// their canonical form and back, sparing an allocation per field.
var commonHeaders = []string{
	"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Ranges",
	"Access-Control-Allow-Origin", "Age", "Allow", "Alt-Svc", "Authorization", "Cache-Control",
	"Cache-Status", "Content-Disposition", "Content-Encoding", "Content-Language",
	"Content-Length", "Content-Location", "Content-Range", "Content-Type", "Cookie", "Date",
	"Dnt", "Etag", "Expect", "Expires", "Forwarded", "From", "Host", "If-Match",
	"If-Modified-Since", "If-None-Match", "If-Range", "If-Unmodified-Since", "Last-Modified",
	"Link", "Location", "Max-Forwards", "Origin", "Pragma", "Priority", "Proxy-Authenticate",
	"Proxy-Authorization", "Range", "Referer", "Refresh", "Retry-After", "Sec-Ch-Ua",
	"Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform", "Sec-Fetch-Dest", "Sec-Fetch-Mode",
	"Sec-Fetch-Site", "Sec-Fetch-User", "Server", "Set-Cookie", "Strict-Transport-Security",
	"Te", "Trailer", "Upgrade-Insecure-Requests", "User-Agent", "Vary", "Via",
	"Www-Authenticate", "X-Cache", "X-Content-Type-Options", "X-Forwarded-For",
	"X-Forwarded-Host", "X-Forwarded-Proto", "X-Frame-Options", "X-Request-Id",
	"X-Requested-With", "X-Xss-Protection",
}

var (
	toCanonical = map[string]string{}
	toLower     = map[string]string{}
)

func init() {
	for _, k := range commonHeaders {
		l := strings.ToLower(k)
		toCanonical[l] = k
		toLower[k] = l
	}
}

func canonicalKey(lower string) string {
	if k, ok := toCanonical[lower]; ok {
		return k
	}
	return http.CanonicalHeaderKey(lower)
}

func lowerKey(k string) string {
	if l, ok := toLower[k]; ok {
		return l
	}
	for i := 0; i < len(k); i++ {
		if b := k[i]; b >= 'A' && b <= 'Z' {
			return strings.ToLower(k)
		}
	}
	return k
}

var statusTexts [1000]string

func init() {
	for i := 100; i < len(statusTexts); i++ {
		statusTexts[i] = strconv.Itoa(i)
	}
}

func statusText(code int) string { return statusTexts[code] }

type dateEntry struct {
	sec int64
	s   string
}

var dateCache atomic.Pointer[dateEntry]

// httpDate is the Date header, formatted once a second.
func httpDate() string {
	now := time.Now()
	if d := dateCache.Load(); d != nil && d.sec == now.Unix() {
		return d.s
	}
	d := &dateEntry{sec: now.Unix(), s: now.UTC().Format(http.TimeFormat)}
	dateCache.Store(d)
	return d.s
}

// fingerprint collects the client's HTTP/2 fingerprint ("SETTINGS|
// WINDOW_UPDATE|PRIORITY|pseudo-header order") until its first request.
type fingerprint struct {
	settings     []string
	settingsDone bool
	window       uint32
	windowSeen   bool
	priorities   []string
	done         bool
}

func (fp *fingerprint) setting(s http2.Setting) {
	if !fp.settingsDone && !fp.done && len(fp.settings) < 32 {
		fp.settings = append(fp.settings, strconv.Itoa(int(s.ID))+":"+strconv.FormatUint(uint64(s.Val), 10))
	}
}

func (fp *fingerprint) windowUpdate(n uint32) {
	if !fp.done && !fp.windowSeen {
		fp.window, fp.windowSeen = n, true
	}
}

func (fp *fingerprint) priority(f *http2.PriorityFrame) {
	if fp.done || len(fp.priorities) >= 32 {
		return
	}
	excl := "0"
	if f.Exclusive {
		excl = "1"
	}
	fp.priorities = append(fp.priorities, strconv.Itoa(int(f.StreamID))+":"+excl+":"+
		strconv.Itoa(int(f.StreamDep))+":"+strconv.Itoa(int(f.Weight)+1))
}

// finish writes the fingerprint into the connection's Hello record, before
// the first request's handler starts.
func (fp *fingerprint) finish(ctx context.Context, order []byte) {
	fp.done = true
	rec := pipeline.HelloFrom(ctx)
	if rec == nil {
		return
	}
	prio := "0"
	if len(fp.priorities) > 0 {
		prio = strings.Join(fp.priorities, ",")
	}
	pseudo := make([]string, len(order))
	for i, b := range order {
		pseudo[i] = string(b)
	}
	rec.H2 = strings.Join(fp.settings, ";") + "|" + strconv.FormatUint(uint64(fp.window), 10) + "|" +
		prio + "|" + strings.Join(pseudo, ",")
	fp.settings, fp.priorities = nil, nil
}

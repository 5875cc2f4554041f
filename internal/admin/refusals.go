package admin

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// reason is why the limiter refused a request.
type reason int

const (
	reasonClients reason = iota
	reasonInflight
	reasonRate
	reasonClientInflight
	reasonClientRate
	numReasons
)

// refusal is the whole answer to a refused request, made once per limiter:
// under a flood most requests get one, so sending it must cost no more
// than writing its bytes.
type refusal struct {
	status       int
	metricReason string
	body         []byte // the API's error JSON, as writeError writes it
	counter      prometheus.Counter
}

type refusals [numReasons]refusal

func newRefusals(l Limits, m *metrics) refusals {
	busy := func(metricReason, msg string) refusal {
		return newRefusal(m, http.StatusServiceUnavailable, "busy", metricReason, msg)
	}
	limited := func(metricReason, msg string) refusal {
		return newRefusal(m, http.StatusTooManyRequests, "rate_limited", metricReason, msg)
	}
	var r refusals
	r[reasonClients] = busy("clients", "the admin API tracks too many clients at once; try again shortly")
	r[reasonInflight] = busy("inflight", "the admin API is busy; try again shortly")
	r[reasonRate] = busy("rate", "the admin API is over "+strconv.FormatFloat(l.MaxRate, 'f', -1, 64)+
		" requests per second in all; try again shortly")
	r[reasonClientInflight] = limited("client_inflight", "too many requests of this client at once")
	r[reasonClientRate] = limited("client_rate", "over "+strconv.FormatFloat(l.PerClientRate, 'f', -1, 64)+
		" requests per second for this client")
	return r
}

func newRefusal(m *metrics, status int, code, metricReason, msg string) refusal {
	body, _ := json.MarshalIndent(map[string]any{"error": APIError{Code: code, Message: msg}}, "", "  ")
	return refusal{status: status, metricReason: metricReason, body: append(body, '\n'),
		counter: m.rejected.WithLabelValues(metricReason)}
}

// Header values shared by every answer; net/http only reads them.
var (
	jsonType     = []string{"application/json"}
	retryAfterIn = [...][]string{{"0"}, {"1"}, {"2"}, {"3"}, {"4"}, {"5"}}
)

// write sends the refusal with its Retry-After (seconds).
func (r *refusal) write(w http.ResponseWriter, retryAfter int) {
	h := w.Header()
	h["Content-Type"] = jsonType
	if retryAfter >= 0 && retryAfter < len(retryAfterIn) {
		h["Retry-After"] = retryAfterIn[retryAfter]
	} else {
		h.Set("Retry-After", strconv.Itoa(retryAfter))
	}
	w.WriteHeader(r.status)
	w.Write(r.body)
}

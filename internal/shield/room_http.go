package shield

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// roomStep is the waiting room: admitted users (valid signed session
// cookie) pass; new users pass while the room has room; everyone else gets
// the queue page, which is answered here and never reaches the origin.
func (s *Shield) roomStep(q *req) error {
	ref := s.rooms[q.ex.Route.Name]
	if ref == nil {
		return nil
	}
	room := ref.room
	p, err := s.readPass(q.r, ref)
	if err == nil && p.Kind == 'a' && p.At > q.now.UnixNano() {
		if room.Touch(p.ID, q.now) {
			s.setPass(q, ref, pass{Kind: 'a', ID: p.ID, At: q.now.Add(ref.cfg.Session.D()).UnixNano()})
			return nil
		}
	}
	if err != nil || p.Kind != 'q' {
		p = pass{Kind: 'q', ID: newID(), At: q.now.UnixNano()}
		if room.Enter(p.ID, q.now, s.busy(q)) {
			s.setPass(q, ref, pass{Kind: 'a', ID: p.ID, At: q.now.Add(ref.cfg.Session.D()).UnixNano()})
			return nil
		}
	}
	admitted, pos, err := room.Poll(p.ID, p.At, q.now)
	if errors.Is(err, ErrQueueFull) {
		s.st.m.Decisions.WithLabelValues("waitingroom", "full").Inc()
		q.w.Header().Set("Retry-After", fmt.Sprint(int(ref.cfg.Refresh.D().Seconds())))
		return shed("queue_full")
	}
	if admitted {
		s.st.m.Decisions.WithLabelValues("waitingroom", "admitted").Inc()
		s.setPass(q, ref, pass{Kind: 'a', ID: p.ID, At: q.now.Add(ref.cfg.Session.D()).UnixNano()})
		return nil
	}
	s.st.m.Decisions.WithLabelValues("waitingroom", "queued").Inc()
	s.setPass(q, ref, p)
	s.queuePage(q, ref, pos)
	return errAnswered
}

// busy reports whether the route's pool has shed requests in the last
// second: in auto mode the room then queues newcomers.
func (s *Shield) busy(q *req) bool {
	if len(q.ex.Route.Pools) == 0 {
		return false
	}
	lim := s.limiters[q.ex.Route.Pools[0].Name]
	return lim != nil && lim.ShedRecently(q.now, time.Second)
}

func (s *Shield) readPass(r *http.Request, ref *roomRef) (pass, error) {
	v, ok := cookieValue(r.Header, ref.cookie)
	if !ok {
		return pass{}, errBadPass
	}
	return s.st.verifyPass(ref.name, v)
}

func (s *Shield) setPass(q *req, ref *roomRef, p pass) {
	http.SetCookie(q.w, &http.Cookie{Name: ref.cookie, Value: sign(s.st.signKey(), ref.name, p), Path: ref.path,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: q.r.TLS != nil})
}

// QueueStatus is the JSON form of the queue page.
type QueueStatus struct {
	Status         string  `json:"status"`
	Position       int     `json:"position"`
	ETASeconds     float64 `json:"eta_seconds"`
	RefreshSeconds float64 `json:"refresh_seconds"`
}

func (s *Shield) queuePage(q *req, ref *roomRef, pos int) {
	// Nobody gets in before the page's next refresh: the rate alone can
	// promise "0s" to the head of a full room.
	eta := max(ref.room.ETA(pos), ref.cfg.Refresh.D())
	st := QueueStatus{Status: "queued", Position: pos + 1, ETASeconds: eta.Round(time.Second).Seconds(),
		RefreshSeconds: ref.cfg.Refresh.D().Seconds()}
	h := q.w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Levee-Queue", fmt.Sprint(st.Position))
	refresh := fmt.Sprint(int(st.RefreshSeconds))
	h.Set("Retry-After", refresh)
	q.ex.Decide("queued")
	if strings.Contains(q.r.Header.Get("Accept"), "application/json") {
		h.Set("Content-Type", "application/json")
		q.w.WriteHeader(http.StatusOK)
		_ = json.NewEncoder(q.w).Encode(st)
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Refresh", refresh)
	q.w.WriteHeader(http.StatusOK)
	_ = queueTmpl.Execute(q.w, map[string]any{"Pos": st.Position, "ETA": time.Duration(st.ETASeconds) * time.Second, "Refresh": refresh})
}

var queueTmpl = template.Must(template.New("q").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="{{.Refresh}}">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>You are in line</title>
<style>body{font:18px/1.5 system-ui,sans-serif;max-width:32em;margin:4em auto;padding:0 1em;text-align:center}b{font-size:2em}</style>
</head><body><h1>You are in line</h1>
<p>There are more visitors than the site can serve right now. Keep this page open: it refreshes by itself and lets you in when it is your turn.</p>
<p>Your place in line: <b>{{.Pos}}</b></p><p>Estimated wait: {{.ETA}}</p>
<p><small>Refreshing does not lose your place.</small></p></body></html>
`))

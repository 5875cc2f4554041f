package shield

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Status is the JSON of GET /shield on the admin API.
type Status struct {
	Killed        []string                 `json:"killed,omitempty"`
	UnderAttack   []string                 `json:"under_attack,omitempty"`
	OverloadLevel int                      `json:"overload_level"`
	OpenConns     int64                    `json:"open_connections"`
	Tables        map[string]TableStatus   `json:"rate_tables,omitempty"`
	Limits        map[string]LimiterStatus `json:"admission,omitempty"`
	Rooms         map[string]RoomStatus    `json:"waiting_rooms,omitempty"`
	SurgeRules    []SurgeRuleStatus        `json:"surge_rules,omitempty"`
}

// TableStatus describes a rule's key table.
type TableStatus struct {
	Keys      int    `json:"keys"`
	Cap       int    `json:"cap"`
	Evictions uint64 `json:"evictions"`
}

// LimiterStatus describes a pool's admission limit.
type LimiterStatus struct {
	Limit    int64 `json:"limit"`
	Inflight int64 `json:"inflight"`
	Queued   int64 `json:"queued"`
	// MinRTTMicros is the origin's best latency seen; it explains a limit
	// above min_limit (the floor is what 50ms of it holds).
	MinRTTMicros int64 `json:"min_rtt_us"`
	// BaseRTTMicros is the origin's mean latency at low concurrency, what
	// the limit's gradient compares each window's mean with (0 until the
	// first calibration ended).
	BaseRTTMicros int64 `json:"base_rtt_us"`
}

// RoomStatus describes a waiting room.
type RoomStatus struct {
	Active int `json:"active"`
	Queued int `json:"queued"`
	// EstimatedWaitSeconds is the wait of the last one in the queue at the
	// room's admission rate (0 with no queue).
	EstimatedWaitSeconds float64 `json:"estimated_wait_seconds"`
}

// SurgeRules lists the generated surge rules in force (for /status).
func (st *State) SurgeRules() []SurgeRuleStatus { return st.surge.Status() }

// Status reports the shield's state and refreshes the room gauges.
func (st *State) Status() Status {
	out := Status{OverloadLevel: st.OverloadLevel(), OpenConns: st.Gate.Open(), Tables: map[string]TableStatus{},
		Limits: map[string]LimiterStatus{}, Rooms: map[string]RoomStatus{}}
	for i, n := range phaseNames {
		if st.kills[i].Load() {
			out.Killed = append(out.Killed, n)
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for site := range *st.attack.Load() {
		if st.UnderAttack(site) {
			out.UnderAttack = append(out.UnderAttack, site)
		}
	}
	for site := range *st.cfgAtk.Load() {
		if _, ok := (*st.attack.Load())[site]; !ok {
			out.UnderAttack = append(out.UnderAttack, site)
		}
	}
	for name, t := range st.tables {
		out.Tables[name] = TableStatus{Keys: t.Len(), Cap: t.Cap(), Evictions: t.Evictions()}
	}
	for name, l := range st.limiters {
		out.Limits[name] = LimiterStatus{Limit: l.Limit(), Inflight: l.Inflight(), Queued: l.Queued(), MinRTTMicros: l.MinRTT().Microseconds(), BaseRTTMicros: l.BaseRTT().Microseconds()}
		st.m.AdmitLimit.WithLabelValues(name).Set(float64(l.Limit()))
		st.m.AdmitInflight.WithLabelValues(name).Set(float64(l.Inflight()))
	}
	for name, r := range st.rooms {
		a, q := r.Stats()
		rs := RoomStatus{Active: a, Queued: q}
		if q > 0 {
			rs.EstimatedWaitSeconds = r.ETA(q - 1).Seconds()
		}
		out.Rooms[name] = rs
		st.m.RoomActive.WithLabelValues(name).Set(float64(a))
		st.m.RoomQueued.WithLabelValues(name).Set(float64(q))
	}
	out.SurgeRules = st.surge.Status()
	return out
}

// AdminHandlers returns the shield's admin endpoints:
//
//	GET  /shield                                  status (JSON)
//	POST /shield/kill?phase=NAME&on=true|false    kill switch (NAME: all, overload, lists, ratelimit, waitingroom, admission)
//	POST /shield/under-attack?site=NAME&on=true|false
//	POST /shield/waiting-room?room=SITE/ROUTE&mode=queue|auto|config
//
// The kill switch needs nothing but this process: no config, no reload.
func (st *State) AdminHandlers() map[string]http.Handler {
	return map[string]http.Handler{
		"POST /shield/waiting-room": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			name, mode := r.URL.Query().Get("room"), r.URL.Query().Get("mode")
			st.mu.Lock()
			room := st.rooms[name]
			st.mu.Unlock()
			if room == nil {
				http.Error(w, fmt.Sprintf("no waiting room named %q; configured rooms: %s", name, st.roomNames()), http.StatusNotFound)
				return
			}
			if !room.SetEvent(mode) {
				http.Error(w, "want ?room=SITE/ROUTE&mode=queue|auto|config", http.StatusBadRequest)
				return
			}
			st.log.Warn("shield waiting room event mode", "room", name, "mode", mode)
			w.WriteHeader(http.StatusNoContent)
		}),
		"GET /shield": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(st.Status())
		}),
		"POST /shield/kill": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			i := KillIndex(r.URL.Query().Get("phase"))
			on, err := strconv.ParseBool(r.URL.Query().Get("on"))
			if i < 0 || err != nil {
				http.Error(w, "want ?phase=all|overload|lists|surge|ratelimit|waitingroom|admission&on=true|false", http.StatusBadRequest)
				return
			}
			st.Kill(i, on)
			st.log.Warn("shield kill switch", "phase", phaseNames[i], "on", on)
			w.WriteHeader(http.StatusNoContent)
		}),
		"POST /shield/under-attack": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			site := r.URL.Query().Get("site")
			on, err := strconv.ParseBool(r.URL.Query().Get("on"))
			if site == "" || err != nil {
				http.Error(w, "want ?site=NAME&on=true|false", http.StatusBadRequest)
				return
			}
			if known := st.siteNames(); !slices.Contains(known, site) {
				http.Error(w, fmt.Sprintf("no site named %q; sites: %s", site, strings.Join(known, ", ")), http.StatusNotFound)
				return
			}
			st.SetUnderAttack(site, on)
			st.log.Warn("shield under-attack switch", "site", site, "on", on)
			w.WriteHeader(http.StatusNoContent)
		}),
	}
}

// siteNames are the active config's site names.
func (st *State) siteNames() []string {
	if p := st.sites.Load(); p != nil {
		return *p
	}
	return nil
}

// roomNames lists the configured waiting rooms, for an error message.
func (st *State) roomNames() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	names := make([]string, 0, len(st.rooms))
	for name := range st.rooms {
		names = append(names, name)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

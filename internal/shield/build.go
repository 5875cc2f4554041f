package shield

import (
	"fmt"
	"hash/maphash"
	"math"
	"net/netip"
	"strings"
	"time"

	"levee/internal/config/schema"
	"levee/internal/pipeline"
)

// rule is a compiled rate limit.
type rule struct {
	name     string
	decision string          // "limited:<name>", for the access log
	sites    map[string]bool // nil: every site
	routes   map[string]bool // route paths; nil: every route
	methods  []string
	prefix   string
	key      []keyPart
	action   string
	// interval and tau are the GCRA parameters in ns; strict ones apply
	// to sites under attack.
	interval, tau             int64
	strictInterval, strictTau int64
	table                     *Table
	// cluster rules go to the cluster limiter (cluster.go) with their
	// rate per second and burst, strict ones under attack.
	cluster              bool
	rate, strictRate     float64
	burstN, strictBurstN int
}

// Shield is one generation's compiled shield. Its Phase is the pipeline's
// "shield" phase; its node-level state lives in State.
type Shield struct {
	st        *State
	seed      maphash.Seed
	rules     []*rule
	allow     *IPSet
	deny      *IPSet
	keepPfx   []netip.Prefix
	keepCook  []string
	keepPaths []string
	admission bool
	surge     *surgeCfg           // nil: no surge detection
	limiters  map[string]*Limiter // by pool name
	rooms     map[string]*roomRef // by route name
	disabled  [numKills]bool
	failOpen  [numKills]bool
	minRate   float64
	window    time.Duration
	readBody  time.Duration
	gate      *GateConfig
	overload  *overloadCfg
	factor    float64
	attack    []string
	tarpit    time.Duration
	maxHeld   int64

	// Challenge, when set, answers requests over a rule whose action is
	// "challenge" (the proof-of-work challenge plugs in here). It returns
	// nil to let the request through, or an error to answer.
	Challenge func(ex *pipeline.Exchange, rule string) error

	global   GlobalLimiter // nil: cluster rules count locally
	roomSync RoomSyncer    // nil: rooms are local
}

// roomRef is a waiting room attached to a route.
type roomRef struct {
	room   *Room
	name   string // route name; signs the cookie
	cookie string
	path   string
	cfg    WaitingRoomConfig
}

// defaultFailOpen is each sub-phase's policy on panic unless configured.
var defaultFailOpen = [numKills]bool{KillOverload: true, KillLists: false, KillSurge: true, KillRateLimit: true,
	KillWaitingRoom: false, KillAdmission: true}

// Env is what the shield needs of the rest of a generation.
type Env struct {
	// Trust says whose forwarding headers name the client.
	Trust *pipeline.Trust
	// Pools maps route names to the name of their first pool.
	Pools map[string]string
	// ReadHeader and ReadBody are the client timeouts (timeouts.*).
	ReadHeader, ReadBody time.Duration
	// Sites are the config's site names: the admin API's under-attack
	// switch refuses any other name.
	Sites []string
	// Global enforces rules with scope: cluster (nil: they count locally).
	Global GlobalLimiter
	// Rooms shares waiting rooms across a cluster (nil: they are local).
	Rooms RoomSyncer
}

// Build compiles a shield: section. It reads list files (the only I/O); a
// file over its bound or malformed fails the build, so the caller keeps the
// previous generation and its lists.
func Build(sc *Config, st *State, env Env) (*Shield, error) {
	trust, pools := env.Trust, env.Pools
	if trust == nil {
		trust = &pipeline.Trust{}
	}
	s := &Shield{st: st, seed: maphash.MakeSeed(), limiters: map[string]*Limiter{}, rooms: map[string]*roomRef{},
		minRate: float64(sc.MinRate), window: sc.MinRateWindow.D(), readBody: env.ReadBody,
		factor: sc.AttackFactor, attack: sc.UnderAttack, admission: *sc.Admission.Enabled,
		tarpit: sc.Tarpit.D(), maxHeld: int64(sc.MaxTarpitted), global: env.Global, roomSync: env.Rooms}
	s.failOpen = defaultFailOpen
	for k, v := range sc.OnPanic {
		s.failOpen[KillIndex(k)] = v == "open"
	}
	for _, d := range sc.Disable {
		s.disabled[KillIndex(d)] = true
	}
	var err error
	ls := &sc.Lists
	if s.allow, err = NewIPSet(ls.Allow, ls.AllowFile, ls.MaxEntries, int64(ls.MaxBytes)); err != nil {
		st.m.ListLoads.WithLabelValues("rejected").Inc()
		return nil, fmt.Errorf("shield.lists.allow: %w", err)
	}
	if s.deny, err = NewIPSet(ls.Deny, ls.DenyFile, ls.MaxEntries, int64(ls.MaxBytes)); err != nil {
		st.m.ListLoads.WithLabelValues("rejected").Inc()
		return nil, fmt.Errorf("shield.lists.deny: %w", err)
	}
	for i := range sc.Rules {
		s.rules = append(s.rules, compileRule(&sc.Rules[i], st, sc.MaxKeys, sc.AttackFactor))
	}
	a := &sc.Admission
	for _, p := range a.Keep.Prefixes {
		pfx, _ := schema.ParsePrefix(p)
		s.keepPfx = append(s.keepPfx, pfx)
	}
	s.keepCook, s.keepPaths = a.Keep.Cookies, a.Keep.Paths
	reserve := a.KeepReserve
	if !s.hasKeepClass() {
		// No request can be keep: a share held for them would stay idle
		// while every other request queued for it.
		reserve = 0
	}
	for _, pool := range pools {
		if *a.Enabled {
			l := st.limiter(pool, a.MinLimit, a.MaxLimit, a.InitialLimit, reserve)
			l.SetQueue(a.MaxWait.D(), a.MaxQueue, a.MaxQueuePerClient)
			s.limiters[pool] = l
		}
	}
	for _, w := range sc.WaitingRooms {
		name := w.Site + w.Route
		rc := RoomConfig{Capacity: w.Capacity, AdmitPerMinute: w.AdmitPerMinute, Session: w.Session.D(),
			Refresh: w.Refresh.D(), MaxQueue: w.MaxQueue, Queue: w.Mode == "queue"}
		if w.Mode != "off" {
			s.rooms[name] = &roomRef{room: st.room(name, rc), name: name, cookie: w.Cookie, path: w.Route, cfg: w}
		}
	}
	if *sc.Surge.Enabled {
		s.surge = surgeConfig(&sc.Surge)
	}
	s.gate = gateConfig(&sc.Connections, env.ReadHeader, trust, s.allow, s.deny)
	o := &sc.Overload
	s.overload = &overloadCfg{heap: float64(o.MaxHeap), goroutines: float64(o.MaxGoroutines), conns: float64(o.MaxConns), interval: o.Interval.D()}
	return s, nil
}

// Idle reports whether the shield phase has nothing to do for requests
// (no rules, lists, admission, rooms, overload thresholds or minimum
// rate), so the node can leave it out of the chain. The gate and the
// HTTP/2 guard work either way.
func (s *Shield) Idle() bool {
	o := s.overload
	return len(s.rules) == 0 && s.allow.Len() == 0 && s.deny.Len() == 0 && !s.admission && s.surge == nil && len(s.rooms) == 0 &&
		o.heap == 0 && o.goroutines == 0 && o.conns == 0 && s.minRate == 0
}

// Commit makes this generation's node-level settings current: the gate's
// limits and lists, overload thresholds, under-attack sites from config.
// It runs after the generation is swapped in.
func (s *Shield) Commit() {
	st := s.st
	st.SetEnabled(true)
	st.roomSync.Store(&s.roomSync)
	st.Gate.cfg.Store(s.gate)
	st.setOverload(s.overload)
	st.factor.Store(math.Float64bits(s.factor))
	atk := setOf(s.attack)
	st.cfgAtk.Store(&atk)
	st.m.ListEntries.WithLabelValues("allow").Set(float64(s.allow.Len()))
	st.m.ListEntries.WithLabelValues("deny").Set(float64(s.deny.Len()))
	st.m.ListLoads.WithLabelValues("ok").Inc()
}

func compileRule(rc *RuleConfig, st *State, maxKeys int, factor float64) *rule {
	r := &rule{name: rc.Name, decision: "limited:" + rc.Name, prefix: rc.PathPrefix, key: parseKey(rc.Key), action: rc.Action,
		table: st.table(rc.Name, maxKeys)}
	if len(rc.Sites) > 0 {
		r.sites = setOf(rc.Sites)
	}
	if len(rc.Routes) > 0 {
		r.routes = setOf(rc.Routes)
	}
	for _, m := range rc.Methods {
		r.methods = append(r.methods, strings.ToUpper(m))
	}
	ps := rc.Rate.PerSecond()
	r.interval = clampNS(float64(time.Second) / ps)
	r.tau = clampNS(float64(r.interval) * float64(rc.Burst))
	r.strictInterval = clampNS(float64(time.Second) / (ps * factor))
	r.strictTau = clampNS(float64(r.strictInterval) * math.Max(1, math.Floor(float64(rc.Burst)*factor)))
	compileClusterScope(r, rc, factor)
	return r
}

// clampNS keeps GCRA arithmetic far from int64 overflow: 2^60 ns is over
// 36 years, so a clamped rate is "practically never".
func clampNS(v float64) int64 {
	const limit = 1 << 60
	if !(v < limit) {
		return limit
	}
	return max(1, int64(v))
}

func setOf(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

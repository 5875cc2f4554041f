package shield

import (
	"hash/maphash"
	"levee/internal/modswitch"
	"log/slog"
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"levee/internal/guard"
)

// Kill switch indexes: one per sub-phase, plus KillAll for the whole shield.
const (
	KillOverload = iota
	KillLists
	KillSurge
	KillRateLimit
	KillWaitingRoom
	KillAdmission
	KillAll
	numKills
)

// phaseNames are the sub-phase names, indexed like the kill switches.
var phaseNames = [...]string{"overload", "lists", "surge", "ratelimit", "waitingroom", "admission", "all"}

// KillIndex returns the kill switch index for a sub-phase name, or -1.
func KillIndex(name string) int {
	for i, n := range phaseNames {
		if n == name {
			return i
		}
	}
	return -1
}

// State is the shield's node-level state: everything that must outlive a
// config generation (rate-limit tables, admission limits, waiting rooms,
// the connection gate, switches) and the metrics.
type State struct {
	m     *Metrics
	wall  *guard.Wall
	log   *slog.Logger
	Gate  *Gate
	key   []byte
	start time.Time

	kills  [numKills]atomic.Bool
	mods   [numKills]*modswitch.Module     // persisted kill switches and breakers (UseSwitches); nil: none
	off    atomic.Bool                     // shield.enabled: false in the config
	attack atomic.Pointer[map[string]bool] // run-time switches, override cfgAtk
	cfgAtk atomic.Pointer[map[string]bool] // sites under attack by config
	sites  atomic.Pointer[[]string]        // the config's site names, for the admin API
	factor atomic.Uint64                   // float64 bits of the attack factor
	level  atomic.Int32
	held   atomic.Int64 // answers held in the tarpit

	// seed hashes client keys of node-level state (admission lanes,
	// reputation), so they survive reloads.
	seed    maphash.Seed
	rep     *Reputation
	surge   *Surge
	shedLog atomic.Int64 // unix ns of the last admission shed log line
	sheds   atomic.Int64 // sheds since that line

	mu       sync.Mutex
	tables   map[string]*Table   // by rule name
	limiters map[string]*Limiter // by pool name
	rooms    map[string]*Room    // by route name
	snaps    map[string]roomSnap // from the previous run, used once
	// roomHold is set when users may hold valid passes from a previous
	// run that left no snapshot (the key was there, the snapshot was not):
	// new rooms then admit nobody new for two refresh periods, so those
	// users come back first. A first run has nobody to wait for.
	roomHold bool
	// roomNotes are start-up problems that matter only to waiting rooms,
	// logged when the first room is configured, not on every node.
	roomNotes []string
	// roomSync shares the rooms across a cluster (nil: local rooms);
	// sharedKey is the cluster's cookie key once the store gave it.
	roomSync  atomic.Pointer[RoomSyncer]
	sharedKey atomic.Pointer[[]byte]
	overload  atomic.Pointer[overloadCfg]

	// PanicHook, when set (tests only), is called at the start of each
	// sub-phase with its name, so a test can make it panic.
	PanicHook func(phase string)
}

// NewState returns the shield state of a node. key signs waiting-room
// cookies (see LoadKey).
func NewState(reg prometheus.Registerer, wall *guard.Wall, log *slog.Logger, key []byte) *State {
	st := &State{m: NewMetrics(reg), wall: wall, log: log, key: key, start: time.Now(),
		tables: map[string]*Table{}, limiters: map[string]*Limiter{}, rooms: map[string]*Room{},
		seed: maphash.MakeSeed()}
	st.rep = newReputation(st.start)
	st.surge = newSurge(log, DefaultSurgeMaxFingerprints)
	st.Gate = newGate(st)
	empty := map[string]bool{}
	st.attack.Store(&empty)
	st.cfgAtk.Store(&empty)
	return st
}

// Metrics returns the shield's metrics.
func (st *State) Metrics() *Metrics { return st.m }

// Kill turns a kill switch on or off. Killed sub-phases let every request
// through untouched; KillAll does so for the whole shield and the gate.
func (st *State) Kill(i int, on bool) { st.kills[i].Store(on) }

// Killed reports whether kill switch i (or KillAll) is on: the run-time
// one (POST /shield/kill) or the persisted one (modswitch: admin API
// /modules and the kill-switches file).
func (st *State) Killed(i int) bool {
	return st.off.Load() || st.kills[KillAll].Load() || st.kills[i].Load() || st.mods[KillAll].Killed() || st.mods[i].Killed()
}

// SwitchName is the modswitch module name of a sub-phase's kill switch:
// "shield.ratelimit"; "shield" for the whole shield.
func SwitchName(i int) string {
	if i == KillAll {
		return "shield"
	}
	return "shield." + phaseNames[i]
}

// UseSwitches registers the shield and each sub-phase as a module of set:
// a kill switch (persisted, settable with the admin API down) and a
// breaker that, once open, applies the sub-phase's panic policy. Call it
// before the node serves.
func (st *State) UseSwitches(set *modswitch.Set) {
	for i := range st.mods {
		p := modswitch.FailOpen
		if i != KillAll && !defaultFailOpen[i] {
			p = modswitch.FailClosed
		}
		st.mods[i] = set.Module(SwitchName(i), p)
	}
}

// breakerOpen reports whether sub-phase i's breaker bypasses it now.
func (st *State) breakerOpen(i int) bool {
	m := st.mods[i]
	return m != nil && !m.Killed() && !m.Active()
}

// SetEnabled applies shield.enabled from the config; it is separate from
// the run-time kill switches so that a reload does not undo them.
func (st *State) SetEnabled(on bool) { st.off.Store(!on) }

// SetUnderAttack switches a site's "under attack" profile.
func (st *State) SetUnderAttack(site string, on bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	next := map[string]bool{}
	for k, v := range *st.attack.Load() {
		next[k] = v
	}
	next[site] = on
	st.attack.Store(&next)
}

// UnderAttack reports whether site is under attack: its run-time switch if
// it was ever set, else the config.
func (st *State) UnderAttack(site string) bool {
	if on, ok := (*st.attack.Load())[site]; ok {
		return on
	}
	return (*st.cfgAtk.Load())[site]
}

// AnyUnderAttack reports whether some site is under attack.
func (st *State) AnyUnderAttack() bool {
	for site := range *st.attack.Load() {
		if st.UnderAttack(site) {
			return true
		}
	}
	for site := range *st.cfgAtk.Load() {
		if st.UnderAttack(site) {
			return true
		}
	}
	return false
}

func (st *State) attackFactor() float64 {
	if f := st.factor.Load(); f != 0 {
		return float64frombits(f)
	}
	return 0.2
}

// OverloadLevel returns the overload guard's level (0-3).
func (st *State) OverloadLevel() int { return int(st.level.Load()) }

// table returns the table of a rule, keeping the old one across reloads
// unless its bound changed.
func (st *State) table(rule string, maxKeys int) *Table {
	st.mu.Lock()
	defer st.mu.Unlock()
	t := st.tables[rule]
	if t == nil || t.Cap() != capFor(maxKeys) {
		t = NewTable(maxKeys, st.m.Evictions.WithLabelValues(rule))
		st.tables[rule] = t
	}
	return t
}

// capFor returns the bound NewTable gives for maxKeys.
func capFor(maxKeys int) int { return max(1, (maxKeys+numShards-1)/numShards) * numShards }

func (st *State) limiter(pool string, min, max, initial int, reserve float64) *Limiter {
	st.mu.Lock()
	defer st.mu.Unlock()
	l := st.limiters[pool]
	if l == nil || l.minLimit != float64(min) || l.maxLimit != float64(max) || l.keepReserve != reserve {
		l = NewLimiter(min, max, initial, reserve)
		st.limiters[pool] = l
	}
	return l
}

// shedLogEvery bounds the admission shed log to a line per interval.
const shedLogEvery = 10 * time.Second

// noteShed counts an admission shed and logs, at most once per
// shedLogEvery, how many there were since the last line.
func (st *State) noteShed(pool, reason string, now time.Time) {
	n := st.sheds.Add(1)
	last := st.shedLog.Load()
	if now.UnixNano()-last < int64(shedLogEvery) || !st.shedLog.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	st.sheds.Add(-n)
	st.log.Warn("shield: admission shedding requests (503 + Retry-After): the origin is at its limit and the wait queue could not admit them",
		"pool", pool, "last_reason", reason, "shed", n)
}

func (st *State) room(name string, cfg RoomConfig) *Room {
	st.mu.Lock()
	defer st.mu.Unlock()
	r := st.rooms[name]
	if r == nil {
		if len(st.rooms) == 0 {
			for _, note := range st.roomNotes {
				st.log.Error("shield: " + note)
			}
		}
		r = NewRoom(cfg, st.start)
		if snap, ok := st.snaps[name]; ok {
			r.restore(snap, st.start)
			delete(st.snaps, name)
		} else if st.roomHold {
			st.log.Warn("shield: waiting room starts empty with a start-up hold of two refresh periods: the previous run left no snapshot of it, so users who hold a place come back first",
				"room", name, "hold", 2*cfg.Refresh)
		} else {
			r.holdUntil = 0
			st.log.Info("shield: waiting room starts empty and admits at once: no snapshot of it (its first run)", "room", name)
		}
		st.rooms[name] = r
	} else {
		r.SetConfig(cfg)
	}
	return r
}

// overloadCfg are the guard's thresholds (level 2); 0 turns one off.
type overloadCfg struct {
	heap, goroutines, conns float64
	interval                time.Duration
}

// RunOverload samples heap, goroutines and open connections until stop is
// closed and sets the overload level: at 80% of a threshold level 1, at
// 100% level 2, at 120% level 3. Run it behind a panic wall.
func (st *State) RunOverload(stop <-chan struct{}) {
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	for {
		interval := 250 * time.Millisecond
		if c := st.overload.Load(); c != nil {
			interval = c.interval
			st.sampleOverload(c, samples)
		}
		select {
		case <-stop:
			return
		case <-time.After(interval):
		}
	}
}

func (st *State) sampleOverload(c *overloadCfg, samples []metrics.Sample) {
	ratio := 0.0
	if c.heap > 0 {
		metrics.Read(samples)
		if samples[0].Value.Kind() == metrics.KindUint64 {
			ratio = max(ratio, float64(samples[0].Value.Uint64())/c.heap)
		}
	}
	if c.goroutines > 0 {
		ratio = max(ratio, float64(runtime.NumGoroutine())/c.goroutines)
	}
	if c.conns > 0 {
		ratio = max(ratio, float64(st.Gate.Open())/c.conns)
	}
	level := int32(0)
	switch {
	case ratio >= 1.2:
		level = 3
	case ratio >= 1:
		level = 2
	case ratio >= 0.8:
		level = 1
	}
	if old := st.level.Swap(level); old != level {
		st.m.Overload.Set(float64(level))
		st.log.Warn("shield overload level changed", "from", old, "to", level, "ratio", ratio)
	}
}

// setOverload installs thresholds; a heap cap also becomes the Go soft
// memory limit, so the collector works harder before the cap is reached.
func (st *State) setOverload(c *overloadCfg) {
	switch old := st.overload.Load(); {
	case c.heap > 0:
		debug.SetMemoryLimit(int64(c.heap * 1.2))
	case old != nil && old.heap > 0:
		debug.SetMemoryLimit(math.MaxInt64) // the cap was removed: back to Go's default
	}
	st.overload.Store(c)
}

func float64frombits(b uint64) float64 { return math.Float64frombits(b) }

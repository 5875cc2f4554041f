package shield

import (
	"errors"
	"math"
	"sort"
	"sync"
	"time"
)

// RoomConfig is one waiting room's settings.
type RoomConfig struct {
	Capacity       int
	AdmitPerMinute int
	Session        time.Duration
	Refresh        time.Duration
	MaxQueue       int
	// Queue is event mode: everyone queues and is admitted at the rate.
	Queue bool
}

// ErrQueueFull is returned when the queue is at its bound.
var ErrQueueFull = errors.New("waiting room queue is full")

// Room is a waiting room's state. Users are identified by an ID and their
// first arrival, both carried in a signed cookie (cookie.go), so the room
// can lose its memory (a restart) and rebuild it as users come back, each
// in their old place: the queue is ordered by arrival, not by when the
// room heard of them.
//
// Bounds: active holds at most Capacity admitted users plus those who come
// back after a restart with a valid session (at most 2*Capacity, beyond
// which they queue again); the queue holds at most MaxQueue.
type Room struct {
	mu        sync.Mutex
	cfg       RoomConfig
	active    map[string]int64 // id -> last seen (ns)
	admitting map[string]int64 // id -> deadline to come and claim the slot
	queue     []ticket         // ordered by (arrival, id)
	tokens    float64
	lastFill  int64
	lastSweep int64
	holdUntil int64
	event     int         // run-time event mode: 0 as configured, 1 queue everyone, 2 not
	sh        *roomShared // nil: the room is this node's alone (room_cluster.go)
}

// SetEvent switches the room's event mode at run time: "queue" (everyone
// queues and is admitted at the rate), "auto", or "config" to go back to
// the configured mode. It outlives reloads.
func (r *Room) SetEvent(mode string) bool {
	m, ok := map[string]int{"config": 0, "queue": 1, "auto": 2}[mode]
	if ok {
		r.mu.Lock()
		r.event = m
		r.mu.Unlock()
	}
	return ok
}

type ticket struct {
	arrival  int64
	id       string
	lastSeen int64
}

// NewRoom returns an empty room. For hold (two refresh periods) after now
// it admits nobody new, so that users who were active or queued before a
// restart come back and take their places first.
func NewRoom(cfg RoomConfig, now time.Time) *Room {
	return &Room{cfg: cfg, active: map[string]int64{}, admitting: map[string]int64{},
		lastFill: now.UnixNano(), holdUntil: now.Add(2 * cfg.Refresh).UnixNano()}
}

// SetConfig updates the settings (on reload) keeping the state.
func (r *Room) SetConfig(cfg RoomConfig) {
	r.mu.Lock()
	r.cfg = cfg
	r.mu.Unlock()
}

// Stats returns the active users (admitted, including those admitted but
// not yet back) and the queue length.
func (r *Room) Stats() (active, queued int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.active) + len(r.admitting), len(r.queue)
}

// Touch records a request of an admitted user whose session is valid. It
// reports false if the user must queue again (the room is over twice its
// capacity, which only happens after a restart).
func (r *Room) Touch(id string, now time.Time) bool {
	ns := now.UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sweep(ns)
	if _, ok := r.active[id]; !ok && len(r.active)+len(r.admitting) >= 2*r.cfg.Capacity {
		return false
	}
	r.active[id] = ns
	r.touchShared(id)
	return true
}

// Enter lets a new user straight in if the room has room, nobody is
// queued and it is not in event mode; busy says the origin pool is shedding.
func (r *Room) Enter(id string, now time.Time, busy bool) bool {
	ns := now.UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sweep(ns)
	queue := r.cfg.Queue && r.event != 2 || r.event == 1
	if queue || busy || ns < r.holdUntil || len(r.queue) > 0 || r.full(ns) {
		return false
	}
	r.active[id] = ns
	if r.sh != nil {
		r.sh.entered++
		r.touchShared(id)
	}
	return true
}

// Poll is a queued user's visit. It returns whether they are admitted now,
// else their position (0 = next) in the queue.
func (r *Room) Poll(id string, arrival int64, now time.Time) (admitted bool, pos int, err error) {
	ns := now.UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sweep(ns)
	live := r.sh.live(ns)
	if !live {
		r.admit(ns) // on a live view the cluster admits from its queue
	}
	if _, ok := r.admitting[id]; ok {
		delete(r.admitting, id)
		r.active[id] = ns
		r.touchShared(id)
		return true, 0, nil
	}
	if _, ok := r.active[id]; ok {
		return true, 0, nil
	}
	i := r.find(arrival, id)
	position := func() int {
		if live {
			return r.sharedPosition(i, arrival, id)
		}
		return i
	}
	if i < len(r.queue) && r.queue[i].id == id {
		r.queue[i].lastSeen = ns
		return false, position(), nil
	}
	if len(r.queue) >= r.cfg.MaxQueue || live && r.sh.view.Queued >= r.cfg.MaxQueue {
		return false, 0, ErrQueueFull
	}
	r.queue = append(r.queue, ticket{})
	copy(r.queue[i+1:], r.queue[i:])
	r.queue[i] = ticket{arrival: arrival, id: id, lastSeen: ns}
	return false, position(), nil
}

// full reports whether a newcomer must queue for lack of capacity: on the
// cluster's view when it is fresh, else on this node's count against its
// limits. r.mu is held.
func (r *Room) full(ns int64) bool {
	if r.sh.live(ns) {
		return r.sharedFull()
	}
	capacity, _ := r.limits()
	return len(r.active)+len(r.admitting) >= capacity
}

// ETA estimates the wait of position pos.
func (r *Room) ETA(pos int) time.Duration {
	r.mu.Lock()
	per := r.cfg.AdmitPerMinute
	r.mu.Unlock()
	return time.Duration(float64(pos+1) / float64(per) * float64(time.Minute))
}

func (r *Room) find(arrival int64, id string) int {
	return sort.Search(len(r.queue), func(i int) bool {
		t := r.queue[i]
		return t.arrival > arrival || t.arrival == arrival && t.id >= id
	})
}

// admit moves the head of the queue to admitting, as far as free capacity
// and the admission rate allow. r.mu is held.
func (r *Room) admit(ns int64) {
	capacity, perMinute := r.limits()
	rate := perMinute / float64(time.Minute)
	burst := math.Max(1, perMinute*float64(r.cfg.Refresh)/float64(time.Minute))
	if ns < r.holdUntil {
		r.tokens, r.lastFill = burst, ns // a refresh's worth goes in when the hold ends
		return
	}
	r.tokens = math.Min(burst, r.tokens+float64(ns-r.lastFill)*rate)
	r.lastFill = ns
	free := capacity - len(r.active) - len(r.admitting)
	n := min(free, int(r.tokens), len(r.queue))
	if n <= 0 {
		return
	}
	deadline := ns + int64(3*r.cfg.Refresh)
	for _, t := range r.queue[:n] {
		r.admitting[t.id] = deadline
	}
	r.queue = append(r.queue[:0], r.queue[n:]...)
	r.tokens -= float64(n)
}

// sweep drops, at most once a second, sessions past their time, admitted
// users who did not come back, and queued users who stopped polling (they
// keep their ticket and rejoin in place if they return). r.mu is held.
func (r *Room) sweep(ns int64) {
	if ns-r.lastSweep < int64(time.Second) {
		return
	}
	r.lastSweep = ns
	for id, seen := range r.active {
		if ns-seen > int64(r.cfg.Session) {
			delete(r.active, id)
		}
	}
	for id, dl := range r.admitting {
		if ns > dl {
			delete(r.admitting, id)
		}
	}
	stale := int64(4 * r.cfg.Refresh)
	q := r.queue[:0]
	for _, t := range r.queue {
		if ns-t.lastSeen <= stale {
			q = append(q, t)
		}
	}
	r.queue = q
}

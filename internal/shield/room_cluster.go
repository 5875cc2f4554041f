package shield

import (
	"errors"
	"sort"
	"time"
)

// RoomSyncer shares waiting rooms across the nodes of a cluster
// (internal/cluster implements it on the store). The shield calls it from
// one background loop, never on the request path: requests are decided on
// the room's local copy of the cluster's view, refreshed every
// RoomSyncEvery.
type RoomSyncer interface {
	// SyncRoom pushes what this node saw of room since the last call and
	// returns the cluster's view of it. ErrNoCluster: the node is not in a
	// cluster (the room is local); any other error: the store is away (the
	// room falls back to its share of the capacity).
	SyncRoom(room string, d RoomDelta) (RoomView, error)
	// RoomKey is the cluster's cookie signing key, so a visitor's cookie
	// from one node is honoured by the others; nil until the store gave it.
	RoomKey() []byte
}

// ErrNoCluster is RoomSyncer's answer when the node is in no cluster.
var ErrNoCluster = errors.New("not in a cluster")

// RoomSyncEvery is how often each room is synchronised with the cluster.
// It bounds how stale a node's view is: the README's accuracy figures
// follow from it.
const RoomSyncEvery = 200 * time.Millisecond

// roomStaleAfter: a view older than this (the store did not answer since)
// is not trusted, and the room falls back to its local share.
const roomStaleAfter = 5 * RoomSyncEvery

// maxSyncIDs bounds the ids and tickets one sync carries; the rest wait
// for the next one (queued visitors beyond it get estimated positions).
const maxSyncIDs = 4096

// roomSamples is how many queue entries the view samples, to place a
// visitor this node has not synchronised yet: exact for queues up to this
// length, within length/roomSamples beyond.
const roomSamples = 128

// RoomDelta is what one node pushes about a room.
type RoomDelta struct {
	Config RoomConfig
	// Active are users seen with a valid session (or admitted here)
	// since the last sync; after a failed sync, all the node knows.
	Active []string
	// Tickets are the queued visitors this node knows, by arrival.
	Tickets []RoomTicket
}

// RoomTicket is a queued visitor: arrival in unix milliseconds.
type RoomTicket struct {
	Arrival int64
	ID      string
}

// RoomView is the cluster's state of a room, as of one sync.
type RoomView struct {
	// Active counts admitted users (including those admitted and not yet
	// back) across the cluster; Queued the cluster's queue.
	Active, Queued int
	// Members is the number of live nodes (at least 1).
	Members int
	// Admitted are the tickets sent that the cluster has admitted.
	Admitted []string
	// Ranks are the positions (0 = next) of the tickets sent and still
	// queued.
	Ranks map[string]int
	// Samples are every Step-th entry of the queue, in order.
	Samples []RoomTicket
	Step    int
}

// roomShared is a room's link to the cluster. r.mu guards it.
type roomShared struct {
	view    RoomView
	at      int64 // ns of the last successful sync; 0: none yet
	failed  bool
	members int
	entered int // newcomers let in here since the view
	touched map[string]struct{}
	full    bool // push every active user next time (first sync, or after a failure)
}

// live reports whether the cluster's view is fresh enough to decide on.
func (sh *roomShared) live(ns int64) bool {
	return sh != nil && !sh.failed && sh.at != 0 && ns-sh.at < int64(roomStaleAfter)
}

func (r *Room) touchShared(id string) {
	if r.sh != nil && len(r.sh.touched) < maxSyncIDs {
		r.sh.touched[id] = struct{}{}
	}
}

// limits are the capacity and admission rate this node applies on its
// own: all of them alone, or its share (by the members last seen) while
// the cluster's view is stale. r.mu is held.
func (r *Room) limits() (capacity int, perMinute float64) {
	capacity, perMinute = r.cfg.Capacity, float64(r.cfg.AdmitPerMinute)
	if r.sh != nil && r.sh.members > 1 {
		m := r.sh.members
		capacity = max(1, (capacity+m-1)/m)
		perMinute /= float64(m)
	}
	return capacity, perMinute
}

// sharedFull reports, on a live view, whether a newcomer must queue: the
// cluster has a queue, or this node has let in its share of the free
// capacity since the view (each node takes ceil(free/members), so the
// cluster overshoots by at most members-1 per sync). r.mu is held.
func (r *Room) sharedFull() bool {
	sh := r.sh
	if sh.view.Queued > 0 || len(r.queue) > 0 {
		return true
	}
	free := r.cfg.Capacity - sh.view.Active
	if free <= 0 {
		return true
	}
	m := max(1, sh.view.Members)
	return sh.entered >= (free+m-1)/m
}

// sharedPosition is a queued visitor's place in the cluster's queue: her
// rank at the last sync, else an estimate: her place among the sampled
// queue plus the visitors queued here ahead of her since (those the view
// already holds, ranked or sampled, are counted once, by the samples). i
// is her index in the local queue. r.mu is held.
func (r *Room) sharedPosition(i int, arrival int64, id string) int {
	sh := r.sh
	if p, ok := sh.view.Ranks[id]; ok {
		return p
	}
	s := sh.view.Samples
	j := sampleIndex(s, arrival/int64(time.Millisecond), id)
	pos := 0
	if j > 0 {
		pos = (j-1)*max(1, sh.view.Step) + 1
	}
	for _, t := range r.queue[:min(i, len(r.queue))] {
		if _, synced := sh.view.Ranks[t.id]; synced {
			continue
		}
		ms := t.arrival / int64(time.Millisecond)
		if k := sampleIndex(s, ms, t.id); k < len(s) && s[k].Arrival == ms && s[k].ID == t.id {
			continue
		}
		pos++
	}
	return pos
}

// sampleIndex is where a ticket (arrival in ms, id) sits in the sampled
// queue, ordered as the store orders it.
func sampleIndex(s []RoomTicket, ms int64, id string) int {
	return sort.Search(len(s), func(i int) bool {
		return s[i].Arrival > ms || s[i].Arrival == ms && s[i].ID >= id
	})
}

// syncDelta takes what the room must push: the users touched since the
// last sync (all active users after a failure) and the local queue.
func (r *Room) syncDelta() RoomDelta {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sh == nil {
		r.sh = &roomShared{touched: map[string]struct{}{}, full: true, members: 1}
	}
	sh := r.sh
	d := RoomDelta{Config: r.cfg}
	if sh.full {
		for id := range r.active {
			sh.touched[id] = struct{}{}
		}
	}
	for id := range sh.touched {
		if len(d.Active) == maxSyncIDs {
			break
		}
		d.Active = append(d.Active, id)
		delete(sh.touched, id)
	}
	for _, t := range r.queue[:min(len(r.queue), maxSyncIDs)] {
		d.Tickets = append(d.Tickets, RoomTicket{Arrival: t.arrival / int64(time.Millisecond), ID: t.id})
	}
	sh.full = false
	return d
}

// applyView takes the cluster's answer: visitors it admitted move to
// admitting here (they claim the slot on their next visit to any node).
// entered is what this node let in while the sync was under way.
func (r *Room) applyView(v RoomView, enteredBefore int, now time.Time) {
	ns := now.UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	sh := r.sh
	sh.view, sh.at, sh.failed = v, ns, false
	sh.members = max(1, v.Members)
	sh.entered = max(0, sh.entered-enteredBefore)
	r.holdUntil = 0 // the store knows who holds a place
	if len(v.Admitted) == 0 {
		return
	}
	admitted := make(map[string]bool, len(v.Admitted))
	deadline := ns + int64(3*r.cfg.Refresh)
	for _, id := range v.Admitted {
		admitted[id] = true
		if _, ok := r.active[id]; !ok {
			r.admitting[id] = deadline
		}
	}
	q := r.queue[:0]
	for _, t := range r.queue {
		if !admitted[t.id] {
			q = append(q, t)
		}
	}
	r.queue = q
}

// syncFailed marks the view stale: the room decides on its local share
// until the store answers again, and then pushes everything it knows.
func (r *Room) syncFailed() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sh != nil {
		r.sh.failed, r.sh.full = true, true
	}
}

// unshare makes the room local again (the node left the cluster).
func (r *Room) unshare() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sh = nil
}

func (r *Room) enteredCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sh == nil {
		return 0
	}
	return r.sh.entered
}

// RunRoomSync synchronises every room with the cluster each RoomSyncEvery
// until stop. Without a cluster it only keeps the rooms local.
func (st *State) RunRoomSync(stop <-chan struct{}) {
	t := time.NewTicker(RoomSyncEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		st.SyncRooms()
	}
}

// SyncRooms runs one synchronisation of every room (the loop's step; tests
// call it directly).
func (st *State) SyncRooms() {
	p := st.roomSync.Load()
	st.mu.Lock()
	rooms := make(map[string]*Room, len(st.rooms))
	for k, v := range st.rooms {
		rooms[k] = v
	}
	st.mu.Unlock()
	if p == nil || *p == nil {
		for _, r := range rooms {
			r.unshare()
		}
		return
	}
	sy := *p
	if k := sy.RoomKey(); len(k) == 32 {
		st.sharedKey.Store(&k)
	}
	for name, r := range rooms {
		before := r.enteredCount()
		d := r.syncDelta()
		v, err := sy.SyncRoom(name, d)
		switch {
		case errors.Is(err, ErrNoCluster):
			r.unshare()
		case err != nil:
			r.syncFailed()
			st.m.RoomSyncs.WithLabelValues("error").Inc()
		default:
			r.applyView(v, before, time.Now())
			st.m.RoomSyncs.WithLabelValues("ok").Inc()
		}
	}
}

// signKey is the key new cookies are signed with: the cluster's once
// known, so every node honours them.
func (st *State) signKey() []byte {
	if k := st.sharedKey.Load(); k != nil {
		return *k
	}
	return st.key
}

// verifyPass checks a cookie against the cluster's key, then this node's
// (cookies signed before the node joined, or while the store was away).
func (st *State) verifyPass(room, v string) (pass, error) {
	if k := st.sharedKey.Load(); k != nil {
		if p, err := verify(*k, room, v); err == nil {
			return p, nil
		}
	}
	return verify(st.key, room, v)
}

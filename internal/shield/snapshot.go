package shield

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"levee/internal/atomicfile"
)

// RoomsFile holds the waiting rooms' state in the data directory, written
// at shutdown and every few seconds, so a restarted node knows who was
// active (and does not let newcomers take their slots) and who was queued.
const RoomsFile = "shield-rooms.json"

// maxRoomsFile bounds the snapshot read back; a bigger file is ignored
// (logged), and the rooms start empty with their start-up hold. Within
// it, each room takes back at most its bounds (2×capacity active,
// capacity admitting, max_queue queued); the rest is dropped.
const maxRoomsFile = 64 << 20

type roomSnap struct {
	Active    map[string]int64 `json:"active"`
	Admitting map[string]int64 `json:"admitting"`
	Tickets   []snapTicket     `json:"queue"`
}

type snapTicket struct {
	Arrival int64  `json:"a"`
	ID      string `json:"i"`
}

func (r *Room) snapshot() roomSnap {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := roomSnap{Active: make(map[string]int64, len(r.active)), Admitting: make(map[string]int64, len(r.admitting)),
		Tickets: make([]snapTicket, len(r.queue))}
	for k, v := range r.active {
		s.Active[k] = v
	}
	for k, v := range r.admitting {
		s.Admitting[k] = v
	}
	for i, t := range r.queue {
		s.Tickets[i] = snapTicket{Arrival: t.arrival, ID: t.id}
	}
	return s
}

// restore loads a snapshot into a new room; queued users count as seen at
// now, so they have the usual time to come back. The start-up hold is
// lifted: the room knows its users.
func (r *Room) restore(s roomSnap, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ns := now.UnixNano()
	for k, v := range s.Active {
		if len(r.active) < 2*r.cfg.Capacity {
			r.active[k] = v
		}
	}
	for k, v := range s.Admitting {
		if len(r.admitting) < r.cfg.Capacity {
			r.admitting[k] = v
		}
	}
	for _, t := range s.Tickets {
		if len(r.queue) < r.cfg.MaxQueue && len(t.ID) == 32 {
			r.queue = append(r.queue, ticket{arrival: t.Arrival, id: t.ID, lastSeen: ns})
		}
	}
	r.holdUntil = 0
}

// SaveRooms writes every room's state to dir atomically: a crash leaves
// the previous snapshot or this one.
func (st *State) SaveRooms(dir string) error {
	if dir == "" {
		return nil
	}
	st.mu.Lock()
	all := make(map[string]roomSnap, len(st.rooms))
	for name, r := range st.rooms {
		all[name] = r.snapshot()
	}
	st.mu.Unlock()
	if len(all) == 0 {
		return nil
	}
	data, err := json.Marshal(all)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, RoomsFile), data, 0o600)
}

// LoadRooms reads the snapshot of a previous run; rooms created later
// with the same names start from it.
func (st *State) LoadRooms(dir string) error {
	if dir == "" {
		return nil
	}
	f, err := os.Open(filepath.Join(dir, RoomsFile))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRoomsFile+1))
	if err != nil {
		return err
	}
	if len(data) > maxRoomsFile {
		return fmt.Errorf("%s: over the limit of %d bytes", RoomsFile, maxRoomsFile)
	}
	all := map[string]roomSnap{}
	if err := json.Unmarshal(data, &all); err != nil {
		return fmt.Errorf("%s: %w", RoomsFile, err)
	}
	st.mu.Lock()
	st.snaps = all
	st.mu.Unlock()
	return nil
}

// RunSnapshots saves the rooms every interval until stop is closed (the
// node saves them once more at shutdown).
func (st *State) RunSnapshots(dir string, interval time.Duration, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(interval):
			if err := st.SaveRooms(dir); err != nil {
				st.log.Warn("shield: cannot save waiting rooms", "err", err)
			}
		}
	}
}

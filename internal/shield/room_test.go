package shield

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"levee/internal/pipeline"
)

// simUser is one simulated browser of the waiting-room test.
type simUser struct {
	id       int
	arrive   time.Duration
	leave    time.Duration // how long they stay once admitted
	cookie   string
	next     time.Duration
	admitted time.Duration // -1 while not admitted
	lastHit  time.Duration
	gone     bool
	pos      int
}

// visit is one request of u at now through the room sub-phase; it returns
// whether it reached the origin.
func visit(s *Shield, u *simUser, now time.Time) (bool, int) {
	r := httptest.NewRequest("GET", "/", nil)
	if u.cookie != "" {
		r.Header.Set("Cookie", u.cookie)
	}
	rec := httptest.NewRecorder()
	ex := pipeline.NewExchange(rec, now)
	ex.Site, ex.Route = testSite, testRoute
	q := &req{ex: ex, w: ex, r: r, now: now}
	err := s.roomStep(q)
	if c := rec.Result().Cookies(); len(c) > 0 {
		u.cookie = c[0].Name + "=" + c[0].Value
	}
	if err == errAnswered {
		pos := 0
		for _, v := range strings.Fields(rec.Header().Get("Levee-Queue")) {
			pos = atoi(v)
		}
		return false, pos
	}
	if err != nil {
		panic(err)
	}
	return true, 0
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// The waiting-room test, in process with a simulated clock: a room
// of 100 active users, 2,000 arriving clients, a node restart half way.
//   - the origin never sees more than 105 active users;
//   - nobody is admitted ahead of someone who queued 5 s or more earlier;
//   - the queue page never reaches the origin (roomStep answers it);
//   - after the restart every queued user is at or ahead of their place.
func TestWaitingRoomFlashCrowd(t *testing.T) {
	s, st := testShield(t, `
shield:
  waiting_rooms: [{site: s, route: /, capacity: 100, admit_per_minute: 600, session: 20s, refresh: 5s}]
`)
	rnd := rand.New(rand.NewPCG(1, 2))
	users := make([]*simUser, 2000)
	for i := range users {
		users[i] = &simUser{id: i, arrive: time.Duration(rnd.Int64N(int64(20 * time.Second))),
			leave: 5*time.Second + time.Duration(rnd.Int64N(int64(30*time.Second))), admitted: -1}
		users[i].next = users[i].arrive
	}
	t0 := st.start.Add(time.Hour)
	dir := t.TempDir()
	const step = 100 * time.Millisecond
	const session = 20 * time.Second
	restartAt := 150 * time.Second
	maxActive, originHits, queuePages := 0, 0, 0
	var before map[int]int
	for now := time.Duration(0); now < 300*time.Second; now += step {
		admittedNow := false
		if now == restartAt {
			before = map[int]int{}
			for _, u := range users {
				if u.admitted < 0 && u.arrive < now {
					before[u.id] = u.pos
				}
			}
			// Restart: memory lost; cookies, key and the rooms file kept.
			if err := st.SaveRooms(dir); err != nil {
				t.Fatal(err)
			}
			st.start = t0.Add(now)
			st.rooms = map[string]*Room{}
			if err := st.LoadRooms(dir); err != nil {
				t.Fatal(err)
			}
			p := s.rooms["s/"]
			p.room = st.room("s/", p.room.cfg)
		}
		for _, u := range users {
			if u.gone || now < u.next {
				continue
			}
			if u.admitted >= 0 && now-u.admitted > u.leave {
				u.gone = true
				continue
			}
			in, pos := visit(s, u, t0.Add(now))
			if in {
				originHits++
				u.lastHit = now
				if u.admitted < 0 {
					u.admitted = now
					admittedNow = true
				}
				u.next = now + 2*time.Second
			} else {
				queuePages++
				u.pos = pos
				u.next = now + 5*time.Second
			}
		}
		// Only a new admission can raise the count the origin sees.
		if admittedNow {
			active := 0
			for _, u := range users {
				if u.admitted >= 0 && now-u.lastHit < session {
					active++
				}
			}
			maxActive = max(maxActive, active)
		}
		if now == restartAt+30*time.Second {
			for id, p := range before {
				if u := users[id]; u.admitted < 0 && u.pos > p {
					t.Errorf("user %d was at %d before the restart and is at %d after", id, p, u.pos)
				}
			}
		}
	}
	if maxActive > 105 {
		t.Errorf("the origin saw %d active users at once, want at most 105", maxActive)
	}
	admitted := []*simUser{}
	for _, u := range users {
		if u.admitted >= 0 {
			admitted = append(admitted, u)
		}
	}
	if len(admitted) < 300 || queuePages == 0 {
		t.Fatalf("only %d users admitted, %d queue pages: the room does not move", len(admitted), queuePages)
	}
	sort.Slice(users, func(i, j int) bool { return users[i].arrive < users[j].arrive })
	for i, a := range users {
		for _, b := range users[i+1:] {
			if b.arrive-a.arrive < 5*time.Second || b.admitted < 0 {
				continue
			}
			if a.admitted < 0 || b.admitted < a.admitted {
				t.Fatalf("user %d (arrived %v) admitted at %v, ahead of user %d (arrived %v, admitted %v)",
					b.id, b.arrive, b.admitted, a.id, a.arrive, a.admitted)
			}
		}
	}
	t.Logf("admitted %d of 2000, max active at origin %d, origin hits %d, queue pages %d (none reached the origin)",
		len(admitted), maxActive, originHits, queuePages)
}

func TestRoomCookieTamper(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	v := sign(key, "s/", pass{Kind: 'a', ID: newID(), At: 99})
	if _, err := verify(key, "s/", v); err != nil {
		t.Fatal(err)
	}
	flip := "x"
	if strings.HasSuffix(v, "x") {
		flip = "y"
	}
	bad := []string{v[:len(v)-1] + flip, strings.Replace(v, "a.", "q.", 1), "", "a.b.c", v + "0"}
	for _, b := range bad {
		if _, err := verify(key, "s/", b); err == nil {
			t.Errorf("tampered cookie %q accepted", b)
		}
	}
	if _, err := verify(key, "other/", v); err == nil {
		t.Error("a cookie of one room must not open another")
	}
	dir := t.TempDir()
	k1, err := LoadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := LoadKey(dir)
	if string(k1) != string(k2) {
		t.Fatal("the key does not persist in the data dir")
	}
}

var _ = http.StatusOK

// Without a snapshot (a crash), the room holds admissions for two refresh
// periods while users come back in any order, then admits by arrival.
func TestRoomCrashRestartKeepsOrder(t *testing.T) {
	now := time.Unix(1000, 0)
	r := NewRoom(RoomConfig{Capacity: 3, AdmitPerMinute: 6000, Session: time.Minute, Refresh: time.Second, MaxQueue: 10}, now)
	ids := []string{"a", "b", "c", "d", "e"}
	// They come back in reverse order of their original arrival.
	for i := len(ids) - 1; i >= 0; i-- {
		if ok, _, _ := r.Poll(ids[i], int64(i), now.Add(time.Duration(len(ids)-i)*100*time.Millisecond)); ok {
			t.Fatalf("%s admitted during the hold", ids[i])
		}
	}
	var order []string
	later := now.Add(3 * time.Second)
	for round := 0; round < 3; round++ {
		for _, id := range []string{"e", "d", "c", "b", "a"} {
			if ok, _, _ := r.Poll(id, int64(strings.Index("abcde", id)), later); ok && !contains(order, id) {
				order = append(order, id)
			}
		}
	}
	sort.Strings(order)
	if strings.Join(order, "") != "abc" {
		t.Fatalf("admitted %v, want the three earliest arrivals a, b, c", order)
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func TestRoomEventMode(t *testing.T) {
	now := time.Unix(1000, 0)
	r := NewRoom(RoomConfig{Capacity: 10, AdmitPerMinute: 60, Session: time.Minute, Refresh: time.Second, MaxQueue: 10}, now.Add(-time.Hour))
	if !r.Enter("a", now, false) {
		t.Fatal("an empty room in auto mode must let a newcomer in")
	}
	if !r.SetEvent("queue") || r.Enter("b", now, false) {
		t.Fatal("in event mode everyone queues")
	}
	r.SetEvent("config")
	if !r.Enter("c", now, false) {
		t.Fatal("back to the configured mode")
	}
	if r.Enter("d", now, true) {
		t.Fatal("auto mode queues newcomers while the pool sheds")
	}
	if r.SetEvent("bogus") {
		t.Fatal("unknown mode accepted")
	}
}

// Issue 15: visitors queued on another node, already in the cluster's
// sampled queue, come to this node one after another before it synced
// them: each is placed from the samples once, not again as a local
// visitor ahead of the next one (that double count showed the second at
// 3, the third at 5).
func TestSharedPositionCountsSampledVisitorsOnce(t *testing.T) {
	now := time.Unix(1000, 0)
	r := NewRoom(RoomConfig{Capacity: 1, AdmitPerMinute: 1, Session: time.Minute, Refresh: time.Second, MaxQueue: 10}, now)
	r.syncDelta()
	queue := []RoomTicket{{Arrival: 100, ID: "a"}, {Arrival: 101, ID: "b"}, {Arrival: 102, ID: "c"}}
	r.applyView(RoomView{Active: 1, Queued: len(queue), Members: 2, Samples: queue, Step: 1}, 0, now)
	for i, q := range queue {
		_, pos, err := r.Poll(q.ID, q.Arrival*int64(time.Millisecond), now)
		if err != nil || pos != i {
			t.Fatalf("%s, rank %d in the cluster's queue: position %d (%v)", q.ID, i, pos, err)
		}
	}
	// A newcomer here, behind them, is behind all three, once each.
	if _, pos, _ := r.Poll("d", 103*int64(time.Millisecond), now); pos != 3 {
		t.Fatalf("newcomer: position %d, want 3", pos)
	}
}

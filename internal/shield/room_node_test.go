package shield_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"levee/internal/app"
	"levee/internal/leveetest"
	"levee/internal/shield"
)

// roomUser is a client of the waiting room keeping its own cookie.
type roomUser struct{ cookie string }

func (u *roomUser) visit(t *testing.T, base string, json bool) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/", nil)
	if u.cookie != "" {
		req.Header.Set("Cookie", u.cookie)
	}
	if json {
		req.Header.Set("Accept", "application/json")
	}
	res, err := leveetest.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if cs := res.Cookies(); len(cs) > 0 {
		u.cookie = cs[0].Name + "=" + cs[0].Value
	}
	return res.StatusCode, res.Header, string(b)
}

func startAt(t *testing.T, cfg, dir string) (*app.Node, string) {
	t.Helper()
	path := filepath.Join(dir, "levee.yaml")
	os.WriteFile(path, []byte(cfg), 0o600)
	n := app.New(app.Options{ConfigPath: path, DataDir: filepath.Join(dir, "data"), Log: io.Discard, Access: io.Discard})
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	for _, a := range n.Addrs() {
		return n, "http://" + a.String()
	}
	t.Fatal("no listener")
	return nil, ""
}

// The waiting room through a real node: the queue page (HTML and JSON)
// never reaches the origin, admitted users do, and a restart of the node
// (same data dir) keeps everyone's place.
func TestWaitingRoomNodeRestart(t *testing.T) {
	o := newSmallOrigin(t, 0, 100)
	cfg := nodeYAML(o.URL, `
shield:
  waiting_rooms: [{site: s, route: /, capacity: 2, admit_per_minute: 600, refresh: 1s, session: 1m}]
`)
	dir := t.TempDir()
	n, base := startAt(t, cfg, dir)
	// A first run has nobody from before to wait for: the first two get in
	// at once, the rest wait in line.
	users := make([]*roomUser, 5)
	for i := range users {
		users[i] = &roomUser{}
		code, _, body := users[i].visit(t, base, false) // first arrival, in order
		if i < 2 && (code != 200 || body != "ok") {
			t.Fatalf("user %d of a fresh room with room for 2: %d %q", i, code, body)
		}
		time.Sleep(5 * time.Millisecond)
	}
	code, h, body := users[4].visit(t, base, false)
	if code != 200 || h.Get("Refresh") == "" || !strings.Contains(body, "in line") || !strings.Contains(body, "<b>3</b>") {
		t.Fatalf("queue page: %d %v %q", code, h, body)
	}
	for i, u := range users {
		code, h, body := u.visit(t, base, true)
		if i < 2 && (code != 200 || body != "ok") {
			t.Fatalf("user %d should be admitted: %d %q", i, code, body)
		}
		if i >= 2 {
			var st shield.QueueStatus
			if err := json.Unmarshal([]byte(body), &st); err != nil || st.Position != i-1 || h.Get("Levee-Queue") == "" ||
				st.ETASeconds < st.RefreshSeconds {
				t.Fatalf("user %d: %q (%v), want position %d", i, body, err, i-1)
			}
		}
	}
	hits := o.Hits()
	if hits != 4 {
		t.Fatalf("origin saw %d requests, want only the 2 admitted users' 4", hits)
	}
	// Restart on the same data dir: queued users keep their places and
	// admitted users their sessions.
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}
	n, base = startAt(t, cfg, dir)
	defer n.Shutdown()
	for i, u := range users {
		code, _, body := u.visit(t, base, true)
		if i < 2 && body != "ok" {
			t.Fatalf("admitted user %d lost their session over the restart: %d %q", i, code, body)
		}
		if i >= 2 {
			var st shield.QueueStatus
			json.Unmarshal([]byte(body), &st)
			if st.Position != i-1 {
				t.Fatalf("user %d is at %d after the restart, was at %d", i, st.Position, i-1)
			}
		}
	}
	if o.Hits() != hits+2 {
		t.Fatalf("the queue page reached the origin: %d hits, want %d", o.Hits(), hits+2)
	}
}

// A node that ran a room before and lost its snapshot (a crash before the
// first save, a deleted file) holds new entries for two refresh periods, so
// users with a place come back first; and says so. A first run does not.
func TestWaitingRoomHoldsOnlyAfterALostSnapshot(t *testing.T) {
	o := newSmallOrigin(t, 0, 100)
	cfg := nodeYAML(o.URL, `
shield:
  waiting_rooms: [{site: s, route: /, capacity: 100, admit_per_minute: 600, refresh: 1s, session: 1m}]
`)
	dir := t.TempDir()
	start := func() (*app.Node, string, *leveetest.SyncBuffer) {
		path := filepath.Join(dir, "levee.yaml")
		os.WriteFile(path, []byte(cfg), 0o600)
		logs := &leveetest.SyncBuffer{}
		n := app.New(app.Options{ConfigPath: path, DataDir: filepath.Join(dir, "data"), Log: logs, Access: io.Discard})
		if err := n.Start(); err != nil {
			t.Fatal(err)
		}
		for _, a := range n.Addrs() {
			return n, "http://" + a.String(), logs
		}
		t.Fatal("no listener")
		return nil, "", nil
	}
	n, base, logs := start()
	if code, _, body := (&roomUser{}).visit(t, base, false); code != 200 || body != "ok" {
		t.Fatalf("first visitor of a fresh room: %d %q", code, body)
	}
	if !strings.Contains(logs.String(), "admits at once") {
		t.Errorf("a fresh room's start is not logged:\n%s", logs.String())
	}
	n.Shutdown()
	os.Remove(filepath.Join(dir, "data", shield.RoomsFile))
	n, base, logs = start()
	defer n.Shutdown()
	if _, _, body := (&roomUser{}).visit(t, base, false); !strings.Contains(body, "in line") {
		t.Fatalf("after a lost snapshot a newcomer got in during the hold: %q", body)
	}
	if !strings.Contains(logs.String(), "start-up hold") {
		t.Errorf("the hold is not logged:\n%s", logs.String())
	}
}

// An unwritable data dir matters to waiting rooms only: a node without one
// logs nothing about them.
func TestUnwritableDataDirWithoutRoomsLogsNoRoomError(t *testing.T) {
	o := newSmallOrigin(t, 0, 100)
	dir := t.TempDir()
	notADir := filepath.Join(dir, "file")
	os.WriteFile(notADir, []byte("x"), 0o600)
	path := filepath.Join(dir, "levee.yaml")
	os.WriteFile(path, []byte(nodeYAML(o.URL, "")), 0o600)
	logs := &leveetest.SyncBuffer{}
	n := app.New(app.Options{ConfigPath: path, DataDir: notADir, Log: logs, Access: io.Discard})
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	if strings.Contains(logs.String(), "waiting") {
		t.Errorf("a node without waiting rooms logged about them:\n%s", logs.String())
	}
}

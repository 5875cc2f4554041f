package admin_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"levee/internal/admin"
)

type historyList struct {
	Active   int                   `json:"active"`
	Versions []admin.ConfigVersion `json:"versions"`
}

type historyEntry struct {
	Version  admin.ConfigVersion `json:"version"`
	Previous int                 `json:"previous"`
	Config   string              `json:"config"`
	Diff     []admin.DiffLine    `json:"diff"`
}

func getJSON(t *testing.T, url, token string, v any) {
	t.Helper()
	st, _, body := call(t, "GET", url, token, "")
	if st != 200 {
		t.Fatalf("GET %s: %d %s", url, st, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v\n%s", url, err, body)
	}
}

// Two applies through the API make two versions after the one running
// before them; the newest shows its diff, with who applied it; a rollback
// applies the one before again and is itself a new version.
func TestConfigHistoryDiffAndRollback(t *testing.T) {
	s := newServer(t, "127.0.0.1:9090", admin.Limits{})
	tok := mustToken(t, s.Tokens(), "ops", "config", "read")
	s.node.config = []byte("a: 1\nb: 2\n")
	for _, src := range []string{"a: 1\nb: 3\n", "a: 1\nb: 3\nc: 4\n"} {
		if st, _, body := call(t, "POST", s.URL+"/api/v1/config", tok, src); st != 200 {
			t.Fatalf("apply: %d %s", st, body)
		}
	}
	var list historyList
	getJSON(t, s.URL+"/api/v1/config/history", tok, &list)
	if len(list.Versions) != 3 || list.Active != 3 || list.Versions[0].Version != 3 || list.Versions[2].Source == "admin" {
		t.Fatalf("history: %+v", list)
	}
	if !strings.Contains(list.Versions[0].Who, "ops") || list.Versions[0].Source != "admin" {
		t.Fatalf("newest version: %+v", list.Versions[0])
	}
	var e historyEntry
	getJSON(t, s.URL+"/api/v1/config/history/3", tok, &e)
	want := []admin.DiffLine{{Op: " ", Text: "a: 1"}, {Op: " ", Text: "b: 3"}, {Op: "+", Text: "c: 4"}}
	if e.Previous != 2 || e.Config != "a: 1\nb: 3\nc: 4\n" || fmt.Sprint(e.Diff) != fmt.Sprint(want) {
		t.Fatalf("version 3: %+v", e)
	}
	getJSON(t, s.URL+"/api/v1/config/history/2", tok, &e)
	want = []admin.DiffLine{{Op: " ", Text: "a: 1"}, {Op: "-", Text: "b: 2"}, {Op: "+", Text: "b: 3"}}
	if fmt.Sprint(e.Diff) != fmt.Sprint(want) {
		t.Fatalf("version 2 diff: %+v", e.Diff)
	}

	// Roll back to the version before the active one.
	st, _, body := call(t, "POST", s.URL+"/api/v1/config/rollback", tok, `{}`)
	if st != 200 || string(s.node.config) != "a: 1\nb: 3\n" {
		t.Fatalf("rollback: %d %s; node config %q", st, body, s.node.config)
	}
	getJSON(t, s.URL+"/api/v1/config/history", tok, &list)
	if list.Active != 4 || list.Versions[0].Source != "rollback" || list.Versions[0].Note != "rollback to version 2" {
		t.Fatalf("after the rollback: %+v", list)
	}
	// And to a version by number.
	if st, _, body := call(t, "POST", s.URL+"/api/v1/config/rollback", tok, `{"version": 1}`); st != 200 || string(s.node.config) != "a: 1\nb: 2\n" {
		t.Fatalf("rollback to 1: %d %s", st, body)
	}
	if st, code, _ := call(t, "POST", s.URL+"/api/v1/config/rollback", tok, `{"version": 99}`); st != 404 || code != "not_found" {
		t.Fatalf("rollback to a version not held: %d %s", st, code)
	}
	// The rollbacks are in the audit log.
	admTok := mustToken(t, s.Tokens(), "auditor", "admin")
	var audit struct {
		Entries []admin.AuditEntry `json:"entries"`
	}
	getJSON(t, s.URL+"/api/v1/audit", admTok, &audit)
	found := 0
	for _, a := range audit.Entries {
		if strings.Contains(a.Action, "/config/rollback") && strings.HasPrefix(a.Detail, "rollback to version") {
			found++
		}
	}
	if found != 2 {
		t.Fatalf("audit: %+v", audit.Entries)
	}
}

// The history keeps the last N versions in the data directory, written
// whole, and a node started again on the same directory finds them.
func TestConfigHistoryBoundedInDataDir(t *testing.T) {
	dir := t.TempDir()
	lg := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := admin.OpenHistory(dir, 3, lg)
	for i := 1; i <= 7; i++ {
		if _, err := h.Record([]byte(fmt.Sprintf("v: %d\n", i)), "test", "admin", ""); err != nil {
			t.Fatal(err)
		}
	}
	// The same config again is no new version.
	if v, _ := h.Record([]byte("v: 7\n"), "test", "admin", ""); v.Version != 7 {
		t.Fatalf("recording the latest again made version %d", v.Version)
	}
	files, _ := os.ReadDir(filepath.Join(dir, admin.HistoryDir))
	var names []string
	for _, f := range files {
		names = append(names, f.Name())
	}
	if fmt.Sprint(names) != "[00000005.json 00000005.yaml 00000006.json 00000006.yaml 00000007.json 00000007.yaml]" {
		t.Fatalf("files: %v", names)
	}
	again := admin.OpenHistory(dir, 3, lg)
	list := again.List()
	if len(list) != 3 || list[0].Version != 7 || list[2].Version != 5 {
		t.Fatalf("reopened: %+v", list)
	}
	_, src, prev, err := again.Get(6)
	if err != nil || string(src) != "v: 6\n" || prev != 5 {
		t.Fatalf("version 6: %q %d %v", src, prev, err)
	}
	if _, _, _, err := again.Get(2); err == nil || !strings.Contains(err.Error(), "keeps the last 3: 5 to 7") {
		t.Fatalf("a dropped version: %v", err)
	}
	if v, _ := again.Record([]byte("v: 8\n"), "test", "admin", ""); v.Version != 8 {
		t.Fatalf("next version after reopening: %d", v.Version)
	}
}

// Validate checks a config without applying it: errors with their lines,
// and the running config untouched.
func TestValidateDoesNotApply(t *testing.T) {
	s := newServer(t, "127.0.0.1:9090", admin.Limits{})
	before := string(s.node.config)
	st, code, body := call(t, "POST", s.URL+"/api/v1/config/validate", "", "bad: true\n")
	if st != 422 || code != "invalid_config" || !strings.Contains(body, `"line": 3`) {
		t.Fatalf("broken: %d %s", st, body)
	}
	if st, _, body := call(t, "POST", s.URL+"/api/v1/config/validate", "", "good: true\n"); st != 200 || !strings.Contains(body, `"valid": true`) {
		t.Fatalf("good: %d %s", st, body)
	}
	if string(s.node.config) != before {
		t.Fatalf("validate applied %q", s.node.config)
	}
}

// A diff of two long, different configs stays in bound: the middle is
// shown removed then added instead of compared line by line.
func TestDiffBounded(t *testing.T) {
	var a, b strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&a, "a%d\n", i)
		fmt.Fprintf(&b, "b%d\n", i)
	}
	d := admin.Diff([]byte("head\n"+a.String()+"tail\n"), []byte("head\n"+b.String()+"tail\n"))
	if len(d) != 4002 || d[0].Op != " " || d[1].Op != "-" || d[2001].Op != "+" || d[4001].Text != "tail" {
		t.Fatalf("%d lines, %v ... %v", len(d), d[:2], d[len(d)-2:])
	}
}

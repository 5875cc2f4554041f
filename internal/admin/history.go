package admin

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"levee/internal/atomicfile"
)

// HistoryDir is where the config history lives in the data directory:
// one NNNNNNNN.yaml (the config) and NNNNNNNN.json (who, when, how) per
// version.
const HistoryDir = "config-history"

// HistoryVersions is how many versions the history keeps; older ones are
// deleted as new ones are written.
const HistoryVersions = 20

// ConfigVersion describes one version of the config in the history.
type ConfigVersion struct {
	Version int       `json:"version"`
	Time    time.Time `json:"time"`
	Who     string    `json:"who"`
	Source  string    `json:"source"` // start, admin, rollback, reload, file
	Note    string    `json:"note,omitempty"`
	SHA256  string    `json:"sha256"`
	Bytes   int       `json:"bytes"`
}

// ConfigHistory keeps the last HistoryVersions active configs, in the
// data directory when there is one (in memory otherwise), each file
// written whole or not at all (internal/atomicfile).
type ConfigHistory struct {
	dir  string
	keep int
	log  *slog.Logger

	mu       sync.Mutex
	versions []ConfigVersion // oldest first
	mem      map[int][]byte  // the configs, without a data directory
}

// OpenHistory reads the history of dataDir ("" keeps it in memory).
// Unreadable entries are skipped and logged: a damaged history must not
// stop the node.
func OpenHistory(dataDir string, keep int, log *slog.Logger) *ConfigHistory {
	h := &ConfigHistory{keep: keep, log: log, mem: map[int][]byte{}}
	if dataDir == "" {
		return h
	}
	h.dir = filepath.Join(dataDir, HistoryDir)
	names, _ := filepath.Glob(filepath.Join(h.dir, "*.json"))
	for _, name := range names {
		b, err := os.ReadFile(name)
		var v ConfigVersion
		if err == nil {
			err = json.Unmarshal(b, &v)
		}
		if err != nil || v.Version <= 0 {
			log.Warn("config history entry skipped", "file", name, "err", err)
			continue
		}
		h.versions = append(h.versions, v)
	}
	sort.Slice(h.versions, func(i, j int) bool { return h.versions[i].Version < h.versions[j].Version })
	return h
}

// Record adds src as a new version unless it is the latest one already.
func (h *ConfigHistory) Record(src []byte, who, source, note string) (ConfigVersion, error) {
	sum := sha256.Sum256(src)
	sha := hex.EncodeToString(sum[:])
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.versions); n > 0 && h.versions[n-1].SHA256 == sha {
		return h.versions[n-1], nil
	}
	v := ConfigVersion{Version: 1, Time: time.Now().UTC(), Who: who, Source: source, Note: note, SHA256: sha, Bytes: len(src)}
	if n := len(h.versions); n > 0 {
		v.Version = h.versions[n-1].Version + 1
	}
	if err := h.writeLocked(v, src); err != nil {
		return ConfigVersion{}, err
	}
	h.versions = append(h.versions, v)
	for len(h.versions) > h.keep {
		h.dropLocked(h.versions[0].Version)
		h.versions = h.versions[1:]
	}
	return v, nil
}

func (h *ConfigHistory) writeLocked(v ConfigVersion, src []byte) error {
	if h.dir == "" {
		h.mem[v.Version] = append([]byte(nil), src...)
		return nil
	}
	if err := os.MkdirAll(h.dir, 0o700); err != nil {
		return fmt.Errorf("config history: %w", err)
	}
	meta, _ := json.Marshal(v)
	// The config first: a version whose description exists has its config.
	if err := atomicfile.Write(h.path(v.Version, ".yaml"), src, 0o600); err != nil {
		return fmt.Errorf("config history: %w", err)
	}
	if err := atomicfile.Write(h.path(v.Version, ".json"), meta, 0o600); err != nil {
		return fmt.Errorf("config history: %w", err)
	}
	return nil
}

func (h *ConfigHistory) dropLocked(version int) {
	delete(h.mem, version)
	if h.dir == "" {
		return
	}
	// The description first, so a crash between leaves no listed version
	// without its config.
	for _, ext := range []string{".json", ".yaml"} {
		if err := os.Remove(h.path(version, ext)); err != nil && !os.IsNotExist(err) {
			h.log.Warn("config history: cannot delete an old version", "version", version, "err", err)
		}
	}
}

func (h *ConfigHistory) path(version int, ext string) string {
	return filepath.Join(h.dir, fmt.Sprintf("%08d%s", version, ext))
}

// List returns the versions held, newest first.
func (h *ConfigHistory) List() []ConfigVersion {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]ConfigVersion, 0, len(h.versions))
	for i := len(h.versions) - 1; i >= 0; i-- {
		out = append(out, h.versions[i])
	}
	return out
}

// Get returns a version, its config, and the version before it (0 when
// it is the oldest held).
func (h *ConfigHistory) Get(version int) (v ConfigVersion, src []byte, prev int, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, cand := range h.versions {
		if cand.Version != version {
			continue
		}
		if i > 0 {
			prev = h.versions[i-1].Version
		}
		if h.dir == "" {
			return cand, h.mem[version], prev, nil
		}
		src, err = os.ReadFile(h.path(version, ".yaml"))
		if err != nil {
			return cand, nil, prev, fmt.Errorf("config history: version %d cannot be read: %w", version, err)
		}
		return cand, src, prev, nil
	}
	return ConfigVersion{}, nil, 0, fmt.Errorf("no version %d in the config history (it keeps the last %d: %s)",
		version, h.keep, h.rangeLocked())
}

func (h *ConfigHistory) rangeLocked() string {
	if len(h.versions) == 0 {
		return "none yet"
	}
	return strconv.Itoa(h.versions[0].Version) + " to " + strconv.Itoa(h.versions[len(h.versions)-1].Version)
}

// Latest is the newest version (0 when the history is empty).
func (h *ConfigHistory) Latest() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.versions) == 0 {
		return 0
	}
	return h.versions[len(h.versions)-1].Version
}

// DiffLine is one line of a diff: op is " " (kept), "-" (removed) or "+"
// (added).
type DiffLine struct {
	Op   string `json:"op"`
	Text string `json:"text"`
}

// maxDiffCells bounds the work of a diff: past it the changed middle is
// shown as all removed, then all added.
const maxDiffCells = 1_000_000

// Diff is the line diff from a to b: the common head and tail kept, the
// middle by longest common subsequence while that stays in bound.
func Diff(a, b []byte) []DiffLine {
	al, bl := lines(a), lines(b)
	head := 0
	for head < len(al) && head < len(bl) && al[head] == bl[head] {
		head++
	}
	tail := 0
	for tail < len(al)-head && tail < len(bl)-head && al[len(al)-1-tail] == bl[len(bl)-1-tail] {
		tail++
	}
	var out []DiffLine
	for _, l := range al[:head] {
		out = append(out, DiffLine{" ", l})
	}
	out = append(out, diffMiddle(al[head:len(al)-tail], bl[head:len(bl)-tail])...)
	for _, l := range al[len(al)-tail:] {
		out = append(out, DiffLine{" ", l})
	}
	return out
}

func lines(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func diffMiddle(a, b []string) []DiffLine {
	var out []DiffLine
	if len(a)*len(b) > maxDiffCells || len(a) == 0 || len(b) == 0 {
		for _, l := range a {
			out = append(out, DiffLine{"-", l})
		}
		for _, l := range b {
			out = append(out, DiffLine{"+", l})
		}
		return out
	}
	// lcs[i][j] is the common subsequence length of a[i:] and b[j:].
	lcs := make([][]int32, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			out = append(out, DiffLine{" ", a[i]})
			i, j = i+1, j+1
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, DiffLine{"-", a[i]})
			i++
		default:
			out = append(out, DiffLine{"+", b[j]})
			j++
		}
	}
	for ; i < len(a); i++ {
		out = append(out, DiffLine{"-", a[i]})
	}
	for ; j < len(b); j++ {
		out = append(out, DiffLine{"+", b[j]})
	}
	return out
}

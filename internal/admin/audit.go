package admin

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// AuditFile is the audit log in the data directory: one JSON object a line.
const AuditFile = "admin-audit.log"

// maxAuditBytes bounds the audit log; past it the file is moved to
// AuditFile.1 (replacing the older one) and a new one begun.
const maxAuditBytes = 16 << 20

// recentAudit is how many entries GET /api/v1/audit shows from memory.
const recentAudit = 200

// AuditEntry is one change made through the admin API.
type AuditEntry struct {
	Time   time.Time `json:"time"`
	Who    string    `json:"who"`
	Action string    `json:"action"`
	Body   string    `json:"body,omitempty"`
	Detail string    `json:"detail,omitempty"`
	Status int       `json:"status"`
}

// Audit appends changes to the audit log, and keeps the last ones.
type Audit struct {
	path string
	log  *slog.Logger

	mu     sync.Mutex
	recent []AuditEntry
}

// NewAudit opens the audit log of dataDir ("" keeps it in memory only).
func NewAudit(dataDir string, log *slog.Logger) *Audit {
	a := &Audit{log: log}
	if dataDir != "" {
		a.path = filepath.Join(dataDir, AuditFile)
	}
	return a
}

// Write records e. A log that cannot be written is said so in the node's
// log, with the entry, so the change is never unrecorded.
func (a *Audit) Write(e AuditEntry) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	a.log.Info("admin change", "who", e.Who, "action", e.Action, "status", e.Status, "detail", e.Detail)
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.recent) == recentAudit {
		a.recent = append(a.recent[:0], a.recent[1:]...)
	}
	a.recent = append(a.recent, e)
	if a.path == "" {
		return
	}
	if err := a.appendLocked(e); err != nil {
		a.log.Error("admin audit log not written", "path", a.path, "err", err)
	}
}

func (a *Audit) appendLocked(e AuditEntry) error {
	if fi, err := os.Stat(a.path); err == nil && fi.Size() > maxAuditBytes {
		if err := os.Rename(a.path, a.path+".1"); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(a.path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(a.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(e)
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Recent returns the last entries, oldest first.
func (a *Audit) Recent() []AuditEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]AuditEntry{}, a.recent...)
}

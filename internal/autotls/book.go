package autotls

import (
	"sort"
	"sync"
	"time"
)

// maxBookNames bounds the names remembered for /status (on-demand names
// are bounded by their gate too).
const maxBookNames = 10000

// book is each name's latest certificate outcome, for /status.
type book struct {
	mu    sync.Mutex
	names map[string]*NameStatus
	// changed is closed and replaced at every outcome, so handshakes
	// waiting for a first certificate wake up.
	changed chan struct{}
}

// NameStatus is one name's line in /status.
type NameStatus struct {
	Name      string    `json:"name"`
	State     string    `json:"state"` // waiting, obtaining, ok, failed
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error,omitempty"`
	Since     time.Time `json:"since"`
}

func newBook() *book { return &book{names: map[string]*NameStatus{}, changed: make(chan struct{})} }

// notifyLocked wakes the waiters; b.mu is held.
func (b *book) notifyLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// ok reports whether name's last outcome was a certificate.
func (b *book) ok(name string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.names[name]
	return s != nil && s.State == "ok"
}

// pending reports whether name's first certificate is still being
// obtained, and returns a channel closed at the next outcome.
func (b *book) pending(name string) (bool, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.names[name]
	return s != nil && (s.State == "waiting" || s.State == "obtaining"), b.changed
}

func (b *book) get(name string) *NameStatus {
	s := b.names[name]
	if s == nil {
		if len(b.names) >= maxBookNames {
			return &NameStatus{} // not remembered
		}
		s = &NameStatus{Name: name, State: "waiting", Since: time.Now()}
		b.names[name] = s
	}
	return s
}

func (b *book) want(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.get(name)
}

func (b *book) attempt(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.get(name)
	s.Attempts++
	s.State, s.Since = "obtaining", time.Now()
}

func (b *book) obtained(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.get(name)
	s.State, s.LastError, s.Since = "ok", "", time.Now()
	b.notifyLocked()
}

func (b *book) failed(name string, err error) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.get(name)
	s.State, s.Since = "failed", time.Now()
	if err != nil {
		s.LastError = err.Error()
	}
	b.notifyLocked()
	return s.Attempts
}

func (b *book) snapshot() []NameStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]NameStatus, 0, len(b.names))
	for _, s := range b.names {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

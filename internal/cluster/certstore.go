package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/redis/go-redis/v9"
)

// Certificates shared by the cluster: certmagic's Storage on the store, so
// one node obtains a certificate (under a cluster-wide lock) and every node
// loads it. Files are fields of one hash (their modification times of a
// second), which keeps every key in one slot and makes a prefix listing
// one HKEYS.
const (
	keyCerts        = "{levee}:certs"     // hash: key -> value
	keyCertsMod     = "{levee}:certs-mod" // hash: key -> modified (unix ms)
	keyCertLockPref = "{levee}:cert-lock:"

	// DefaultCertLockTTL is a certificate lock's lease: the holder
	// refreshes it every third of it, so a node that dies holding it
	// frees it within the lease.
	DefaultCertLockTTL = 30 * time.Second
	// certLockPoll is how often a waiting Lock tries again.
	certLockPoll = 250 * time.Millisecond
	// certCallTimeout bounds each storage call: certificate work is off
	// the request path and a value may be a few KB, so it gets longer
	// than the cluster's tight request-side timeout.
	certCallTimeout = 2 * time.Second
)

// CertStorage is certmagic.Storage on the cluster's store.
type CertStorage struct {
	c *Capability
	// LockTTL is the lease of a lock (DefaultCertLockTTL unless set
	// before use; tests shorten it).
	LockTTL time.Duration

	mu    sync.Mutex
	held  map[string]*certLock
	token string // this process's lock owner prefix
}

type certLock struct {
	value string
	stop  chan struct{}
	done  chan struct{}
}

var _ certmagic.Storage = (*CertStorage)(nil)

// CertStorage returns the certificate storage on the store (autotls uses
// it when the cluster: section is on).
func (c *Capability) CertStorage() *CertStorage { return c.certs }

func newCertStorage(c *Capability) *CertStorage {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &CertStorage{c: c, LockTTL: DefaultCertLockTTL, held: map[string]*certLock{}, token: hex.EncodeToString(b)}
}

var errNotInCluster = errors.New("cluster: certificate storage: this node is in no cluster")

// call runs f on the store under the context and certCallTimeout. It
// bypasses the breaker's fast path only in that it waits longer per call;
// an open breaker still answers at once.
func (s *CertStorage) call(ctx context.Context, f func(ctx context.Context, rdb redis.UniversalClient) error) error {
	s.c.mu.Lock()
	r := s.c.run
	s.c.mu.Unlock()
	if r == nil {
		return errNotInCluster
	}
	if !r.st.br.allow(time.Now()) {
		return errOpen
	}
	ctx, cancel := context.WithTimeout(ctx, certCallTimeout)
	defer cancel()
	err := f(ctx, r.st.rdb)
	ok := err == nil || errors.Is(err, redis.Nil)
	r.st.br.record(ok, time.Now())
	return err
}

// Store implements certmagic.Storage.
func (s *CertStorage) Store(ctx context.Context, key string, value []byte) error {
	return s.call(ctx, func(ctx context.Context, rdb redis.UniversalClient) error {
		p := rdb.TxPipeline()
		p.HSet(ctx, keyCerts, key, value)
		p.HSet(ctx, keyCertsMod, key, time.Now().UnixMilli())
		_, err := p.Exec(ctx)
		return err
	})
}

// Load implements certmagic.Storage.
func (s *CertStorage) Load(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.call(ctx, func(ctx context.Context, rdb redis.UniversalClient) error {
		var err error
		v, err = rdb.HGet(ctx, keyCerts, key).Bytes()
		return err
	})
	if errors.Is(err, redis.Nil) {
		return nil, fs.ErrNotExist
	}
	return v, err
}

// certDeleteScript deletes a key and every key under it as a directory.
var certDeleteScript = redis.NewScript(`
local dir = ARGV[1] .. '/'
local gone = {ARGV[1]}
for _, k in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(k, 1, #dir) == dir then gone[#gone + 1] = k end
end
for _, k in ipairs(gone) do
  redis.call('HDEL', KEYS[1], k)
  redis.call('HDEL', KEYS[2], k)
end
return #gone
`)

// Delete implements certmagic.Storage: the key, or the directory and all
// under it; a missing key is no error.
func (s *CertStorage) Delete(ctx context.Context, key string) error {
	return s.call(ctx, func(ctx context.Context, rdb redis.UniversalClient) error {
		return certDeleteScript.Run(ctx, rdb, []string{keyCerts, keyCertsMod}, key).Err()
	})
}

// keys returns every stored key.
func (s *CertStorage) keys(ctx context.Context) ([]string, error) {
	var ks []string
	err := s.call(ctx, func(ctx context.Context, rdb redis.UniversalClient) error {
		var err error
		ks, err = rdb.HKeys(ctx, keyCerts).Result()
		return err
	})
	return ks, err
}

// Exists implements certmagic.Storage: a file or a directory.
func (s *CertStorage) Exists(ctx context.Context, key string) bool {
	_, err := s.Stat(ctx, key)
	return err == nil
}

// List implements certmagic.Storage as the file storage does: the entries
// right under prefix or, recursive, every file and directory below it.
func (s *CertStorage) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	ks, err := s.keys(ctx)
	if err != nil {
		return nil, err
	}
	dir := strings.TrimSuffix(prefix, "/") + "/"
	if prefix == "" {
		dir = ""
	}
	seen := map[string]bool{}
	for _, k := range ks {
		rest, ok := strings.CutPrefix(k, dir)
		if !ok || rest == "" {
			continue
		}
		parts := strings.Split(rest, "/")
		if !recursive {
			parts = parts[:1]
		}
		for i := range parts {
			seen[dir+strings.Join(parts[:i+1], "/")] = true
		}
	}
	if len(seen) == 0 {
		return nil, fs.ErrNotExist
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// Stat implements certmagic.Storage.
func (s *CertStorage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	var size int64
	var mod string
	err := s.call(ctx, func(ctx context.Context, rdb redis.UniversalClient) error {
		p := rdb.Pipeline()
		l := p.HStrLen(ctx, keyCerts, key)
		m := p.HGet(ctx, keyCertsMod, key)
		_, err := p.Exec(ctx)
		size, mod = l.Val(), m.Val()
		if errors.Is(err, redis.Nil) {
			err = nil
		}
		return err
	})
	if err != nil {
		return certmagic.KeyInfo{}, err
	}
	if mod != "" {
		ms, _ := strconv.ParseInt(mod, 10, 64)
		return certmagic.KeyInfo{Key: key, Modified: time.UnixMilli(ms), Size: size, IsTerminal: true}, nil
	}
	if _, err := s.List(ctx, key, false); err != nil {
		return certmagic.KeyInfo{}, err
	}
	return certmagic.KeyInfo{Key: key, IsTerminal: false}, nil
}

// certRefreshScript extends a lock's lease only while its holder owns it;
// certReleaseScript deletes it only then.
var (
	certRefreshScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`)
	certReleaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)
)

var lockSeq struct {
	sync.Mutex
	n uint64
}

// Lock implements certmagic.Locker: a lease of LockTTL in the store,
// refreshed every third of it while held, waited for (polling) while
// another node holds it, until ctx ends. A store that does not answer
// makes Lock fail: certmagic retries later, rather than two nodes
// obtaining the same certificate.
func (s *CertStorage) Lock(ctx context.Context, name string) error {
	lockSeq.Lock()
	lockSeq.n++
	value := s.token + ":" + strconv.FormatUint(lockSeq.n, 10)
	lockSeq.Unlock()
	ttl := s.LockTTL
	for tries := 0; ; tries++ {
		var got bool
		err := s.call(ctx, func(ctx context.Context, rdb redis.UniversalClient) error {
			var err error
			got, err = rdb.SetNX(ctx, keyCertLockPref+name, value, ttl).Result()
			return err
		})
		if err != nil {
			return fmt.Errorf("cluster: certificate lock %q: %w", name, err)
		}
		if got {
			s.hold(name, value, ttl)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(certLockPoll):
		}
	}
}

// hold keeps the lease alive until Unlock.
func (s *CertStorage) hold(name, value string, ttl time.Duration) {
	l := &certLock{value: value, stop: make(chan struct{}), done: make(chan struct{})}
	s.mu.Lock()
	s.held[name] = l
	s.mu.Unlock()
	go func() {
		defer close(l.done)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
				_ = s.call(context.Background(), func(ctx context.Context, rdb redis.UniversalClient) error {
					return certRefreshScript.Run(ctx, rdb, []string{keyCertLockPref + name}, value, ttl.Milliseconds()).Err()
				})
			}
		}
	}()
}

// Unlock implements certmagic.Locker: stops the refresh and releases the
// lease if this holder still owns it.
func (s *CertStorage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	l := s.held[name]
	delete(s.held, name)
	s.mu.Unlock()
	if l == nil {
		return fmt.Errorf("cluster: certificate lock %q is not held here", name)
	}
	close(l.stop)
	<-l.done
	return s.call(ctx, func(ctx context.Context, rdb redis.UniversalClient) error {
		return certReleaseScript.Run(ctx, rdb, []string{keyCertLockPref + name}, l.value).Err()
	})
}

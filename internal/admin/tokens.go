package admin

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"levee/internal/atomicfile"
)

// Scopes a token can hold. admin holds every other scope.
const (
	ScopeRead     = "read"
	ScopePurge    = "purge"
	ScopeConfig   = "config"
	ScopeSwitches = "switches"
	ScopeAdmin    = "admin"
)

// Scopes lists every scope, in the order operators read them.
var Scopes = []string{ScopeRead, ScopePurge, ScopeConfig, ScopeSwitches, ScopeAdmin}

// TokenFile is the name of the token file in the data directory.
const TokenFile = "admin-tokens.json"

// MaxTokens bounds the token file, so a runaway script cannot grow it
// without end.
const MaxTokens = 256

// Token is one stored token: only the hash of its secret is kept.
type Token struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Scopes  []string  `json:"scopes"`
	SHA256  string    `json:"sha256"`
	Created time.Time `json:"created"`

	limitKey string // what the admin limits count this token's requests by
}

// Allows reports whether the token holds scope (admin holds all).
func (t *Token) Allows(scope string) bool {
	return slices.Contains(t.Scopes, scope) || slices.Contains(t.Scopes, ScopeAdmin)
}

type tokenFile struct {
	Tokens []Token `json:"tokens"`
}

// TokenStore is the token file of a data directory. It rereads the file
// when it changes (at most once a second), so `levee token create` on a
// running node takes effect without a reload.
type TokenStore struct {
	path string // empty: no data directory, tokens live in memory only

	mu      sync.Mutex
	tokens  []Token
	stamp   fileStamp
	checked time.Time
	loadErr error
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// OpenTokens opens the token store of dataDir ("" keeps tokens in memory).
func OpenTokens(dataDir string) (*TokenStore, error) {
	s := &TokenStore{}
	if dataDir != "" {
		s.path = filepath.Join(dataDir, TokenFile)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshLocked(time.Now(), true)
	return s, s.loadErr
}

// ParseScopes checks a list of scope names.
func ParseScopes(list []string) ([]string, error) {
	var out []string
	for _, s := range list {
		for _, one := range strings.Split(s, ",") {
			one = strings.TrimSpace(one)
			if one == "" {
				continue
			}
			if !slices.Contains(Scopes, one) {
				return nil, fmt.Errorf("unknown scope %q: want %s", one, strings.Join(Scopes, ", "))
			}
			if !slices.Contains(out, one) {
				out = append(out, one)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("a token needs at least one scope: %s", strings.Join(Scopes, ", "))
	}
	return out, nil
}

// Create makes a new token and stores its hash. The secret is returned
// once and never again.
func (s *TokenStore) Create(name string, scopes []string) (secret string, t Token, err error) {
	scopes, err = ParseScopes(scopes)
	if err != nil {
		return "", Token{}, err
	}
	var id [6]byte
	var key [32]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", Token{}, err
	}
	if _, err := rand.Read(key[:]); err != nil {
		return "", Token{}, err
	}
	t = Token{ID: hex.EncodeToString(id[:]), Name: name, Scopes: scopes, Created: time.Now().UTC().Truncate(time.Second)}
	secret = "levee_" + t.ID + "_" + base64.RawURLEncoding.EncodeToString(key[:])
	t.SHA256 = hashToken(secret)
	err = s.update(func(list []Token) ([]Token, error) {
		if len(list) >= MaxTokens {
			return nil, fmt.Errorf("there are already %d tokens, the most the node keeps; revoke one first", MaxTokens)
		}
		return append(list, t), nil
	})
	if err != nil {
		return "", Token{}, err
	}
	return secret, t, nil
}

// Revoke removes the token with id.
func (s *TokenStore) Revoke(id string) error {
	return s.update(func(list []Token) ([]Token, error) {
		i := slices.IndexFunc(list, func(t Token) bool { return t.ID == id })
		if i < 0 {
			return nil, fmt.Errorf("no token with id %q", id)
		}
		return slices.Delete(list, i, i+1), nil
	})
}

// List returns the stored tokens (hashes included; no secrets exist).
func (s *TokenStore) List() []Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshLocked(time.Now(), false)
	return slices.Clone(s.tokens)
}

// Len is the number of tokens.
func (s *TokenStore) Len() int { return len(s.List()) }

// Verify returns the token whose secret is presented, or nil.
func (s *TokenStore) Verify(secret string) *Token {
	id, ok := tokenID(secret)
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshLocked(time.Now(), false)
	want := hashToken(secret)
	for i := range s.tokens {
		t := &s.tokens[i]
		if t.ID == id && subtle.ConstantTimeCompare([]byte(t.SHA256), []byte(want)) == 1 {
			c := *t
			c.limitKey = "token:" + c.ID
			return &c
		}
	}
	return nil
}

func tokenID(secret string) (string, bool) {
	rest, ok := strings.CutPrefix(secret, "levee_")
	if !ok || len(secret) > 128 {
		return "", false
	}
	id, _, ok := strings.Cut(rest, "_")
	return id, ok && id != ""
}

// hashToken is a plain SHA-256: the secret holds 256 random bits, so no
// slow password hash is needed to make a stolen file useless.
func hashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func (s *TokenStore) update(change func([]Token) ([]Token, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshLocked(time.Now(), true)
	if s.loadErr != nil {
		return s.loadErr
	}
	next, err := change(slices.Clone(s.tokens))
	if err != nil {
		return err
	}
	if s.path != "" {
		b, _ := json.MarshalIndent(tokenFile{Tokens: next}, "", "  ")
		if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
			return err
		}
		if err := atomicfile.Write(s.path, append(b, '\n'), 0o600); err != nil {
			return fmt.Errorf("write tokens: %w", err)
		}
		s.stamp = stampOf(s.path)
	}
	s.tokens = next
	return nil
}

// refreshLocked rereads the file if it changed. A file that no longer
// parses keeps the tokens last read, so a bad edit cannot open the API.
func (s *TokenStore) refreshLocked(now time.Time, force bool) {
	if s.path == "" || (!force && now.Sub(s.checked) < time.Second) {
		return
	}
	s.checked = now
	st := stampOf(s.path)
	if !force && st == s.stamp {
		return
	}
	b, err := os.ReadFile(s.path)
	// No file (or no data directory to hold one: a path through a regular
	// file) is a store with no tokens. A file that exists and cannot be
	// read or parsed is an error, never an empty store: that would open a
	// node its operator had closed.
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		s.tokens, s.stamp, s.loadErr = nil, st, nil
		return
	}
	var f tokenFile
	if err == nil {
		err = json.Unmarshal(b, &f)
	}
	if err != nil {
		s.loadErr = fmt.Errorf("token file %s: %w", s.path, err)
		return
	}
	s.tokens, s.stamp, s.loadErr = f.Tokens, st, nil
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}
}

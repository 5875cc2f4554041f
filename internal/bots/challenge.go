package bots

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"levee/internal/atomicfile"
)

// The proof-of-work challenge. A challenge token is
//
//	base64url(issued u64 | expires u64 | difficulty u8 | nonce 16) "." base64url(mac)
//
// with mac = HMAC-SHA256(key, "c" | payload | client prefix | User-Agent).
// The client finds a counter n such that SHA-256(token ":" n) starts with
// difficulty zero bits. A pass cookie is
//
//	expires (decimal) "." base64url(HMAC-SHA256(key, "p" | expires | prefix | UA))
//
// Both are bound to the client's /24 (IPv4) or /48 (IPv6) and its
// User-Agent, so a cookie carried to another network or browser is refused.
// A token's nonce is spent once (seen), so a solved token cannot mint a
// second cookie.

const (
	keyName        = "bots.key"
	prefixBits4    = 24
	prefixBits6    = 48
	maxBoundUA     = 256 // the User-Agent bytes bound into a MAC
	maxSpentNonces = 1 << 17
	tokenPayload   = 8 + 8 + 1 + 16
)

var b64 = base64.RawURLEncoding

// Signer signs and checks challenge tokens and pass cookies.
type Signer struct {
	key   [32]byte
	spent spentSet
}

// loadKey reads the signing key from dataDir, creating it once; without a
// data directory (or if it cannot be written) the key lives for this run
// only, and passes do not survive a restart.
func loadKey(dataDir string) ([32]byte, error) {
	var k [32]byte
	if dataDir == "" {
		_, _ = rand.Read(k[:])
		return k, nil
	}
	p := filepath.Join(dataDir, keyName)
	if b, err := os.ReadFile(p); err == nil && len(b) == 32 {
		copy(k[:], b)
		return k, nil
	}
	_, _ = rand.Read(k[:])
	if err := atomicfile.Write(p, k[:], 0o600); err != nil {
		return k, err
	}
	return k, nil
}

// clientPrefix is the network a pass is bound to.
func clientPrefix(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := prefixBits6
	if a.Is4() {
		bits = prefixBits4
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}

// mac is HMAC-SHA256 over tag|msg|prefix|ua, computed on the stack so
// checking a pass cookie on every request does not allocate.
func (s *Signer) mac(tag byte, msg []byte, client netip.Addr, ua string) [32]byte {
	var ipad, opad [64]byte
	for i := range ipad {
		ipad[i], opad[i] = 0x36, 0x5c
	}
	for i, b := range s.key {
		ipad[i] ^= b
		opad[i] ^= b
	}
	var buf [64 + 1 + 64 + 17 + maxBoundUA]byte
	n := copy(buf[:], ipad[:])
	buf[n] = tag
	n++
	n += copy(buf[n:], msg[:min(len(msg), 64)])
	p := clientPrefix(client)
	a16 := p.Addr().As16()
	n += copy(buf[n:], a16[:])
	buf[n] = byte(p.Bits())
	n++
	n += copy(buf[n:], ua[:min(len(ua), maxBoundUA)])
	inner := sha256.Sum256(buf[:n])
	var outer [64 + 32]byte
	copy(outer[:], opad[:])
	copy(outer[64:], inner[:])
	return sha256.Sum256(outer[:])
}

// Token issues a challenge for client and ua.
func (s *Signer) Token(now time.Time, ttl time.Duration, difficulty int, client netip.Addr, ua string) string {
	var p [tokenPayload]byte
	binary.BigEndian.PutUint64(p[0:], uint64(now.Unix()))
	binary.BigEndian.PutUint64(p[8:], uint64(now.Add(ttl).Unix()))
	p[16] = byte(difficulty)
	_, _ = rand.Read(p[17:])
	m := s.mac('c', p[:], client, ua)
	return b64.EncodeToString(p[:]) + "." + b64.EncodeToString(m[:])
}

// Errors a challenge answer can get; the client sees them as a new
// challenge, the metrics by name.
var (
	ErrBadToken  = errors.New("challenge token is malformed or not ours")
	ErrExpired   = errors.New("challenge expired")
	ErrBadWork   = errors.New("proof of work does not meet the difficulty")
	ErrReplayed  = errors.New("challenge already used")
	ErrTooEarly  = errors.New("waited less than the no-script wait")
	ErrSpentFull = errors.New("too many challenges in flight")
)

type tokenInfo struct {
	issued, expires time.Time
	difficulty      int
	nonce           [16]byte
}

// checkToken verifies a token's signature, binding and expiry.
func (s *Signer) checkToken(tok string, now time.Time, client netip.Addr, ua string) (tokenInfo, error) {
	var ti tokenInfo
	ps, ms, ok := cut(tok, '.')
	if !ok || len(ps) != b64.EncodedLen(tokenPayload) || len(ms) != b64.EncodedLen(32) {
		return ti, ErrBadToken
	}
	var p [tokenPayload]byte
	var m [32]byte
	if _, err := b64.Decode(p[:], []byte(ps)); err != nil {
		return ti, ErrBadToken
	}
	if _, err := b64.Decode(m[:], []byte(ms)); err != nil {
		return ti, ErrBadToken
	}
	want := s.mac('c', p[:], client, ua)
	if subtle.ConstantTimeCompare(want[:], m[:]) != 1 {
		return ti, ErrBadToken
	}
	ti.issued = time.Unix(int64(binary.BigEndian.Uint64(p[0:])), 0)
	ti.expires = time.Unix(int64(binary.BigEndian.Uint64(p[8:])), 0)
	ti.difficulty = int(p[16])
	copy(ti.nonce[:], p[17:])
	if !now.Before(ti.expires) {
		return ti, ErrExpired
	}
	return ti, nil
}

// Solved checks a proof of work for tok and spends the token.
func (s *Signer) Solved(tok, counter string, now time.Time, client netip.Addr, ua string) error {
	ti, err := s.checkToken(tok, now, client, ua)
	if err != nil {
		return err
	}
	if len(counter) == 0 || len(counter) > 20 {
		return ErrBadWork
	}
	if LeadingZeroBits(sha256.Sum256([]byte(tok+":"+counter))) < ti.difficulty {
		return ErrBadWork
	}
	return s.spent.spend(ti.nonce, ti.expires, now)
}

// Waited checks the no-script path: a token shown at least wait ago.
func (s *Signer) Waited(tok string, wait time.Duration, now time.Time, client netip.Addr, ua string) error {
	ti, err := s.checkToken(tok, now, client, ua)
	if err != nil {
		return err
	}
	if now.Before(ti.issued.Add(wait)) {
		return ErrTooEarly
	}
	return s.spent.spend(ti.nonce, ti.expires, now)
}

// LeadingZeroBits counts the zero bits a hash starts with.
func LeadingZeroBits(h [32]byte) int {
	n := 0
	for _, b := range h {
		if b == 0 {
			n += 8
			continue
		}
		for b&0x80 == 0 {
			n++
			b <<= 1
		}
		return n
	}
	return n
}

// Pass returns a pass cookie value good until expires.
func (s *Signer) Pass(expires time.Time, client netip.Addr, ua string) string {
	e := strconv.FormatInt(expires.Unix(), 10)
	m := s.mac('p', []byte(e), client, ua)
	return e + "." + b64.EncodeToString(m[:])
}

// ValidPass checks a pass cookie value without allocating.
func (s *Signer) ValidPass(v string, now time.Time, client netip.Addr, ua string) bool {
	es, ms, ok := cut(v, '.')
	if !ok || len(es) == 0 || len(es) > 19 || len(ms) != b64.EncodedLen(32) {
		return false
	}
	exp, err := strconv.ParseInt(es, 10, 64)
	if err != nil || now.Unix() >= exp {
		return false
	}
	var eb [19]byte
	n := copy(eb[:], es)
	want := s.mac('p', eb[:n], client, ua)
	var got [32]byte
	var src [43]byte
	copy(src[:], ms)
	if _, err := b64.Decode(got[:], src[:]); err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(want[:], got[:]) == 1
}

func cut(s string, sep byte) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// spentSet remembers the nonces of answered challenges until they
// expire, bounded: when full of live nonces, answers are refused (a
// counted rejection) rather than the set growing or forgetting a nonce
// that could then be replayed.
type spentSet struct {
	mu sync.Mutex
	m  map[[16]byte]time.Time
}

func (s *spentSet) spend(n [16]byte, expires, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[[16]byte]time.Time{}
	}
	if _, used := s.m[n]; used {
		return ErrReplayed
	}
	if len(s.m) >= maxSpentNonces {
		for k, e := range s.m {
			if !now.Before(e) {
				delete(s.m, k)
			}
		}
		if len(s.m) >= maxSpentNonces {
			return ErrSpentFull
		}
	}
	s.m[n] = expires
	return nil
}

package shield

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// KeyFile is the waiting-room signing key inside the node's data directory.
// It persists so that a restarted node still honours its users' cookies.
const KeyFile = "shield-room.key"

// LoadKey reads the signing key from dir, creating it (32 random bytes,
// mode 0600) if missing. With no dir the key lives only in memory.
func LoadKey(dir string) ([]byte, error) {
	key := make([]byte, 32)
	if dir == "" {
		_, err := rand.Read(key)
		return key, err
	}
	path := filepath.Join(dir, KeyFile)
	if b, err := os.ReadFile(path); err == nil {
		if len(b) != 32 {
			return nil, fmt.Errorf("%s: want 32 bytes, found %d", path, len(b))
		}
		return b, nil
	}
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if b, rerr := os.ReadFile(path); rerr == nil && len(b) == 32 {
			return b, nil // another start won the race
		}
		return nil, err
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, err
	}
	return key, f.Close()
}

// pass is the waiting room cookie's content. Kind 'q' is a queue ticket
// (At is the first arrival); kind 'a' an admitted session (At is when it
// ends).
type pass struct {
	Kind byte
	ID   string
	At   int64
}

var errBadPass = errors.New("bad waiting room cookie")

// sign encodes p for room as "kind.id.at.mac".
func sign(key []byte, room string, p pass) string {
	body := string(p.Kind) + "." + p.ID + "." + strconv.FormatInt(p.At, 10)
	return body + "." + mac(key, room, body)
}

// verify decodes and checks a cookie value signed for room.
func verify(key []byte, room, v string) (pass, error) {
	i := strings.LastIndexByte(v, '.')
	if i < 0 || len(v) > 128 {
		return pass{}, errBadPass
	}
	body, sum := v[:i], v[i+1:]
	if !hmac.Equal([]byte(sum), []byte(mac(key, room, body))) {
		return pass{}, errBadPass
	}
	parts := strings.Split(body, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || (parts[0] != "q" && parts[0] != "a") || len(parts[1]) != 32 {
		return pass{}, errBadPass
	}
	at, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return pass{}, errBadPass
	}
	return pass{Kind: parts[0][0], ID: parts[1], At: at}, nil
}

func mac(key []byte, room, body string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(room))
	m.Write([]byte{0})
	m.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// newID returns a random 128-bit user ID in hex.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

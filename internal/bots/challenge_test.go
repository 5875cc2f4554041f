package bots

import (
	"crypto/sha256"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

// solve finds a counter meeting the token's difficulty, bounded.
func solve(t testing.TB, tok string, difficulty int) string {
	for n := 0; n < 1<<24; n++ {
		c := strconv.Itoa(n)
		if LeadingZeroBits(sha256.Sum256([]byte(tok+":"+c))) >= difficulty {
			return c
		}
	}
	t.Fatal("no solution found")
	return ""
}

func TestChallengeBindingExpiryReplay(t *testing.T) {
	s := &Signer{key: [32]byte{1, 2, 3}}
	now := time.Unix(1_800_000_000, 0)
	a := netip.MustParseAddr("198.51.100.7")
	sameNet := netip.MustParseAddr("198.51.100.200")
	other := netip.MustParseAddr("198.51.101.7")
	ua := "Mozilla/5.0 test"
	tok := s.Token(now, time.Minute, 8, a, ua)
	n := solve(t, tok, 8)

	if err := s.Solved(tok, "x", now, a, ua); err != ErrBadWork && LeadingZeroBits(sha256.Sum256([]byte(tok+":x"))) < 8 {
		t.Errorf("wrong work: %v", err)
	}
	if err := s.Solved(tok, n, now, other, ua); err != ErrBadToken {
		t.Errorf("from another /24: %v, want ErrBadToken", err)
	}
	if err := s.Solved(tok, n, now, a, "curl/8"); err != ErrBadToken {
		t.Errorf("from another User-Agent: %v, want ErrBadToken", err)
	}
	if err := s.Solved(tok, n, now.Add(time.Minute), a, ua); err != ErrExpired {
		t.Errorf("after expiry: %v, want ErrExpired", err)
	}
	if err := s.Solved(tok[:len(tok)-2]+"AA", n, now, a, ua); err != ErrBadToken {
		t.Errorf("forged signature: %v, want ErrBadToken", err)
	}
	if err := s.Solved(tok, n, now, sameNet, ua); err != nil {
		t.Fatalf("good answer from the same /24: %v", err)
	}
	if err := s.Solved(tok, n, now, a, ua); err != ErrReplayed {
		t.Errorf("second answer: %v, want ErrReplayed", err)
	}

	pass := s.Pass(now.Add(time.Hour), a, ua)
	if !s.ValidPass(pass, now, sameNet, ua) {
		t.Error("pass refused in the same /24")
	}
	if s.ValidPass(pass, now, other, ua) {
		t.Error("pass accepted from another /24")
	}
	if s.ValidPass(pass, now, a, "other UA") {
		t.Error("pass accepted from another User-Agent")
	}
	if s.ValidPass(pass, now.Add(time.Hour), a, ua) {
		t.Error("pass accepted after expiry")
	}
	if s.ValidPass("9999999999."+pass[len(pass)-43:], now, a, ua) {
		t.Error("pass with a changed expiry accepted")
	}
	v6 := netip.MustParseAddr("2001:db8:1:2::1")
	p6 := s.Pass(now.Add(time.Hour), v6, ua)
	if !s.ValidPass(p6, now, netip.MustParseAddr("2001:db8:1:ffff::9"), ua) || s.ValidPass(p6, now, netip.MustParseAddr("2001:db8:2::1"), ua) {
		t.Error("IPv6 passes are not bound to the /48")
	}
	if a := testing.AllocsPerRun(50, func() { s.ValidPass(pass, now, a, ua) }); a != 0 {
		t.Errorf("ValidPass allocates %.0f times", a)
	}
}

func TestNoScriptWait(t *testing.T) {
	s := &Signer{key: [32]byte{9}}
	now := time.Unix(1_800_000_000, 0)
	a := netip.MustParseAddr("192.0.2.1")
	tok := s.Token(now, time.Minute, 16, a, "ua")
	if err := s.Waited(tok, 5*time.Second, now.Add(4*time.Second), a, "ua"); err != ErrTooEarly {
		t.Errorf("early: %v, want ErrTooEarly", err)
	}
	if err := s.Waited(tok, 5*time.Second, now.Add(5*time.Second), a, "ua"); err != nil {
		t.Errorf("after the wait: %v", err)
	}
	if err := s.Waited(tok, 5*time.Second, now.Add(6*time.Second), a, "ua"); err != ErrReplayed {
		t.Errorf("replayed: %v, want ErrReplayed", err)
	}
}

func TestSpentSetIsBounded(t *testing.T) {
	var s spentSet
	now := time.Unix(1000, 0)
	for i := 0; i < maxSpentNonces; i++ {
		var n [16]byte
		n[0], n[1], n[2] = byte(i), byte(i>>8), byte(i>>16)
		if err := s.spend(n, now.Add(time.Minute), now); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.spend([16]byte{0xff, 0xff, 0xff, 1}, now.Add(time.Minute), now); err != ErrSpentFull {
		t.Fatalf("full set: %v, want ErrSpentFull", err)
	}
	if err := s.spend([16]byte{0xff, 0xff, 0xff, 1}, now.Add(2*time.Minute), now.Add(time.Minute)); err != nil {
		t.Fatalf("after the others expired: %v", err)
	}
}

package cluster_test

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"levee/internal/leveetest"
)

// certmagic's Storage semantics on the store: files, implicit directories,
// listings as the file storage gives them, deletes of whole directories,
// fs.ErrNotExist for what is missing; two nodes see the same files.
func TestCertStorageSemantics(t *testing.T) {
	r := leveetest.StartRedis(t)
	a := startNode(t, fastConfig(r.URL(), "a"), "").cap.CertStorage()
	b := startNode(t, fastConfig(r.URL(), "b"), "").cap.CertStorage()
	ctx := context.Background()
	if _, err := a.Load(ctx, "certificates/ca/x.crt"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of a missing key: %v, want fs.ErrNotExist", err)
	}
	if _, err := a.Stat(ctx, "certificates"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat of a missing key: %v", err)
	}
	if _, err := a.List(ctx, "certificates", true); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("List of a missing prefix: %v", err)
	}
	files := map[string]string{
		"certificates/ca/x.example/x.example.crt": "cert x",
		"certificates/ca/x.example/x.example.key": "key x",
		"certificates/ca/*.example/*.example.crt": "cert wild",
		"acme/ca/users/a@b/a.json":                "user",
		"certificatesX/not-a-child":               "other",
	}
	before := time.Now().Add(-time.Second)
	for k, v := range files {
		if err := a.Store(ctx, k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Store(ctx, "acme/ca/users/a@b/a.json", []byte("user v2")); err != nil {
		t.Fatal(err)
	}
	files["acme/ca/users/a@b/a.json"] = "user v2"
	for k, v := range files {
		got, err := b.Load(ctx, k)
		if err != nil || string(got) != v {
			t.Fatalf("node b Load %s: %q %v, want %q", k, got, err, v)
		}
	}
	ki, err := b.Stat(ctx, "certificates/ca/x.example/x.example.crt")
	if err != nil || !ki.IsTerminal || ki.Size != int64(len("cert x")) || ki.Modified.Before(before) {
		t.Fatalf("Stat of a file: %+v %v", ki, err)
	}
	if ki, err := b.Stat(ctx, "certificates/ca"); err != nil || ki.IsTerminal {
		t.Fatalf("Stat of a directory: %+v %v", ki, err)
	}
	if !b.Exists(ctx, "certificates/ca/x.example") || !b.Exists(ctx, "acme/ca/users/a@b/a.json") || b.Exists(ctx, "certificates/c") {
		t.Fatal("Exists: wrong for a directory, a file or a missing key")
	}
	got, err := b.List(ctx, "certificates/ca", false)
	if want := []string{"certificates/ca/*.example", "certificates/ca/x.example"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("List non-recursive: %q %v, want %q", got, err, want)
	}
	got, err = b.List(ctx, "certificates", true)
	want := []string{"certificates/ca", "certificates/ca/*.example", "certificates/ca/*.example/*.example.crt",
		"certificates/ca/x.example", "certificates/ca/x.example/x.example.crt", "certificates/ca/x.example/x.example.key"}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("List recursive: %q %v, want %q", got, err, want)
	}
	if err := b.Delete(ctx, "certificates/ca/x.example"); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "no/such/key"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	if a.Exists(ctx, "certificates/ca/x.example/x.example.key") || a.Exists(ctx, "certificates/ca/x.example") {
		t.Fatal("Delete of a directory left files under it")
	}
	if !a.Exists(ctx, "certificates/ca/*.example/*.example.crt") || !a.Exists(ctx, "certificatesX/not-a-child") {
		t.Fatal("Delete of a directory removed a sibling")
	}
}

// Locks are leases held across nodes: a second node waits while the first
// holds it (the lease refreshed well past its TTL), gets it at once on
// Unlock, and gets it after one TTL when the holder dies without
// unlocking. A dead store makes Lock fail rather than hand out the lock.
func TestCertStorageLocks(t *testing.T) {
	r := leveetest.StartRedis(t)
	na := startNode(t, fastConfig(r.URL(), "a"), "")
	a, b := na.cap.CertStorage(), startNode(t, fastConfig(r.URL(), "b"), "").cap.CertStorage()
	const ttl = 300 * time.Millisecond
	a.LockTTL, b.LockTTL = ttl, ttl
	ctx := context.Background()
	if err := a.Lock(ctx, "issue_cert_x.example"); err != nil {
		t.Fatal(err)
	}
	// Held for 4 TTLs: b must not get it meanwhile.
	var bGot atomic.Bool
	done := make(chan error, 1)
	go func() {
		err := b.Lock(ctx, "issue_cert_x.example")
		bGot.Store(true)
		done <- err
	}()
	time.Sleep(4 * ttl)
	if bGot.Load() {
		t.Fatal("b got the lock while a held it (the lease was not refreshed)")
	}
	if err := a.Unlock(ctx, "issue_cert_x.example"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("b did not get the lock after a's Unlock")
	}
	// b dies holding it: its lease is no longer refreshed and lapses.
	r.Do("SET", "{levee}:cert-lock:orphan", "dead-node", "PX", "300")
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := a.Lock(cctx, "orphan"); err != nil {
		t.Fatalf("a lock left by a dead node was not freed by its lease: %v", err)
	}
	t.Logf("orphan lock taken after %s", time.Since(start))
	_ = a.Unlock(ctx, "orphan")
	if err := b.Unlock(ctx, "issue_cert_x.example"); err != nil {
		t.Fatal(err)
	}
	// A canceled wait returns the context's error.
	if err := a.Lock(ctx, "busy"); err != nil {
		t.Fatal(err)
	}
	short, cancel2 := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel2()
	if err := b.Lock(short, "busy"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a canceled wait: %v", err)
	}
	_ = a.Unlock(ctx, "busy")
	r.Stop()
	if err := b.Lock(ctx, "down"); err == nil {
		t.Fatal("Lock succeeded with the store down")
	}
}

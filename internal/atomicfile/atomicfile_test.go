package atomicfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func temps(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), TempPrefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriteReplacesWithExactPerm(t *testing.T) {
	old := syscall.Umask(0o077) // perm must hold whatever the umask
	defer syscall.Umask(old)
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	for _, c := range []struct {
		data string
		perm os.FileMode
	}{{"old", 0o600}, {"new content", 0o644}, {"", 0o640}} {
		if err := Write(p, []byte(c.data), c.perm); err != nil {
			t.Fatal(err)
		}
		if got := readString(t, p); got != c.data {
			t.Fatalf("content %q, want %q", got, c.data)
		}
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != c.perm {
			t.Fatalf("perm %v, want %v", st.Mode().Perm(), c.perm)
		}
	}
	if left := temps(t, dir); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// A reader never sees a mix of two writes or a short file.
func TestReadersSeeOldOrNew(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	a, b := bytes.Repeat([]byte("a"), 64<<10), bytes.Repeat([]byte("b"), 64<<10)
	if err := Write(p, a, 0o600); err != nil {
		t.Fatal(err)
	}
	const rounds = 100
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range rounds {
			data := a
			if i%2 == 0 {
				data = b
			}
			if err := Write(p, data, 0o600); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range rounds {
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, a) && !bytes.Equal(got, b) {
			t.Fatalf("read %d bytes that are neither write", len(got))
		}
	}
	wg.Wait()
}

func TestFailuresLeaveTargetAndNoTemp(t *testing.T) {
	errBoom := errors.New("boom")
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string) (path string)
		fill  func(io.Writer) error
		want  error
	}{
		{name: "fill fails after writing", fill: func(w io.Writer) error {
			_, _ = w.Write([]byte("partial"))
			return errBoom
		}, want: errBoom},
		{name: "fsync fails", setup: func(t *testing.T, dir string) string {
			syncFile = func(*os.File) error { return errBoom }
			t.Cleanup(func() { syncFile = (*os.File).Sync })
			return filepath.Join(dir, "target")
		}, want: errBoom},
		{name: "rename fails", setup: func(t *testing.T, dir string) string {
			rename = func(string, string) error { return errBoom }
			t.Cleanup(func() { rename = os.Rename })
			return filepath.Join(dir, "target")
		}, want: errBoom},
		{name: "target is a non-empty directory", setup: func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "sub")
			if err := os.MkdirAll(filepath.Join(p, "x"), 0o700); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{name: "directory not writable", setup: func(t *testing.T, dir string) string {
			if os.Geteuid() == 0 {
				t.Skip("root writes to any directory")
			}
			if err := os.Chmod(dir, 0o500); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
			return filepath.Join(dir, "target")
		}, want: os.ErrPermission},
		{name: "directory missing", setup: func(t *testing.T, dir string) string {
			return filepath.Join(dir, "nope", "target")
		}, want: os.ErrNotExist},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "target")
			if err := Write(p, []byte("old"), 0o600); err != nil {
				t.Fatal(err)
			}
			if c.setup != nil {
				p = c.setup(t, dir)
			}
			fill := c.fill
			if fill == nil {
				fill = func(w io.Writer) error { _, err := w.Write([]byte("new")); return err }
			}
			err := WriteFunc(p, 0o600, fill)
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			_ = os.Chmod(dir, 0o700)
			if got := readString(t, filepath.Join(dir, "target")); got != "old" {
				t.Fatalf("target changed to %q", got)
			}
			if left := temps(t, dir); len(left) != 0 {
				t.Fatalf("temporary files left: %v", left)
			}
		})
	}
}

// The split steps let a caller rename under its own lock; Cleanup after
// a rename keeps the target, Cleanup without one removes the temporary.
func TestSplitStepsAndCleanup(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	f, err := Create(p, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("kept")); err != nil {
		t.Fatal(err)
	}
	if err := f.SyncDir(); err == nil {
		t.Fatal("SyncDir before Rename succeeded")
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("late")); err == nil {
		t.Fatal("Write after Sync succeeded")
	}
	if err := f.Rename(); err != nil {
		t.Fatal(err)
	}
	if err := f.SyncDir(); err != nil {
		t.Fatal(err)
	}
	f.Cleanup()
	f.Cleanup()
	if got := readString(t, p); got != "kept" {
		t.Fatalf("content %q", got)
	}

	g, err := Create(p, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Write([]byte("dropped")); err != nil {
		t.Fatal(err)
	}
	g.Cleanup()
	if err := g.Rename(); err == nil {
		t.Fatal("Rename after Cleanup succeeded")
	}
	if got := readString(t, p); got != "kept" {
		t.Fatalf("content %q after an abandoned write", got)
	}
	if left := temps(t, dir); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// Package atomicfile writes files so that a reader, or the node after a
// crash, finds either the old content or the new one, never a mix: the
// bytes go to a temporary file beside the target, which is synced, closed,
// renamed over the target, and then the directory is synced.
package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
)

// TempPrefix starts the name of every temporary file this package makes.
// A directory scanner can delete names with it that a crash left behind.
const TempPrefix = ".tmp-"

// Test seams: the operating system rarely fails these on demand.
var (
	syncFile = (*os.File).Sync
	rename   = os.Rename
)

// Write replaces path with data, readable with exactly perm (the umask
// does not apply). The directory of path must exist. On any error the
// temporary file is removed and path is left as it was, except when only
// the final directory sync failed: then path has the new content, which
// may not survive a crash.
func Write(path string, data []byte, perm os.FileMode) error {
	return WriteFunc(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFunc is Write for content that is streamed: fill writes it, and an
// error from fill leaves path as it was and is returned.
func WriteFunc(path string, perm os.FileMode, fill func(w io.Writer) error) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Cleanup()
	if err := fill(f); err != nil {
		return err
	}
	return f.Commit()
}

// File is a pending replacement of a file. Write to it, then Commit; or
// call Sync, Rename and SyncDir one by one when the rename must happen
// under a lock of the caller's and the syncs must not. Defer Cleanup: it
// removes the temporary file on every path that did not rename it.
type File struct {
	f       *os.File
	path    string
	synced  bool // closed, after a sync or by Cleanup
	renamed bool
	removed bool
}

// Create opens a temporary file for path in path's directory, with mode
// perm.
func Create(path string, perm os.FileMode) (*File, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), TempPrefix+filepath.Base(path)+"-*")
	if err != nil {
		return nil, err
	}
	f := &File{f: tmp, path: path}
	if err := tmp.Chmod(perm); err != nil {
		f.Cleanup()
		return nil, err
	}
	return f, nil
}

// Write writes to the temporary file.
func (f *File) Write(p []byte) (int, error) {
	if f.synced {
		return 0, os.ErrClosed
	}
	return f.f.Write(p)
}

// Sync makes the written bytes durable and closes the temporary file.
func (f *File) Sync() error {
	if f.synced {
		return nil
	}
	f.synced = true
	err := syncFile(f.f)
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Rename syncs the temporary file if Sync was not called, then renames it
// over the target, which readers see from now on.
func (f *File) Rename() error {
	if err := f.Sync(); err != nil {
		return err
	}
	if f.renamed {
		return nil
	}
	if f.removed {
		return os.ErrClosed
	}
	if err := rename(f.f.Name(), f.path); err != nil {
		return err
	}
	f.renamed = true
	return nil
}

// SyncDir makes the rename durable by syncing the target's directory.
func (f *File) SyncDir() error {
	if !f.renamed {
		return errors.New("atomicfile: SyncDir before Rename")
	}
	d, err := os.Open(filepath.Dir(f.path))
	if err != nil {
		return err
	}
	err = syncFile(d)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Commit is Sync, Rename and SyncDir.
func (f *File) Commit() error {
	if err := f.Rename(); err != nil {
		return err
	}
	return f.SyncDir()
}

// Cleanup closes and removes the temporary file unless it was renamed. It
// may be called any number of times.
func (f *File) Cleanup() {
	if !f.synced {
		f.synced = true
		_ = f.f.Close()
	}
	if !f.renamed && !f.removed {
		f.removed = true
		_ = os.Remove(f.f.Name())
	}
}

// ReadFrom lets io.Copy into the file use the kernel's copy paths
// (copy_file_range, splice) where *os.File can.
func (f *File) ReadFrom(r io.Reader) (int64, error) {
	if f.synced {
		return 0, os.ErrClosed
	}
	return f.f.ReadFrom(r)
}

// Package atomicio writes files so that a reader never sees a half-written one: data goes to a temporary file
// in the same directory, which is synced and renamed over the destination only when everything succeeded.
package atomicio

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile atomically replaces path with data (mode 0644), creating parent directories.
func WriteFile(path string, data []byte) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Commit()
}

// File is a pending file: write to it, then Commit to publish it or Abort to discard it.
type File struct {
	*os.File
	dest string
	done bool
}

// Create starts a pending file that will replace path on Commit.
func Create(path string) (*File, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating directory for %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", path, err)
	}
	return &File{File: f, dest: path}, nil
}

// Commit syncs, closes and renames the temporary file over the destination.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("%s: already committed or aborted", f.dest)
	}
	f.done = true
	tmp := f.Name()
	if err := f.Sync(); err != nil {
		f.File.Close()
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", f.dest, err)
	}
	if err := f.File.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", f.dest, err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", f.dest, err)
	}
	if err := os.Rename(tmp, f.dest); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", f.dest, err)
	}
	return nil
}

// Abort discards the temporary file; safe to call after Commit (it does nothing then).
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.File.Close()
	os.Remove(f.Name())
}

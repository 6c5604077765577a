package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/spf13/cobra"
)

// outFile is a file nuxctl writes: what --out names, and the credentials
// file. Every such file is written the same way, by write: into a new
// temporary file in the same directory, synced, then moved into place, so
// that no reader ever sees half a file and a failure (or an interrupt)
// leaves nothing behind. Without force an existing file, even a dangling
// symbolic link, is never replaced. Error messages name the file, never
// the temporary one.
type outFile struct {
	path  string
	force bool        // replace an existing file
	mode  fs.FileMode // the file's permissions (not applied on Windows)
}

// outFlags adds --out and --force to cmd and returns the outFile they
// describe (path "" when --out is not given).
func outFlags(cmd *cobra.Command, usage string, mode fs.FileMode) *outFile {
	o := &outFile{mode: mode}
	cmd.Flags().StringVar(&o.path, "out", "", usage)
	cmd.Flags().BoolVar(&o.force, "force", false, "replace the --out file if it exists")
	_ = cmd.MarkFlagFilename("out")
	return o
}

// errExists is the error for a file that is in the way.
var errExists = errors.New("exists")

// check fails early, before any work, when the file exists and may not be
// replaced. write checks again, atomically.
func (o *outFile) check() error {
	if o.force {
		return nil
	}
	if _, err := os.Lstat(o.path); err == nil {
		return o.exists()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return o.fail(err)
	}
	return nil
}

func (o *outFile) exists() error {
	return fmt.Errorf("%s %w: pass --force to replace it", o.path, errExists)
}

// fail describes err, an error of a file operation, by o.path alone: the
// operating system's message without the path it names (which may be the
// temporary file's).
func (o *outFile) fail(err error) error {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		err = pe.Err
	case errors.As(err, &le):
		err = le.Err
	}
	return fmt.Errorf("write %s: %w", o.path, err)
}

// write writes the file with what fill writes. An error fill returns is
// returned as is.
func (o *outFile) write(fill func(w io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(o.path), ".nuxctl-*.tmp") // mode 0600, O_EXCL
	if err != nil {
		return o.fail(err)
	}
	tmp := f.Name()
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				f.Close()
			}
			os.Remove(tmp)
		}
	}()
	if runtime.GOOS != "windows" {
		if err := f.Chmod(o.mode); err != nil {
			return o.fail(err)
		}
	}
	if err := fill(&fileWriter{f: f, o: o}); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return o.fail(err)
	}
	closed = true
	if err := f.Close(); err != nil {
		return o.fail(err)
	}
	if o.force {
		if err := os.Rename(tmp, o.path); err != nil {
			return o.fail(err)
		}
		return nil
	}
	// A hard link never replaces a file: it fails if the name exists.
	if err := os.Link(tmp, o.path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return o.exists()
		}
		// A file system without hard links: check, then rename (a
		// file created in between would be replaced).
		if _, serr := os.Lstat(o.path); serr == nil {
			return o.exists()
		}
		if err := os.Rename(tmp, o.path); err != nil {
			return o.fail(err)
		}
		return nil
	}
	os.Remove(tmp)
	return nil
}

// writeBytes writes b as the file.
func (o *outFile) writeBytes(b []byte) error {
	return o.write(func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// fileWriter names o.path, not the temporary file, in write errors.
type fileWriter struct {
	f *os.File
	o *outFile
}

func (w *fileWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		err = w.o.fail(err)
	}
	return n, err
}

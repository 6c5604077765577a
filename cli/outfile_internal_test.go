package cli

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestOutFileWrite(t *testing.T) {
	errFill := errors.New("the stream broke")
	tests := []struct {
		name    string
		exists  bool // a file is there before write
		force   bool
		fill    func(w io.Writer) error
		wantErr error  // matched with errors.Is; nil for success
		want    string // the file's content afterwards
	}{
		{name: "new file", fill: writeString("new"), want: "new"},
		{name: "existing file kept", exists: true, fill: writeString("new"), wantErr: errExists, want: "old"},
		{name: "existing file replaced with force", exists: true, force: true, fill: writeString("new"), want: "new"},
		{name: "fill fails", fill: func(w io.Writer) error {
			io.WriteString(w, "half")
			return errFill
		}, wantErr: errFill},
		{name: "fill fails over an existing file with force", exists: true, force: true, fill: func(w io.Writer) error {
			io.WriteString(w, "half")
			return errFill
		}, wantErr: errFill, want: "old"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f")
			if tt.exists {
				if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// check is bypassed: write itself must never replace a
			// file without force (one created after check).
			o := &outFile{path: path, force: tt.force, mode: 0o640}
			err := o.write(tt.fill)
			switch {
			case tt.wantErr == nil && err != nil, tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("write: %v, want %v", err, tt.wantErr)
			}
			b, rerr := os.ReadFile(path)
			switch {
			case tt.want == "" && !os.IsNotExist(rerr):
				t.Errorf("a failed write left the file: %q %v", b, rerr)
			case tt.want != "" && string(b) != tt.want:
				t.Errorf("the file holds %q, want %q", b, tt.want)
			}
			if names := dirNames(t, dir); len(names) > 1 || len(names) == 1 && names[0] != "f" {
				t.Errorf("the directory holds %q", names)
			}
			if err != nil && strings.Contains(err.Error(), ".tmp") {
				t.Errorf("the error names the temporary file: %v", err)
			}
			if fi, err := os.Stat(path); err == nil && tt.wantErr == nil && fi.Mode().Perm() != 0o640 {
				t.Errorf("mode %04o, want 0640", fi.Mode().Perm())
			}
		})
	}
}

// TestOutFileErrors: file system errors name the file, never the
// temporary one.
func TestOutFileErrors(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "plain")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(notDir, "f")
	o := &outFile{path: path, mode: 0o644}
	if err := o.check(); err == nil || err.Error() != "write "+path+": not a directory" {
		t.Errorf("check: %v", err)
	}
	if err := o.writeBytes([]byte("x")); err == nil || err.Error() != "write "+path+": not a directory" {
		t.Errorf("write: %v", err)
	}
}

func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	}
}

//go:build unix

package agent

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"syscall"
)

// owner returns "uid:gid" of fi.
func owner(fi fs.FileInfo) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("%d:%d", st.Uid, st.Gid)
	}
	return "unknown"
}

// openNoFollow opens p for reading, refusing a symbolic link as its last
// element (the path was resolved just before; this closes the race).
func openNoFollow(p string) (*os.File, error) {
	return os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}

// setProcessGroup runs cmd in its own process group and kills the whole
// group when its context ends, so no child outlives a timeout.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

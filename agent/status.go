package agent

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// Status writes what the state directory says, without any network:
// whether the agent is enrolled, as which org and agent, with which
// server and key, and how many tasks the journal holds in each state. It
// never writes the key itself. It returns ErrNotEnrolled (after saying
// so) if there is no enrolment.
func Status(cfg Config, w io.Writer) error {
	dir := cfg.stateDir()
	id, key, err := loadIdentity(dir)
	if errors.Is(err, ErrNotEnrolled) {
		fmt.Fprintf(w, "enrolled:  no\nstate_dir: %s\n", dir)
		return err
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "enrolled:  yes (%s)\norg:       %s\nagent:     %s\nhostname:  %s\nserver:    %s\nkey:       %s\nstate_dir: %s\n",
		id.Enrolled.Format("2006-01-02T15:04:05Z07:00"), id.OrgID, id.AgentID, id.Hostname, id.Server,
		Fingerprint(key.Public().(ed25519.PublicKey)), dir)
	if cfg.Server != "" && cfg.Server != id.Server {
		fmt.Fprintf(w, "warning:   the configuration names server %s\n", cfg.Server)
	}
	counts := map[string]int{}
	if _, err := os.Stat(filepath.Join(dir, tasksDir)); err == nil {
		counts, err = (&Journal{dir: filepath.Join(dir, tasksDir)}).Counts()
		if err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	fmt.Fprintf(w, "tasks:     %d started, %d submitted, %d done", counts[TaskStarted], counts[TaskSubmitted], counts[TaskDone])
	var other []string
	for k := range counts {
		if k != TaskStarted && k != TaskSubmitted && k != TaskDone {
			other = append(other, k)
		}
	}
	slices.Sort(other)
	for _, k := range other {
		fmt.Fprintf(w, ", %d %s", counts[k], k)
	}
	fmt.Fprintln(w)
	return nil
}

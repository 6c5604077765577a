package agent

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// The files of the state directory.
const (
	keyFile      = "agent.key"  // PKCS #8 PEM Ed25519 private key, 0600
	identityFile = "agent.json" // Identity, 0600
	tasksDir     = "tasks"      // the journal: <task ID>.json, 0600
)

var (
	// ErrNotEnrolled: the state directory holds no enrolment.
	ErrNotEnrolled = errors.New("agent: not enrolled (run 'nuxari-agent enroll')")
	// ErrAlreadyEnrolled: Enroll found an enrolment in the state
	// directory.
	ErrAlreadyEnrolled = errors.New("agent: already enrolled (remove the state directory to enrol again)")
	// ErrState wraps problems with the state directory's contents.
	ErrState = errors.New("agent: bad state directory")
)

// Identity is who the agent is, as stored in agent.json. It holds no
// secret.
type Identity struct {
	OrgID    string    `json:"org_id"`
	AgentID  string    `json:"agent_id"`
	Server   string    `json:"server"`
	Hostname string    `json:"hostname"`
	Enrolled time.Time `json:"enrolled"`
}

// Fingerprint names an Ed25519 public key: "sha256:" and the hex SHA-256
// of its 32 bytes.
func Fingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ensureDir creates dir (and parents) and makes dir itself 0700.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.Chmod(dir, 0o700)
}

// writeFileAtomic writes data to path with mode 0600: a temporary file in
// the same directory, fsynced, renamed over path, then the directory
// fsynced, so that path holds either the old or the new content after a
// crash.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func encodeKey(key ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// loadIdentity reads agent.json and agent.key from dir.
func loadIdentity(dir string) (Identity, ed25519.PrivateKey, error) {
	data, err := os.ReadFile(filepath.Join(dir, identityFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Identity{}, nil, ErrNotEnrolled
	}
	if err != nil {
		return Identity{}, nil, err
	}
	var id Identity
	if err := json.Unmarshal(data, &id); err != nil || id.OrgID == "" || id.AgentID == "" {
		return Identity{}, nil, fmt.Errorf("%w: %s is not a valid identity", ErrState, identityFile)
	}
	pemData, err := os.ReadFile(filepath.Join(dir, keyFile))
	if err != nil {
		return Identity{}, nil, fmt.Errorf("%w: reading %s: %w", ErrState, keyFile, err)
	}
	// Errors below never quote the file's content: it is a private key.
	b, _ := pem.Decode(pemData)
	if b == nil || b.Type != "PRIVATE KEY" {
		return Identity{}, nil, fmt.Errorf("%w: %s is not a PEM private key", ErrState, keyFile)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	key, ok := k.(ed25519.PrivateKey)
	if err != nil || !ok {
		return Identity{}, nil, fmt.Errorf("%w: %s is not a PKCS #8 Ed25519 private key", ErrState, keyFile)
	}
	return id, key, nil
}

// Journal task states, in the order a task goes through them.
const (
	// TaskStarted: the collector may have run; nothing was submitted.
	TaskStarted = "started"
	// TaskSubmitted: the evidence (if any) was accepted; the result is
	// recorded but the task is not yet completed on the server.
	TaskSubmitted = "submitted"
	// TaskDone: the server acknowledged the completion.
	TaskDone = "done"
)

// JournalEntry is what the journal records of one task.
type JournalEntry struct {
	TaskID    string `json:"task_id"`
	Collector string `json:"collector"`
	Target    string `json:"target"`
	// State is TaskStarted, TaskSubmitted or TaskDone.
	State string `json:"state"`
	// OK and Detail are the result sent with CompleteTask (set from
	// TaskSubmitted on).
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
	// Evidence is the hex SHA-256 of each item submitted.
	Evidence []string  `json:"evidence,omitempty"`
	Updated  time.Time `json:"updated"`
}

// Journal records, one file per task, how far the agent got with each
// task, so that a restart neither repeats nor loses work.
type Journal struct{ dir string }

var taskIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// ErrBadTaskID: a task ID that cannot name a journal file.
var ErrBadTaskID = errors.New("agent: task ID is not 1-128 of [A-Za-z0-9_-]")

// OpenJournal opens the journal in stateDir/tasks, creating it 0700.
func OpenJournal(stateDir string) (*Journal, error) {
	dir := filepath.Join(stateDir, tasksDir)
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	return &Journal{dir: dir}, nil
}

func (j *Journal) path(taskID string) (string, error) {
	if !taskIDPattern.MatchString(taskID) {
		return "", ErrBadTaskID
	}
	return filepath.Join(j.dir, taskID+".json"), nil
}

// Get returns the entry of taskID; ok is false if there is none.
func (j *Journal) Get(taskID string) (e JournalEntry, ok bool, err error) {
	p, err := j.path(taskID)
	if err != nil {
		return JournalEntry{}, false, err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return JournalEntry{}, false, nil
	}
	if err != nil {
		return JournalEntry{}, false, err
	}
	if err := json.Unmarshal(data, &e); err != nil || e.TaskID != taskID {
		return JournalEntry{}, false, fmt.Errorf("%w: journal entry of task %s is corrupt", ErrState, taskID)
	}
	return e, true, nil
}

// Put records e durably (atomic write, fsynced).
func (j *Journal) Put(e JournalEntry) error {
	p, err := j.path(e.TaskID)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(p, append(data, '\n'))
}

// Counts returns how many entries the journal holds in each state.
func (j *Journal) Counts() (map[string]int, error) {
	ents, err := os.ReadDir(j.dir)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	for _, de := range ents {
		id, ok := strings.CutSuffix(de.Name(), ".json")
		if !ok || strings.HasPrefix(de.Name(), ".") {
			continue
		}
		e, found, err := j.Get(id)
		if err != nil || !found {
			counts["corrupt"]++
			continue
		}
		counts[e.State]++
	}
	return counts, nil
}

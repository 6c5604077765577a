package agent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Collector names, as tasks give them.
const (
	CollectorFile     = "file"
	CollectorUsers    = "users"
	CollectorSudoers  = "sudoers"
	CollectorPackages = "packages"
	CollectorCommand  = "command"
)

const (
	// MaxItemSize bounds an item's content, as the gateway does.
	MaxItemSize = 1 << 20
	// MaxFileContent is the largest file whose content the file
	// collector includes; of larger files only the metadata is sent.
	MaxFileContent = 1 << 20
	// DefaultCommandTimeout bounds a command collector's run.
	DefaultCommandTimeout = 60 * time.Second
	// maxInput bounds what the users, sudoers and packages collectors
	// read from one file.
	maxInput = 64 << 20
)

var (
	// ErrNotAllowed: the collector or its target is not enabled by this
	// agent's configuration.
	ErrNotAllowed = errors.New("not allowed by this agent's configuration")
	// ErrTimeout: a command ran longer than its timeout and was killed.
	ErrTimeout = errors.New("timed out")
)

// Item is one piece of collected evidence, already scrubbed.
type Item struct {
	Collector string
	Target    string
	// Content is the evidence after Scrub, at most MaxItemSize bytes.
	Content []byte
	// Scrubbed are the kinds of secret removed from Content, sorted.
	Scrubbed []string
}

// Collect runs collector on target if c allows it, and returns the
// scrubbed items. A collector or target c does not enable is refused
// with an error wrapping ErrNotAllowed, before anything is read or run.
func (c Collectors) Collect(ctx context.Context, collector, target string) ([]Item, error) {
	var (
		content  []byte
		scrubbed []string
		err      error
	)
	switch collector {
	case CollectorFile:
		content, scrubbed, err = c.collectFile(target)
	case CollectorUsers:
		if !c.Users {
			return nil, fmt.Errorf("collector %s %w", collector, ErrNotAllowed)
		}
		content, scrubbed, err = c.collectUsers()
	case CollectorSudoers:
		if !c.Sudoers {
			return nil, fmt.Errorf("collector %s %w", collector, ErrNotAllowed)
		}
		content, err = c.collectSudoers()
	case CollectorPackages:
		if !c.Packages {
			return nil, fmt.Errorf("collector %s %w", collector, ErrNotAllowed)
		}
		content, err = c.collectPackages()
	case CollectorCommand:
		content, err = c.collectCommand(ctx, target)
	default:
		return nil, fmt.Errorf("collector %q %w", collector, ErrNotAllowed)
	}
	if err != nil {
		return nil, err
	}
	// Every collector's output is scrubbed, whatever it already removed.
	out, kinds := Scrub(content)
	out = capContent(out)
	return []Item{{Collector: collector, Target: target, Content: out, Scrubbed: mergeKinds(scrubbed, kinds)}}, nil
}

var truncatedNote = []byte("\n[truncated]\n")

// capContent cuts content to MaxItemSize, marking the cut.
func capContent(b []byte) []byte {
	if len(b) <= MaxItemSize {
		return b
	}
	return append(b[:MaxItemSize-len(truncatedNote):MaxItemSize-len(truncatedNote)], truncatedNote...)
}

// allowedFile returns the path to read for target, which must be
// absolute and, once cleaned, one of c.Files; the file it names after
// resolving symbolic links must be listed as well.
func (c Collectors) allowedFile(target string) (string, error) {
	refuse := fmt.Errorf("file %q %w", target, ErrNotAllowed)
	if !filepath.IsAbs(target) {
		return "", refuse
	}
	listed := func(p string) bool {
		return slices.ContainsFunc(c.Files, func(f string) bool { return filepath.Clean(f) == p })
	}
	p := filepath.Clean(target)
	if !listed(p) {
		return "", refuse
	}
	resolved, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("file %q: %w", target, err)
	}
	if resolved != p && !listed(resolved) {
		return "", fmt.Errorf("file %q is a link to an unlisted file, %w", target, ErrNotAllowed)
	}
	return resolved, nil
}

func (c Collectors) collectFile(target string) ([]byte, []string, error) {
	p, err := c.allowedFile(target)
	if err != nil {
		return nil, nil, err
	}
	f, err := openNoFollow(p)
	if err != nil {
		return nil, nil, fmt.Errorf("file %q: %w", target, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("file %q is not a regular file", target)
	}
	h := sha256.New()
	var body bytes.Buffer
	n, err := io.Copy(io.MultiWriter(h, &limitedBuffer{buf: &body, max: MaxFileContent + 1}), f)
	if err != nil {
		return nil, nil, fmt.Errorf("file %q: %w", target, err)
	}
	var scrubbed []string
	var content []byte
	if n <= MaxFileContent {
		content, scrubbed = Scrub(body.Bytes())
	}
	var b bytes.Buffer
	if len(scrubbed) == 0 {
		fmt.Fprintf(&b, "sha256 %s\n", hex.EncodeToString(h.Sum(nil)))
	} else {
		// The hash of the unscrubbed file would let anyone holding the
		// scrubbed content guess the removed secret offline.
		b.WriteString("sha256 withheld (content scrubbed)\n")
	}
	fmt.Fprintf(&b, "size %d\nmode %s\nowner %s\nmtime %s\n", n, modeString(fi.Mode()), owner(fi), fi.ModTime().UTC().Format(time.RFC3339))
	if n > MaxFileContent {
		fmt.Fprintf(&b, "content omitted (larger than %d bytes)\n", MaxFileContent)
	} else {
		b.WriteString("\n")
		b.Write(content)
	}
	return b.Bytes(), scrubbed, nil
}

func modeString(m fs.FileMode) string {
	v := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		v |= 0o1000
	}
	return fmt.Sprintf("%04o", v)
}

// limitedBuffer keeps the first max bytes written and discards the rest,
// reporting every write as complete.
type limitedBuffer struct {
	buf       *bytes.Buffer
	max       int
	truncated bool
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room < len(p) {
		l.truncated = true
		l.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return l.buf.Write(p)
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxInput+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxInput {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxInput)
	}
	return data, nil
}

func orDefault(p, def string) string {
	if p == "" {
		return def
	}
	return p
}

// collectUsers lists accounts and group memberships, one line each,
// sorted:
//
//	user <name> uid=<uid> gid=<gid> groups=<g1,g2> home=<dir> shell=<shell> passwd_field=<shadow|locked|empty|hash>
//	group <name> gid=<gid> members=<u1,u2>
//
// Password hashes found in the passwd file are never copied (reported as
// scrubbed "password_hash"); GECOS fields (personal data) are left out.
func (c Collectors) collectUsers() ([]byte, []string, error) {
	passwd, err := readLimited(orDefault(c.PasswdPath, DefaultPasswdPath))
	if err != nil {
		return nil, nil, err
	}
	group, err := readLimited(orDefault(c.GroupPath, DefaultGroupPath))
	if err != nil {
		return nil, nil, err
	}
	type grp struct {
		name, gid string
		members   []string
	}
	var groups []grp
	byGID := map[string]string{}
	memberOf := map[string][]string{}
	for _, line := range lines(group) {
		f := strings.Split(line, ":")
		if len(f) != 4 {
			continue
		}
		g := grp{name: f[0], gid: f[2]}
		for m := range strings.SplitSeq(f[3], ",") {
			if m = strings.TrimSpace(m); m != "" {
				g.members = append(g.members, m)
				memberOf[m] = append(memberOf[m], g.name)
			}
		}
		slices.Sort(g.members)
		g.members = slices.Compact(g.members)
		if _, dup := byGID[g.gid]; !dup {
			byGID[g.gid] = g.name
		}
		groups = append(groups, g)
	}
	var scrubbed []string
	var out []string
	for _, line := range lines(passwd) {
		f := strings.Split(line, ":")
		if len(f) != 7 {
			continue
		}
		name, pw, uid, gid, home, shell := f[0], f[1], f[2], f[3], f[5], f[6]
		var pwState string
		switch {
		case pw == "x":
			pwState = "shadow"
		case pw == "":
			pwState = "empty"
		case strings.HasPrefix(pw, "!") || strings.HasPrefix(pw, "*"):
			pwState = "locked"
		default:
			pwState = "hash"
			scrubbed = append(scrubbed, ScrubPasswordHash)
		}
		gs := slices.Clone(memberOf[name])
		if g, ok := byGID[gid]; ok {
			gs = append(gs, g)
		}
		slices.Sort(gs)
		gs = slices.Compact(gs)
		out = append(out, fmt.Sprintf("user %s uid=%s gid=%s groups=%s home=%s shell=%s passwd_field=%s",
			name, uid, gid, strings.Join(gs, ","), home, shell, pwState))
	}
	for _, g := range groups {
		out = append(out, fmt.Sprintf("group %s gid=%s members=%s", g.name, g.gid, strings.Join(g.members, ",")))
	}
	slices.Sort(out)
	return []byte(strings.Join(out, "\n") + "\n"), mergeKinds(nil, scrubbed), nil
}

// lines returns the non-empty lines of data that are not comments.
func lines(data []byte) []string {
	var out []string
	for l := range strings.SplitSeq(string(data), "\n") {
		l = strings.TrimRight(l, "\r")
		if strings.TrimSpace(l) == "" || strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		out = append(out, l)
	}
	return out
}

// collectSudoers lists the rules of the sudoers file and of each file in
// the sudoers directory that sudo's @includedir would read (names without
// '.' and not ending in '~'), in name order, each under a "# file <path>"
// header. Comments and blank lines are dropped, continued lines joined;
// #include and #includedir directives are kept.
func (c Collectors) collectSudoers() ([]byte, error) {
	files := []string{orDefault(c.SudoersPath, DefaultSudoersPath)}
	dir := orDefault(c.SudoersDir, DefaultSudoersDir)
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range ents {
		n := e.Name()
		if strings.Contains(n, ".") || strings.HasSuffix(n, "~") || !e.Type().IsRegular() {
			continue
		}
		files = append(files, filepath.Join(dir, n))
	}
	var b strings.Builder
	for _, p := range files {
		data, err := readLimited(p)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "# file %s\n", p)
		for _, r := range sudoersRules(data) {
			b.WriteString(r)
			b.WriteByte('\n')
		}
	}
	return []byte(b.String()), nil
}

func sudoersRules(data []byte) []string {
	var out []string
	var cont strings.Builder
	for l := range strings.SplitSeq(string(data), "\n") {
		l = strings.TrimRight(l, "\r")
		if s, ok := strings.CutSuffix(l, "\\"); ok {
			cont.WriteString(s)
			continue
		}
		cont.WriteString(l)
		line := strings.Join(strings.Fields(cont.String()), " ")
		cont.Reset()
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "#include") {
			continue
		}
		out = append(out, line)
	}
	if line := strings.Join(strings.Fields(cont.String()), " "); line != "" && !strings.HasPrefix(line, "#") {
		out = append(out, line)
	}
	return out
}

// collectPackages lists the installed packages of the dpkg status file,
// "<package> <version> <architecture>" sorted, one a line: only those
// whose Status is "install ok installed".
func (c Collectors) collectPackages() ([]byte, error) {
	data, err := readLimited(orDefault(c.DpkgStatusPath, DefaultDpkgStatusPath))
	if err != nil {
		return nil, err
	}
	var out []string
	fields := map[string]string{}
	flush := func() {
		if fields["Status"] == "install ok installed" && fields["Package"] != "" {
			arch := fields["Architecture"]
			if arch == "" {
				arch = "-"
			}
			out = append(out, fields["Package"]+" "+fields["Version"]+" "+arch)
		}
		clear(fields)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), maxInput)
	for sc.Scan() {
		l := strings.TrimRight(sc.Text(), "\r")
		if l == "" {
			flush()
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			continue // continuation of a multi-line field
		}
		if k, v, ok := strings.Cut(l, ":"); ok {
			switch k {
			case "Package", "Version", "Status", "Architecture":
				fields[k] = strings.TrimSpace(v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	flush()
	slices.Sort(out)
	return []byte(strings.Join(out, "\n") + "\n"), nil
}

// commandEnv is the whole environment of a command: nothing of the
// agent's own (which may hold a join token) is passed on.
var commandEnv = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "LC_ALL=C"}

// collectCommand runs the argv configured under the name target, without
// a shell, with commandEnv, and records:
//
//	argv ["/usr/bin/prog","arg"]
//	exit <code>
//	output <n> bytes[ (truncated)]
//
//	<stdout and stderr, interleaved>
func (c Collectors) collectCommand(ctx context.Context, target string) ([]byte, error) {
	argv, ok := c.Commands[target]
	if !ok || len(argv) == 0 {
		return nil, fmt.Errorf("command %q %w", target, ErrNotAllowed)
	}
	timeout := c.CommandTimeout
	if timeout <= 0 {
		timeout = DefaultCommandTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = commandEnv
	cmd.Dir = "/"
	cmd.Stdin = nil
	// Output headroom for the header, so the item stays within
	// MaxItemSize.
	var buf bytes.Buffer
	lb := &limitedBuffer{buf: &buf, max: MaxItemSize - 4096}
	cmd.Stdout, cmd.Stderr = lb, lb
	cmd.WaitDelay = 2 * time.Second
	setProcessGroup(cmd)
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return nil, fmt.Errorf("command %s %w after %s", target, ErrTimeout, timeout)
	}
	code := 0
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	case err != nil:
		return nil, fmt.Errorf("command %s: %w", target, err)
	}
	argvJSON, _ := json.Marshal(argv)
	var b bytes.Buffer
	fmt.Fprintf(&b, "argv %s\nexit %s\noutput %d bytes", argvJSON, strconv.Itoa(code), buf.Len())
	if lb.truncated {
		b.WriteString(" (truncated)")
	}
	b.WriteString("\n\n")
	b.Write(buf.Bytes())
	return b.Bytes(), nil
}

package agent_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nuxari/nuxari/agent"
)

func writeFile(t *testing.T, path, content string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func collectOne(t *testing.T, c agent.Collectors, collector, target string) agent.Item {
	t.Helper()
	items, err := c.Collect(context.Background(), collector, target)
	if err != nil {
		t.Fatalf("Collect(%s, %q): %v", collector, target, err)
	}
	if len(items) != 1 {
		t.Fatalf("Collect returned %d items", len(items))
	}
	it := items[0]
	if it.Collector != collector || it.Target != target {
		t.Errorf("item is for %q %q, want %q %q", it.Collector, it.Target, collector, target)
	}
	if len(it.Content) > agent.MaxItemSize {
		t.Errorf("item content is %d bytes, over %d", len(it.Content), agent.MaxItemSize)
	}
	return it
}

func TestFileCollector(t *testing.T) {
	dir := t.TempDir()
	conf := writeFile(t, filepath.Join(dir, "etc", "app.conf"), "listen 443\n", 0o640)
	keyed := writeFile(t, filepath.Join(dir, "etc", "keyed.conf"), "name x\n"+pemKey+"\n", 0o600)
	c := agent.Collectors{Files: []string{conf, keyed}}

	it := collectOne(t, c, "file", conf)
	got := string(it.Content)
	for _, want := range []string{
		"\nsize 11\n", "\nmode 0640\n",
		"\nowner " + strconv.Itoa(os.Getuid()) + ":" + strconv.Itoa(os.Getgid()) + "\n",
		"\nmtime ", "\n\nlisten 443\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("content lacks %q:\n%s", want, got)
		}
	}
	if !strings.HasPrefix(got, "sha256 "+sha256hex("listen 443\n")+"\n") {
		t.Errorf("content does not start with the file's hash:\n%s", got)
	}
	if len(it.Scrubbed) != 0 {
		t.Errorf("scrubbed = %q, want none", it.Scrubbed)
	}

	it = collectOne(t, c, "file", keyed)
	if strings.Contains(string(it.Content), "PRIVATE KEY") || !slices.Equal(it.Scrubbed, []string{"private_key"}) {
		t.Errorf("key not scrubbed: %q\n%s", it.Scrubbed, it.Content)
	}
	if strings.Contains(string(it.Content), sha256hex("name x\n"+pemKey+"\n")) || !strings.Contains(string(it.Content), "sha256 withheld") {
		t.Errorf("the hash of unscrubbed content was sent:\n%s", it.Content)
	}

	// A non-canonical spelling of a listed path is that path.
	collectOne(t, c, "file", filepath.Join(dir, "etc", "sub", "..", "app.conf"))
}

func TestFileCollectorRefuses(t *testing.T) {
	dir := t.TempDir()
	listed := writeFile(t, filepath.Join(dir, "etc", "listed.conf"), "ok\n", 0o644)
	secret := writeFile(t, filepath.Join(dir, "etc", "shadow"), "root:$6$abcdefgh$ijklmnopqrstu:::\n", 0o600)
	link := filepath.Join(dir, "etc", "link.conf")
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	linkToListed := filepath.Join(dir, "etc", "alias.conf")
	if err := os.Symlink(listed, linkToListed); err != nil {
		t.Fatal(err)
	}
	subdir := filepath.Join(dir, "etc", "d")
	if err := os.Mkdir(subdir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := agent.Collectors{Files: []string{listed, link, subdir}}
	for _, target := range []string{
		secret, // not listed
		filepath.Join(dir, "etc", "listed.conf", "..", "shadow"), // .. out of a listed path
		"etc/listed.conf", // relative
		"../" + listed,    // relative with dots
		link,              // listed, but a link to an unlisted file
		linkToListed,      // unlisted link to a listed file
		listed + "/",      // cleans to listed... but is it? see below
		"",
	} {
		_, err := c.Collect(context.Background(), "file", target)
		if target == listed+"/" {
			// filepath.Clean drops the slash: this is the listed file.
			if err != nil {
				t.Errorf("Collect(%q): %v", target, err)
			}
			continue
		}
		if !errors.Is(err, agent.ErrNotAllowed) {
			t.Errorf("Collect(file, %q) = %v, want ErrNotAllowed", target, err)
		}
	}
	if _, err := c.Collect(context.Background(), "file", subdir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Collect of a directory: %v", err)
	}
}

func TestFileCollectorLargeFile(t *testing.T) {
	p := writeFile(t, filepath.Join(t.TempDir(), "big"), strings.Repeat("a", agent.MaxFileContent+1), 0o644)
	it := collectOne(t, agent.Collectors{Files: []string{p}}, "file", p)
	if !strings.Contains(string(it.Content), "content omitted") || len(it.Content) > 1000 {
		t.Errorf("large file content: %d bytes:\n%.300s", len(it.Content), it.Content)
	}
}

func TestUsersCollector(t *testing.T) {
	dir := t.TempDir()
	c := agent.Collectors{
		Users: true,
		PasswdPath: writeFile(t, filepath.Join(dir, "passwd"), `root:x:0:0:root:/root:/bin/bash
# a comment
daemon:*:1:1:daemon:/usr/sbin:/usr/sbin/nologin
alice:x:1000:1000:Alice Example,,,:/home/alice:/bin/bash
bob:$6$saltsalt$Zm9vYmFyYmF6cXV4aGFzaA:1001:1001::/home/bob:/bin/sh
eve::1002:1002::/home/eve:/bin/sh
malformed line
`, 0o644),
		GroupPath: writeFile(t, filepath.Join(dir, "group"), `root:x:0:
daemon:x:1:
sudo:x:27:bob,alice
alice:x:1000:
bob:x:1001:
eve:x:1002:
docker:x:999:alice
`, 0o644),
	}
	it := collectOne(t, c, "users", "")
	want := `group alice gid=1000 members=
group bob gid=1001 members=
group daemon gid=1 members=
group docker gid=999 members=alice
group eve gid=1002 members=
group root gid=0 members=
group sudo gid=27 members=alice,bob
user alice uid=1000 gid=1000 groups=alice,docker,sudo home=/home/alice shell=/bin/bash passwd_field=shadow
user bob uid=1001 gid=1001 groups=bob,sudo home=/home/bob shell=/bin/sh passwd_field=hash
user daemon uid=1 gid=1 groups=daemon home=/usr/sbin shell=/usr/sbin/nologin passwd_field=locked
user eve uid=1002 gid=1002 groups=eve home=/home/eve shell=/bin/sh passwd_field=empty
user root uid=0 gid=0 groups=root home=/root shell=/bin/bash passwd_field=shadow
`
	if string(it.Content) != want {
		t.Errorf("users content:\n%s\nwant:\n%s", it.Content, want)
	}
	if !slices.Equal(it.Scrubbed, []string{"password_hash"}) {
		t.Errorf("scrubbed = %q", it.Scrubbed)
	}
	if strings.Contains(string(it.Content), "Alice Example") {
		t.Error("GECOS field leaked")
	}
}

func TestSudoersCollector(t *testing.T) {
	dir := t.TempDir()
	d := filepath.Join(dir, "sudoers.d")
	c := agent.Collectors{
		Sudoers: true,
		SudoersPath: writeFile(t, filepath.Join(dir, "sudoers"), `# This file MUST be edited with visudo
Defaults	env_reset
Defaults	secure_path="/usr/sbin:/usr/bin"

# User privilege specification
root	ALL=(ALL:ALL) ALL
%sudo	ALL=(ALL:ALL) \
	ALL
#includedir /etc/sudoers.d
`, 0o440),
		SudoersDir: d,
	}
	writeFile(t, filepath.Join(d, "10-ops"), "# ops\nbob ALL=(root) NOPASSWD: /usr/bin/systemctl restart app\nDefaults:bob rootpw_hash=$6$saltsalt$abcdefghijklmnop\n", 0o440)
	writeFile(t, filepath.Join(d, "README"), "", 0o440)
	writeFile(t, filepath.Join(d, "old.bak"), "eve ALL=(ALL) ALL\n", 0o440)
	writeFile(t, filepath.Join(d, "20-x~"), "mallory ALL=(ALL) ALL\n", 0o440)
	it := collectOne(t, c, "sudoers", "")
	want := "# file " + c.SudoersPath + `
Defaults env_reset
Defaults secure_path="/usr/sbin:/usr/bin"
root ALL=(ALL:ALL) ALL
%sudo ALL=(ALL:ALL) ALL
#includedir /etc/sudoers.d
# file ` + filepath.Join(d, "10-ops") + `
bob ALL=(root) NOPASSWD: /usr/bin/systemctl restart app
Defaults:bob rootpw_hash=[scrubbed: password hash]
# file ` + filepath.Join(d, "README") + `
`
	if string(it.Content) != want {
		t.Errorf("sudoers content:\n%s\nwant:\n%s", it.Content, want)
	}
	if !slices.Equal(it.Scrubbed, []string{"password_hash"}) {
		t.Errorf("scrubbed = %q", it.Scrubbed)
	}
}

func TestPackagesCollector(t *testing.T) {
	c := agent.Collectors{Packages: true, DpkgStatusPath: writeFile(t, filepath.Join(t.TempDir(), "status"), `Package: openssh-server
Status: install ok installed
Priority: optional
Architecture: amd64
Version: 1:9.6p1-3ubuntu13.5
Description: secure shell (SSH) server
 Status: install ok installed
 Package: fake-from-description

Package: removed-pkg
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: libc6
Status: install ok installed
Architecture: amd64
Version: 2.39-0ubuntu8
Multi-Arch: same

Package: held
Status: hold ok half-installed
Version: 3

Package: base-files
Status: install ok installed
Architecture: all
Version: 13ubuntu10`, 0o644)}
	it := collectOne(t, c, "packages", "")
	want := "base-files 13ubuntu10 all\nlibc6 2.39-0ubuntu8 amd64\nopenssh-server 1:9.6p1-3ubuntu13.5 amd64\n"
	if string(it.Content) != want {
		t.Errorf("packages content:\n%s\nwant:\n%s", it.Content, want)
	}
}

func TestDisabledCollectors(t *testing.T) {
	var c agent.Collectors // nothing enabled
	for _, tt := range [][2]string{{"users", ""}, {"sudoers", ""}, {"packages", ""}, {"file", "/etc/passwd"}, {"command", "uname"}, {"shell", "id"}, {"", ""}} {
		_, err := c.Collect(context.Background(), tt[0], tt[1])
		if !errors.Is(err, agent.ErrNotAllowed) {
			t.Errorf("Collect(%q, %q) = %v, want ErrNotAllowed", tt[0], tt[1], err)
		}
	}
	_, err := c.Collect(context.Background(), "users", "")
	if want := "collector users not allowed by this agent's configuration"; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

func TestCommandCollector(t *testing.T) {
	t.Setenv("NUXARI_JOIN_TOKEN", "nxj.acme.planted-join-token-must-not-leak")
	c := agent.Collectors{Commands: map[string][]string{
		"echo":   {"/bin/echo", "hello", "$HOME", ";", "id"},
		"fail":   {"/bin/sh", "-c", "echo oops >&2; exit 3"},
		"env":    {"/usr/bin/env"},
		"secret": {"/bin/echo", "password=hunter2Zq9"},
		"sleep":  {"/bin/sleep", "30"},
		"child":  {"/bin/sh", "-c", "sleep 30 & sleep 30"},
		"big":    {"/bin/sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' a"},
	}, CommandTimeout: time.Minute}
	// Commands that must succeed get a generous timeout, so that a busy
	// machine cannot make them fail; only the timeout check below uses
	// a short one.

	it := collectOne(t, c, "command", "echo")
	want := `argv ["/bin/echo","hello","$HOME",";","id"]` + "\nexit 0\noutput 17 bytes\n\nhello $HOME ; id\n"
	if string(it.Content) != want {
		t.Errorf("echo content %q, want %q (argv must be passed as is, no shell)", it.Content, want)
	}

	it = collectOne(t, c, "command", "fail")
	if !strings.Contains(string(it.Content), "\nexit 3\n") || !strings.Contains(string(it.Content), "oops") {
		t.Errorf("fail content:\n%s", it.Content)
	}

	it = collectOne(t, c, "command", "env")
	if strings.Contains(string(it.Content), "planted-join-token") || !strings.Contains(string(it.Content), "PATH=") {
		t.Errorf("the agent's environment reached the command:\n%s", it.Content)
	}

	it = collectOne(t, c, "command", "secret")
	if strings.Contains(string(it.Content), "hunter2Zq9") || !slices.Equal(it.Scrubbed, []string{"password"}) {
		t.Errorf("command output not scrubbed: %q\n%s", it.Scrubbed, it.Content)
	}

	short := c
	short.CommandTimeout = 500 * time.Millisecond
	for _, name := range []string{"sleep", "child"} {
		start := time.Now()
		_, err := short.Collect(context.Background(), "command", name)
		if !errors.Is(err, agent.ErrTimeout) {
			t.Errorf("%s: err = %v, want ErrTimeout", name, err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: took %s to time out", name, d)
		}
	}

	it = collectOne(t, c, "command", "big")
	if !strings.Contains(string(it.Content), "(truncated)") {
		t.Errorf("big output not marked truncated: %.200s", it.Content)
	}

	for _, target := range []string{"/bin/echo", "/bin/echo hello", "ECHO", "", "uname"} {
		if _, err := c.Collect(context.Background(), "command", target); !errors.Is(err, agent.ErrNotAllowed) {
			t.Errorf("command %q: err = %v, want ErrNotAllowed", target, err)
		}
	}
}

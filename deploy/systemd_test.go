package deploy

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// units are the systemd units in deploy/, by the program they run.
var units = map[string]string{
	"nuxarid.service":      "nuxarid",
	"nuxari-agent.service": "nuxari-agent",
}

// newerKeys are unit settings that systemd versions before the one given
// do not know: they ignore them with a warning, which the verification
// below accepts on such a version only.
var newerKeys = map[string]int{
	"RestartSteps":       254,
	"RestartMaxDelaySec": 254,
}

// unitFile holds a unit's settings: section → key → values, in order.
type unitFile map[string]map[string][]string

func parseUnit(t *testing.T, file string) unitFile {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	u := unitFile{}
	var section string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.HasSuffix(line, "\\") {
				t.Fatalf("%s:%d: not a setting this test reads: %q", file, n, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

// last returns the setting's last value ("" if unset).
func (u unitFile) last(section, key string) string {
	vs := u[section][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

func TestSystemdUnits(t *testing.T) {
	for unit, prog := range units {
		t.Run(unit, func(t *testing.T) {
			u := parseUnit(t, unit)
			// Hardened alike: a user of its own, state only in its state
			// directory, no privileges to gain.
			for k, want := range map[string]string{
				"NoNewPrivileges":         "yes",
				"ProtectSystem":           "strict",
				"ProtectHome":             "yes",
				"PrivateTmp":              "yes",
				"PrivateDevices":          "yes",
				"CapabilityBoundingSet":   "",
				"AmbientCapabilities":     "",
				"RestrictSUIDSGID":        "yes",
				"MemoryDenyWriteExecute":  "yes",
				"SystemCallArchitectures": "native",
				"UMask":                   "0077",
				"StateDirectoryMode":      "0700",
			} {
				if _, ok := u["Service"][k]; !ok || u.last("Service", k) != want {
					t.Errorf("%s=%q, want %q", k, u.last("Service", k), want)
				}
			}
			user := u.last("Service", "User")
			if u.last("Service", "DynamicUser") != "yes" && (user == "" || user == "root" || user == "0") {
				t.Errorf("runs as %q: want a user of its own", user)
			}
			state := u.last("Service", "StateDirectory")
			if state == "" {
				t.Error("no StateDirectory")
			}
			exec := strings.Fields(u.last("Service", "ExecStart"))
			if len(exec) == 0 || exec[0] != path.Join(BinDir, prog) {
				t.Fatalf("ExecStart %q, want %s", exec, path.Join(BinDir, prog))
			}
			if prog != "nuxarid" {
				return
			}
			// nuxarid's settings are its flags' variables; its data is in
			// its state directory.
			checkServerArgs(t, unit, exec[1:])
			env := map[string]string{}
			var names []string
			for _, e := range u["Service"]["Environment"] {
				for _, kv := range strings.Fields(e) {
					k, v, _ := strings.Cut(kv, "=")
					env[k] = v
					names = append(names, k)
				}
			}
			checkServerEnv(t, unit, names)
			if d := env["NUXARI_DATA_DIR"]; d != "/var/lib/"+state && !strings.HasPrefix(d, "/var/lib/"+state+"/") {
				t.Errorf("NUXARI_DATA_DIR %q is outside the state directory /var/lib/%s", d, state)
			}
			// Go cannot raise its own limit through the system-call filter.
			if n, err := strconv.Atoi(u.last("Service", "LimitNOFILE")); err != nil || n < 8192+1024 {
				t.Errorf("LimitNOFILE %q: want room for --max-conns (8192) and the ledger's files", u.last("Service", "LimitNOFILE"))
			}
		})
	}
}

// TestSystemdAnalyze runs systemd-analyze on each unit: verify (syntax,
// settings this systemd knows, the program executable) and security
// (the offline exposure score).
func TestSystemdAnalyze(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not found: the units are not verified here (install systemd to verify them)")
	}
	out, err := exec.Command(sa, "--version").Output()
	m := regexp.MustCompile(`^systemd (\d+)`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("systemd-analyze --version: %v: %s", err, out)
	}
	version, _ := strconv.Atoi(string(m[1]))
	t.Logf("systemd %d", version)
	unknown := regexp.MustCompile(`: Unknown key '([A-Za-z]+)' in section \[[A-Za-z]+\], ignoring\.$`)
	for unit, prog := range units {
		t.Run(unit, func(t *testing.T) {
			// verify checks that the program exists: point ExecStart at a
			// stand-in, and change nothing else.
			dir := t.TempDir()
			stand := filepath.Join(dir, prog)
			if err := os.WriteFile(stand, []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(unit)
			if err != nil {
				t.Fatal(err)
			}
			orig := "\nExecStart=" + path.Join(BinDir, prog)
			if !bytes.Contains(b, []byte(orig)) {
				t.Fatalf("no %q in %s", orig[1:], unit)
			}
			file := filepath.Join(dir, unit)
			if err := os.WriteFile(file, bytes.Replace(b, []byte(orig), []byte("\nExecStart="+stand), 1), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(sa, "verify", file).CombinedOutput()
			if err != nil {
				t.Errorf("systemd-analyze verify: %v\n%s", err, out)
			}
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				if line == "" {
					continue
				}
				if m := unknown.FindStringSubmatch(line); m != nil && newerKeys[m[1]] > version {
					t.Logf("systemd %d predates %s (%d): %s", version, m[1], newerKeys[m[1]], line)
					continue
				}
				t.Errorf("systemd-analyze verify: %s", line)
			}
			if version < 250 {
				t.Logf("systemd %d has no offline security analysis", version)
				return
			}
			// An exposure of 2.0 or less on systemd's 0–10 scale.
			out, err = exec.Command(sa, "security", "--offline=true", "--threshold=20", "--no-pager", file).CombinedOutput()
			if err != nil {
				t.Errorf("systemd-analyze security: %v\n%s", err, out)
			}
			if m := regexp.MustCompile(`Overall exposure level for \S+: (\S+)`).FindSubmatch(out); m != nil {
				t.Logf("exposure %s", m[1])
			}
		})
	}
}

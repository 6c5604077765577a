package deploy

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"debug/elf"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestImages builds the images as `make image` does, reads them back
// from both outputs and checks what a container runtime would run: a
// static program as a numeric unprivileged user, no shell, state only in
// the declared volume. Then it runs the programs taken from the image.
func TestImages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nuxarid, nuxari-agent and nuxari-healthcheck (skipped with -short)")
	}
	out := t.TempDir()
	const tag = "test"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	caPEM := testCA(t)
	if err := os.WriteFile(ca, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	if err := Build(ctx, Options{OutDir: out, Tag: tag, Arch: runtime.GOARCH, CACerts: ca, Log: &log}); err != nil {
		t.Fatalf("build: %v\n%s", err, log.Bytes())
	}
	t.Logf("built in %v", time.Since(start).Round(time.Millisecond))

	// The layout names exactly the images of the table.
	idx, err := layout.ImageIndexFromPath(filepath.Join(out, Layout))
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	inLayout := map[string]v1.Image{}
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		inLayout[d.Annotations["org.opencontainers.image.ref.name"]] = img
		if d.Platform == nil || d.Platform.OS != "linux" || d.Platform.Architecture != runtime.GOARCH {
			t.Errorf("%s: platform %v", d.Annotations["org.opencontainers.image.ref.name"], d.Platform)
		}
	}
	if len(inLayout) != len(Images) {
		t.Errorf("layout has %d images, want %d", len(inLayout), len(Images))
	}
	extracted, progs := map[string]string{}, t.TempDir()
	for _, want := range Images {
		ref := want.Ref(tag)
		t.Run(want.Repo, func(t *testing.T) {
			limg, ok := inLayout[ref]
			if !ok {
				t.Fatalf("%s not in the OCI layout", ref)
			}
			tg, err := name.NewTag(ref)
			if err != nil {
				t.Fatal(err)
			}
			img, err := tarball.ImageFromPath(filepath.Join(out, Archive), &tg)
			if err != nil {
				t.Fatalf("%s not in %s: %v", ref, Archive, err)
			}
			// The docker-archive holds the same image as the layout (it
			// keeps no manifest: the configuration's digest names it).
			ad, aerr := img.ConfigName()
			ld, lerr := limg.ConfigName()
			if aerr != nil || lerr != nil || ad != ld {
				t.Errorf("configuration in %s %v (%v), in the layout %v (%v)", Archive, ad, aerr, ld, lerr)
			}
			files := checkImage(t, want, limg, progs, extracted)
			if !bytes.Equal(files[CAFile], caPEM) {
				t.Errorf("%s does not hold the CA bundle given", CAFile)
			}
		})
	}
	if t.Failed() {
		return
	}
	runPrograms(t, extracted)
}

// checkImage checks one image's configuration and files, and extracts
// its programs into dir, adding them to extracted (program → path). It
// returns the contents of the image's files in /etc.
func checkImage(t *testing.T, want Image, img v1.Image, dir string, extracted map[string]string) map[string][]byte {
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	etc := map[string][]byte{}
	c := cf.Config
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}
	// A numeric user and group, neither root: Kubernetes can check
	// runAsNonRoot only against a numeric user.
	uid, gid, ok := strings.Cut(c.User, ":")
	u, uerr := strconv.Atoi(uid)
	g, gerr := strconv.Atoi(gid)
	if !ok || uerr != nil || gerr != nil || u == 0 || g == 0 {
		t.Errorf("user %q: want numeric uid:gid, neither 0", c.User)
	}
	entry := path.Join(BinDir, want.Programs[0])
	if !slices.Equal(c.Entrypoint, []string{entry}) {
		t.Errorf("entrypoint %q, want [%s]", c.Entrypoint, entry)
	}
	if !slices.Equal(c.Cmd, want.Cmd) {
		t.Errorf("cmd %q, want %q", c.Cmd, want.Cmd)
	}
	if _, ok := c.Volumes[want.StateDir]; !ok {
		t.Errorf("volumes %v, want %s", c.Volumes, want.StateDir)
	}
	for _, p := range want.Ports {
		if _, ok := c.ExposedPorts[p]; !ok {
			t.Errorf("port %s not exposed", p)
		}
	}
	for _, e := range want.Env {
		if !slices.Contains(c.Env, e) {
			t.Errorf("env %q lacks %s", c.Env, e)
		}
	}

	files := map[string]*tar.Header{}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := "/" + strings.TrimSuffix(path.Clean(h.Name), "/")
		files[p] = h
		// Nothing but the state directory belongs to the process's user:
		// it cannot change its own programs.
		if p != want.StateDir && (h.Uid != 0 || h.Gid != 0) {
			t.Errorf("%s owned by %d:%d", p, h.Uid, h.Gid)
		}
		switch base := path.Base(p); {
		case strings.HasPrefix(p, "/etc/") && h.Typeflag == tar.TypeReg:
			if etc[p], err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		case h.Typeflag == tar.TypeSymlink || h.Typeflag == tar.TypeLink:
			t.Errorf("%s: a link (to %s)", p, h.Linkname)
		case slices.Contains([]string{"sh", "bash", "ash", "dash", "busybox"}, base):
			t.Errorf("%s: a shell in the image", p)
		case path.Dir(p) == BinDir && h.Typeflag == tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := Static(b); err != nil {
				t.Errorf("%s: %v", p, err)
			}
			if h.Mode&0o022 != 0 || h.Mode&0o111 == 0 {
				t.Errorf("%s: mode %o", p, h.Mode)
			}
			if _, ok := extracted[base]; !ok {
				f := filepath.Join(dir, base)
				if err := os.WriteFile(f, b, 0o755); err != nil {
					t.Fatal(err)
				}
				extracted[base] = f
			}
		}
	}
	for _, prog := range want.Programs {
		if h, ok := files[path.Join(BinDir, prog)]; !ok || h.Typeflag != tar.TypeReg {
			t.Errorf("%s not in the image", path.Join(BinDir, prog))
		}
	}
	if h, ok := files[want.StateDir]; !ok || h.Typeflag != tar.TypeDir || h.Uid != u || h.Gid != g || h.Mode&0o7777 != 0o700 {
		t.Errorf("state directory %s: %+v, want a directory of %s, 0700", want.StateDir, h, c.User)
	}
	if !strings.Contains(string(etc["/etc/passwd"]), fmt.Sprintf(":x:%d:%d:", u, g)) {
		t.Errorf("/etc/passwd names no user %d:%d:\n%s", u, g, etc["/etc/passwd"])
	}
	return etc
}

// testCA returns a self-signed CA certificate in PEM.
func testCA(t *testing.T) []byte {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestStatic checks the check itself: a program of this machine's that
// needs the dynamic loader is refused, and so is what is no program.
func TestStatic(t *testing.T) {
	if err := Static([]byte("#!/bin/sh\n")); err == nil {
		t.Error("a script passed")
	}
	for _, p := range []string{"/bin/ls", "/usr/bin/ls", "/bin/sh"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if f, err := elf.NewFile(bytes.NewReader(b)); err != nil || !slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP }) {
			continue // not a dynamic ELF program here
		}
		if err := Static(b); err == nil || !strings.Contains(err.Error(), "interpreter") {
			t.Errorf("%s: %v, want it refused as dynamically linked", p, err)
		}
		return
	}
	t.Skip("no dynamically linked program found to check against")
}

// runPrograms runs the programs taken out of the images: nuxarid serves
// and nuxari-healthcheck finds it serving, with the image's environment
// but on a loopback port and a temporary data directory; nuxari-agent
// starts (and stops at once for want of a configuration).
func runPrograms(t *testing.T, bin map[string]string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	data := filepath.Join(t.TempDir(), "data")
	var logs bytes.Buffer
	srv := exec.Command(bin["nuxarid"])
	srv.Env = []string{"NUXARI_ADDR=" + addr, "NUXARI_DATA_DIR=" + data}
	srv.Stdout, srv.Stderr = &logs, &logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			srv.Process.Kill()
			<-done
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.Command(bin["nuxari-healthcheck"], "-url", "http://"+addr, "-service", "nuxari.v1.LedgerService", "-timeout", "1s").CombinedOutput()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nuxari-healthcheck never succeeded: %v: %s\nnuxarid's log:\n%s", err, out, logs.Bytes())
		}
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("nuxarid exited: %v\n%s", err, logs.Bytes())
		case <-time.After(100 * time.Millisecond):
		}
	}
	srv.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Errorf("nuxarid on SIGTERM: %v\n%s", err, logs.Bytes())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("nuxarid did not stop on SIGTERM")
	}
	if _, err := os.Stat(filepath.Join(data, "log.key")); err != nil {
		t.Errorf("no log key in the data directory: %v", err)
	}

	out, err := exec.Command(bin["nuxari-agent"], "status", "--config", filepath.Join(t.TempDir(), "missing.json")).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "nuxari-agent:") {
		t.Errorf("nuxari-agent with no configuration: %v: %s", err, out)
	}
}

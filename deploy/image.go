// Package deploy builds Nuxari's container images without a container
// daemon or registry (deploy/mkimage is the command; `make image` runs
// it), and its tests check the deployment files beside it: the images
// themselves, compose.yaml, the Kubernetes manifests in k8s/ and the
// systemd units.
package deploy

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/x509"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// UID and GID run every image's process and own its state directory;
// the image's other files belong to root, so the process cannot change
// its own programs.
const (
	UID = 65532
	GID = 65532
)

// DefaultTag is the tag of the images when none is given.
const DefaultTag = "dev"

// BinDir is where the images keep their programs.
const BinDir = "/usr/local/bin"

// CAFile is where the images keep the certificate authorities that Go's
// TLS trusts on Linux.
const CAFile = "/etc/ssl/certs/ca-certificates.crt"

// Archive and Layout name the build's outputs inside its output
// directory: a docker-archive tarball of every image (for docker load and
// podman load) and an OCI image layout of the same images.
const (
	Archive = "nuxari-images.tar"
	Layout  = "oci"
)

// Image describes one image the build produces.
type Image struct {
	// Repo is the image's repository name; the build tags it Repo:tag.
	Repo string
	// Programs are the binaries in BinDir (keys of the Programs table);
	// the first one is the entrypoint.
	Programs []string
	// Cmd is the entrypoint's default arguments.
	Cmd []string
	// Env is the environment the image sets.
	Env []string
	// StateDir is created owned by UID:GID, mode 0700, and declared a
	// volume: the only place the process writes.
	StateDir string
	// Ports are exposed ports ("8080/tcp").
	Ports []string
	// Title is the image's title label.
	Title string
}

// Programs maps each program an image may hold to its package.
var Programs = map[string]string{
	"nuxarid":            "./cmd/nuxarid",
	"nuxari-agent":       "./cmd/nuxari-agent",
	"nuxari-healthcheck": "./deploy/healthcheck",
}

// Images are the images the build produces.
var Images = []Image{
	{
		Repo:     "nuxari/nuxarid",
		Programs: []string{"nuxarid", "nuxari-healthcheck"},
		// The data directory is a directory inside the volume, so that
		// the server creates it and owns it whatever the volume's root
		// looks like (lost+found, a group from fsGroup).
		Env:      []string{"NUXARI_ADDR=:8080", "NUXARI_DATA_DIR=/var/lib/nuxari/data"},
		StateDir: "/var/lib/nuxari",
		Ports:    []string{"8080/tcp"},
		Title:    "nuxarid, the Nuxari server",
	},
	{
		Repo:     "nuxari/nuxari-agent",
		Programs: []string{"nuxari-agent"},
		Cmd:      []string{"run", "--config", "/etc/nuxari-agent/nuxari-agent.json"},
		StateDir: "/var/lib/nuxari-agent",
		Title:    "nuxari-agent, the Nuxari edge agent",
	},
}

// Ref returns the reference the build tags an image with.
func (im Image) Ref(tag string) string { return im.Repo + ":" + tag }

// Options configure Build.
type Options struct {
	// ModuleDir is the root of the Nuxari module (default: the current
	// directory's module).
	ModuleDir string
	// OutDir receives Archive and Layout (replaced if present).
	OutDir string
	// Tag tags every image (default DefaultTag).
	Tag string
	// Arch is the GOARCH the programs are built for (default amd64).
	Arch string
	// CACerts is a PEM bundle of certificate authorities copied to
	// CAFile, for TLS to S3, a KMS or nuxarid; empty leaves the images
	// without one.
	CACerts string
	// Created stamps the images and their files (default the Unix
	// epoch, so that a build is reproducible).
	Created time.Time
	// Go is the go command (default "go").
	Go string
	// Log receives the build's progress (default: discarded).
	Log io.Writer
}

// Build compiles the programs as static binaries and writes the images
// to o.OutDir.
func Build(ctx context.Context, o Options) error {
	if o.OutDir == "" {
		return errors.New("deploy: no output directory")
	}
	if o.Tag == "" {
		o.Tag = DefaultTag
	}
	if o.Arch == "" {
		o.Arch = "amd64"
	}
	if o.Go == "" {
		o.Go = "go"
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.ModuleDir == "" {
		out, err := exec.CommandContext(ctx, o.Go, "env", "GOMOD").Output()
		if err != nil {
			return fmt.Errorf("go env GOMOD: %w", err)
		}
		gomod := strings.TrimSpace(string(out))
		if gomod == "" || gomod == os.DevNull {
			return errors.New("deploy: not inside the Nuxari module; give the module directory")
		}
		o.ModuleDir = filepath.Dir(gomod)
	}
	var caCerts []byte
	if o.CACerts != "" {
		var err error
		if caCerts, err = os.ReadFile(o.CACerts); err != nil {
			return fmt.Errorf("CA certificates: %w (name the bundle, or none)", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(caCerts) {
			return fmt.Errorf("CA certificates: no PEM certificate in %s", o.CACerts)
		}
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return err
	}
	binDir, err := os.MkdirTemp(o.OutDir, ".bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(binDir)

	refs := map[name.Reference]v1.Image{}
	lay := filepath.Join(o.OutDir, Layout)
	if err := os.RemoveAll(lay); err != nil {
		return err
	}
	p, err := layout.Write(lay, empty.Index)
	if err != nil {
		return err
	}
	built := map[string][]byte{}
	for _, im := range Images {
		bins := map[string][]byte{}
		for _, prog := range im.Programs {
			if built[prog] == nil {
				fmt.Fprintf(o.Log, "building %s for linux/%s\n", prog, o.Arch)
				b, err := compile(ctx, o, prog, filepath.Join(binDir, prog))
				if err != nil {
					return err
				}
				built[prog] = b
			}
			bins[prog] = built[prog]
		}
		img, err := image(im, bins, caCerts, o)
		if err != nil {
			return fmt.Errorf("%s: %w", im.Repo, err)
		}
		ref := im.Ref(o.Tag)
		tag, err := name.NewTag(ref)
		if err != nil {
			return err
		}
		refs[tag] = img
		if err := p.AppendImage(img, layout.WithPlatform(v1.Platform{OS: "linux", Architecture: o.Arch}), layout.WithAnnotations(map[string]string{
			// The reference, by the OCI convention and containerd's.
			"org.opencontainers.image.ref.name": ref,
			"io.containerd.image.name":          "docker.io/" + ref,
		})); err != nil {
			return err
		}
		fmt.Fprintf(o.Log, "image %s\n", ref)
	}
	return tarball.MultiRefWriteToFile(filepath.Join(o.OutDir, Archive), refs)
}

// compile builds prog statically for linux/o.Arch into out, and returns
// its bytes once it has checked that they need no dynamic loader.
func compile(ctx context.Context, o Options, prog, out string) ([]byte, error) {
	pkg, ok := Programs[prog]
	if !ok {
		return nil, fmt.Errorf("deploy: no package for program %s", prog)
	}
	cmd := exec.CommandContext(ctx, o.Go, "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = o.ModuleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+o.Arch)
	cmd.Stdout, cmd.Stderr = o.Log, o.Log
	var stderr bytes.Buffer
	if o.Log == io.Discard {
		cmd.Stderr = &stderr
	}
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build %s: %w\n%s", pkg, err, stderr.Bytes())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	if err := Static(b); err != nil {
		return nil, fmt.Errorf("%s: %w", prog, err)
	}
	return b, nil
}

// Static checks that b is a Linux ELF executable that needs no dynamic
// loader or shared library: one that runs in an image with nothing else
// in it.
func Static(b []byte) error {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("ELF type %v, not an executable", f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("has a program interpreter: it is dynamically linked")
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return err
	}
	if len(libs) > 0 {
		return fmt.Errorf("needs shared libraries %v", libs)
	}
	return nil
}

// image assembles one image: a single layer with the programs, the
// state directory, the CA bundle and passwd/group entries for the
// image's user, and a configuration that runs the first program as that
// user.
func image(im Image, bins map[string][]byte, caCerts []byte, o Options) (v1.Image, error) {
	created := o.Created.UTC()
	if o.Created.IsZero() {
		created = time.Unix(0, 0).UTC()
	}
	user := "nuxari"
	files := []file{
		{path: "/etc/passwd", mode: 0o644, data: []byte(fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:%s:%s:/sbin/nologin\n", user, UID, GID, user, im.StateDir))},
		{path: "/etc/group", mode: 0o644, data: []byte(fmt.Sprintf("root:x:0:\n%s:x:%d:\n", user, GID))},
		{path: im.StateDir, dir: true, mode: 0o700, uid: UID, gid: GID},
	}
	if caCerts != nil {
		files = append(files, file{path: CAFile, mode: 0o644, data: caCerts})
	}
	for _, prog := range im.Programs {
		files = append(files, file{path: path.Join(BinDir, prog), mode: 0o755, data: bins[prog]})
	}
	layerTar, err := tarFiles(files, created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "deploy/mkimage", Comment: strings.Join(im.Programs, ", ")},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", o.Arch, v1.Time{Time: created}
	cf.Config = v1.Config{
		User:       strconv.Itoa(UID) + ":" + strconv.Itoa(GID),
		Entrypoint: []string{path.Join(BinDir, im.Programs[0])},
		Cmd:        slices.Clone(im.Cmd),
		Env:        append([]string{"PATH=" + BinDir}, im.Env...),
		WorkingDir: im.StateDir,
		Volumes:    map[string]struct{}{im.StateDir: {}},
		Labels: map[string]string{
			"org.opencontainers.image.title":   im.Title,
			"org.opencontainers.image.source":  "https://github.com/nuxari/nuxari",
			"org.opencontainers.image.version": o.Tag,
		},
		StopSignal: "SIGTERM",
	}
	if len(im.Ports) > 0 {
		cf.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range im.Ports {
			cf.Config.ExposedPorts[p] = struct{}{}
		}
	}
	return mutate.ConfigFile(img, cf)
}

// file is one entry of a layer.
type file struct {
	path     string
	dir      bool
	mode     int64
	uid, gid int
	data     []byte
}

// tarFiles writes files as a tar stream, with their parent directories
// (root's, 0755) first and every time set to mtime.
func tarFiles(files []file, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	seen := map[string]bool{}
	var parents func(p string) error
	parents = func(p string) error {
		d := path.Dir(p)
		if d == "/" || seen[d] {
			return nil
		}
		if err := parents(d); err != nil {
			return err
		}
		seen[d] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX})
	}
	for _, f := range files {
		if err := parents(f.path); err != nil {
			return nil, err
		}
		h := &tar.Header{Name: strings.TrimPrefix(f.path, "/"), Mode: f.mode, Uid: f.uid, Gid: f.gid, ModTime: mtime, Format: tar.FormatPAX}
		if f.dir {
			seen[f.path] = true
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Command mkimage builds the container images of nuxarid and nuxari-agent
// with no container daemon and no registry: static binaries
// (CGO_ENABLED=0) in a single layer, run as an unprivileged numeric user,
// writing only to their state volume. `make image` runs it:
//
//	go run ./deploy/mkimage [-out bin/image] [-tag dev] [-arch amd64]
//
// It writes OUT/nuxari-images.tar, a docker-archive for `docker load` or
// `podman load`, and OUT/oci, an OCI image layout of the same images
// (for skopeo, crane or containerd). docs/deploy.md tells the rest.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"time"

	"github.com/nuxari/nuxari/deploy"
)

func main() {
	out := flag.String("out", "bin/image", "output directory")
	tag := flag.String("tag", deploy.DefaultTag, "tag of every image")
	arch := flag.String("arch", runtime.GOARCH, "architecture to build for (a GOARCH)")
	ca := flag.String("ca-certs", deploy.CAFile, "PEM bundle of the certificate authorities the images trust (empty: none)")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: mkimage [-out DIR] [-tag TAG] [-arch GOARCH] [-ca-certs FILE]")
		os.Exit(2)
	}
	// SOURCE_DATE_EPOCH, when set, stamps the images; otherwise the
	// epoch does, so that two builds of one tree are the same.
	var created time.Time
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mkimage: SOURCE_DATE_EPOCH:", err)
			os.Exit(2)
		}
		created = time.Unix(sec, 0)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := deploy.Build(ctx, deploy.Options{OutDir: *out, Tag: *tag, Arch: *arch, CACerts: *ca, Created: created, Log: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

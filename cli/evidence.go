package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	"github.com/nuxari/nuxari/internal/eventcatalog"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
)

var exportStateNames = map[nuxariv1.ExportState]string{
	nuxariv1.ExportState_EXPORT_STATE_RUNNING:   "running",
	nuxariv1.ExportState_EXPORT_STATE_SUCCEEDED: "succeeded",
	nuxariv1.ExportState_EXPORT_STATE_FAILED:    "failed",
}

func stateName(s nuxariv1.ExportState) string {
	if n, ok := exportStateNames[s]; ok {
		return n
	}
	return "unknown"
}

func (e *env) evidenceExportCmd() *cobra.Command {
	var since, until string
	var types, subjects []string
	cmd := &cobra.Command{
		Use:   "export [--since RFC3339] [--until RFC3339] [--type T]... [--subject S]... [--wait [--timeout D]]",
		Short: "start exporting a package of the org's events",
		Long: `Start exporting a signed evidence package of the org's events in a scope.
Without --wait it prints the export ID; follow it with 'evidence status'.
With --wait it shows the export's progress on standard error and prints
the finished export; it exits 6 if the export fails and 7 if it has not
finished within --timeout.`,
		Args: nargs(0, 0),
	}
	f := cmd.Flags()
	f.StringVar(&since, "since", "", "only events at or after this `TIME` (RFC 3339)")
	f.StringVar(&until, "until", "", "only events before this `TIME` (RFC 3339)")
	f.StringArrayVar(&types, "type", nil, "only events of this `TYPE` (repeatable)")
	f.StringArrayVar(&subjects, "subject", nil, "only events about this `SUBJECT`: a user ID, token:<id>, … (repeatable)")
	wait := addWaitFlags(cmd, "the export finishes, showing progress")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := wait.check(cmd); err != nil {
			return err
		}
		for _, t := range types {
			if !eventcatalog.Known(t) {
				return usagef(pathOf(cmd), "--type %q is neither an event type (docs/events.md) nor %s<name>", t, eventcatalog.CustomPrefix)
			}
		}
		sc := &nuxariv1.EvidenceScope{Types: types, Subjects: subjects}
		if err := parseTimeRange(pathOf(cmd), since, until, &sc.StartTime, &sc.EndTime); err != nil {
			return err
		}
		c, err := e.connect()
		if err != nil {
			return err
		}
		x, err := e.startExport(c, sc)
		if err != nil {
			return err
		}
		if !wait.wait {
			if e.json {
				return e.printProto(x)
			}
			fmt.Fprintf(e.stdout, "Export %s started. Follow it with: nuxctl evidence status %s\n", x.GetExportId(), x.GetExportId())
			return nil
		}
		if x, err = e.waitExport(c, x, wait.timeout); err != nil {
			return err
		}
		if e.json {
			err = e.printProto(x)
		} else {
			err = printExport(e.stdout, x)
		}
		if err != nil {
			return err
		}
		if x.GetState() == nuxariv1.ExportState_EXPORT_STATE_FAILED {
			return exportFailed(x)
		}
		return nil
	}
	return cmd
}

// startExport starts exporting a package of the events in sc.
func (e *env) startExport(c *clients, sc *nuxariv1.EvidenceScope) (*nuxariv1.Export, error) {
	res, err := c.Evidence.ExportPackage(e.ctx, connect.NewRequest(&nuxariv1.ExportPackageRequest{Scope: sc}))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetExport(), nil
}

// exportFailed is the error of a waited-for export that failed.
func exportFailed(x *nuxariv1.Export) error {
	return &exitError{code: ExitFailed, err: fmt.Errorf("export %s failed: %s", x.GetExportId(), printable(x.GetError()))}
}

// waitExport polls export x until it ends or timeout passes, showing
// what it waits for and the progress on standard error.
func (e *env) waitExport(c *clients, x *nuxariv1.Export, timeout time.Duration) (*nuxariv1.Export, error) {
	id := x.GetExportId()
	fmt.Fprintf(e.stderr, "waiting for export %s to finish (up to %s)…\n", printable(id), timeout)
	var p progress
	defer func() {
		if p != nil {
			p.finish(x.GetState() == nuxariv1.ExportState_EXPORT_STATE_SUCCEEDED)
		}
	}()
	err := e.poll(timeout, func() string {
		return fmt.Sprintf("export %s (%d of %d log entries read); it carries on: follow it with 'nuxctl evidence status %s'",
			id, x.GetEntriesScanned(), x.GetEntriesTotal(), id)
	}, func(ctx context.Context) (bool, error) {
		res, err := c.Evidence.GetExport(ctx, connect.NewRequest(&nuxariv1.GetExportRequest{ExportId: id}))
		if err != nil {
			return false, err
		}
		x = res.Msg.GetExport()
		if p == nil && x.GetEntriesTotal() > 0 {
			p = e.newProgress("export "+printable(id), int64(x.GetEntriesTotal()), unitEntries)
		}
		if p != nil {
			p.set(int64(x.GetEntriesScanned()))
		}
		return x.GetState() != nuxariv1.ExportState_EXPORT_STATE_RUNNING, nil
	})
	return x, err
}

func printExport(w io.Writer, x *nuxariv1.Export) error {
	kv := []string{
		"Export", x.GetExportId(),
		"State", stateName(x.GetState()),
		"Requested by", printable(x.GetRequestedBy()),
		"Created", timeText(x.GetCreateTime()),
	}
	switch x.GetState() {
	case nuxariv1.ExportState_EXPORT_STATE_RUNNING:
		kv = append(kv, "Progress", fmt.Sprintf("%d of %d log entries read", x.GetEntriesScanned(), x.GetEntriesTotal()))
	case nuxariv1.ExportState_EXPORT_STATE_SUCCEEDED:
		worm := "no (local directory: no WORM guarantee)"
		if x.GetWorm() {
			worm = "yes, object lock until " + timeText(x.GetRetainUntil())
		}
		kv = append(kv,
			"Completed", timeText(x.GetCompleteTime()),
			"Events", strconv.FormatUint(x.GetEventCount(), 10),
			"Tree size", strconv.FormatUint(x.GetTreeSize(), 10),
			"SHA-256", x.GetSha256(),
			"Size", strconv.FormatInt(x.GetSizeBytes(), 10)+" bytes",
			"Write-once", worm,
		)
	case nuxariv1.ExportState_EXPORT_STATE_FAILED:
		kv = append(kv, "Completed", timeText(x.GetCompleteTime()), "Error", printable(x.GetError()))
	}
	return fields(w, kv...)
}

func (e *env) evidenceStatusCmd() *cobra.Command {
	return oneCmd(e, "status EXPORT_ID", "show an export's state and progress", "",
		func(c *clients, id string) (*nuxariv1.Export, error) {
			res, err := c.Evidence.GetExport(e.ctx, connect.NewRequest(&nuxariv1.GetExportRequest{ExportId: id}))
			if err != nil {
				return nil, err
			}
			return res.Msg.GetExport(), nil
		},
		func(x *nuxariv1.Export) error { return printExport(e.stdout, x) })
}

func (e *env) evidenceListCmd() *cobra.Command {
	all := &nuxariv1.ListExportsResponse{}
	return e.listCmd("list", "list the org's exports", "List the org's exports.", all, func(c *clients, token string) (string, error) {
		res, err := c.Evidence.ListExports(e.ctx, connect.NewRequest(&nuxariv1.ListExportsRequest{PageSize: 1000, PageToken: token}))
		if err != nil {
			return "", err
		}
		all.Exports = append(all.Exports, res.Msg.GetExports()...)
		return res.Msg.GetNextPageToken(), nil
	}, func(t *table) {
		t.header("EXPORT ID", "STATE", "EVENTS", "TREE SIZE", "CREATED", "REQUESTED BY")
		for _, x := range all.Exports {
			t.row(x.GetExportId(), stateName(x.GetState()), strconv.FormatUint(x.GetEventCount(), 10),
				strconv.FormatUint(x.GetTreeSize(), 10), timeText(x.GetCreateTime()), printable(x.GetRequestedBy()))
		}
	})
}

func (e *env) evidenceDownloadCmd() *cobra.Command {
	var url bool
	cmd := &cobra.Command{
		Use:   "download EXPORT_ID (--out FILE [--force] | --url)",
		Short: "download a finished package, or get a presigned URL",
		Long: `Download a finished package through the API to FILE (streamed, showing
progress on standard error, and checked against the export's SHA-256 and
size before FILE appears), or print a short-lived presigned URL (S3
storage only) with --url. Each download is an audited event. The file is
created with mode 0600: a package holds the org's events.`,
		Args:              nargs(1, 1),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	out := outFlags(cmd, "write the package to this `FILE`", 0o600)
	cmd.Flags().BoolVar(&url, "url", false, "print a presigned URL instead of downloading")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id := args[0]
		if (out.path == "") == !url {
			return usagef(pathOf(cmd), "give exactly one of --out FILE and --url")
		}
		if url && cmd.Flags().Changed("force") {
			return usagef(pathOf(cmd), "--force goes with --out")
		}
		if out.path != "" {
			if err := out.check(); err != nil {
				return err
			}
		}
		c, err := e.connect()
		if err != nil {
			return err
		}
		if url {
			res, err := c.Evidence.GetDownloadURL(e.ctx, connect.NewRequest(&nuxariv1.GetDownloadURLRequest{ExportId: id}))
			if err != nil {
				return err
			}
			if e.json {
				return e.printProto(res.Msg)
			}
			fmt.Fprintf(e.stderr, "The URL works until %s.\n", timeText(res.Msg.GetExpireTime()))
			_, err = fmt.Fprintln(e.stdout, res.Msg.GetUrl())
			return err
		}
		n, err := e.download(c, id, out)
		if err != nil {
			return err
		}
		if e.json {
			return e.printJSON(struct {
				ExportID string `json:"export_id"`
				File     string `json:"file"`
				Size     int64  `json:"size"`
			}{id, out.path, n})
		}
		fmt.Fprintf(e.stdout, "Wrote %d bytes to %s. Verify it offline with: nuxctl verify %s --org ORG --key LOG_KEY --signing-key KEY.pem\n", n, out.path, out.path)
		return nil
	}
	return cmd
}

// download streams export id's package into out, with progress, and
// checks it against the export's size and SHA-256 before out appears. It
// returns the package's size.
func (e *env) download(c *clients, id string, out *outFile) (int64, error) {
	x, err := c.Evidence.GetExport(e.ctx, connect.NewRequest(&nuxariv1.GetExportRequest{ExportId: id}))
	if err != nil {
		return 0, err
	}
	want := x.Msg.GetExport()
	stream, err := c.Evidence.DownloadPackage(e.ctx, connect.NewRequest(&nuxariv1.DownloadPackageRequest{ExportId: id}))
	if err != nil {
		return 0, err
	}
	defer stream.Close()
	var n int64
	var p progress
	err = out.write(func(w io.Writer) error {
		h := sha256.New()
		for stream.Receive() {
			if p == nil {
				p = e.newProgress("downloading "+id, want.GetSizeBytes(), unitBytes)
			}
			chunk := stream.Msg().GetChunk()
			if _, err := w.Write(chunk); err != nil {
				return err
			}
			h.Write(chunk)
			n += int64(len(chunk))
			p.set(n)
		}
		if err := stream.Err(); err != nil {
			return err
		}
		if got := hex.EncodeToString(h.Sum(nil)); n != want.GetSizeBytes() || got != want.GetSha256() {
			return fmt.Errorf("the download of export %s is %d bytes with SHA-256 %s, but the export has %d bytes with SHA-256 %s; nothing written",
				id, n, got, want.GetSizeBytes(), printable(want.GetSha256()))
		}
		return nil
	})
	if p != nil {
		p.finish(err == nil)
	}
	return n, err
}

func (e *env) evidenceSigningKeyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "signing-key [--out FILE [--force]]",
		Short: "show the public key that signs manifests",
		Long:  "Show the PEM public key that signs package manifests, to pin for 'nuxctl verify'.",
		Args:  nargs(0, 0),
	}
	out := outFlags(cmd, "write the PEM to this `FILE`", 0o644)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if out.path != "" {
			if err := out.check(); err != nil {
				return err
			}
		}
		c, err := e.connect()
		if err != nil {
			return err
		}
		res, err := c.Evidence.GetSigningKey(e.ctx, connect.NewRequest(&nuxariv1.GetSigningKeyRequest{}))
		if err != nil {
			return err
		}
		if out.path != "" {
			if err := out.writeBytes([]byte(res.Msg.GetPublicKeyPem())); err != nil {
				return err
			}
			if e.json {
				return e.printJSON(struct {
					File string `json:"file"`
				}{out.path})
			}
			_, err = fmt.Fprintf(e.stdout, "Signing key written to %s.\n", out.path)
			return err
		}
		if e.json {
			return e.printProto(res.Msg)
		}
		_, err = fmt.Fprint(e.stdout, res.Msg.GetPublicKeyPem())
		return err
	}
	return cmd
}

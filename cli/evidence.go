package cli

import (
	"fmt"
	"github.com/nuxari/nuxari/internal/eventcatalog"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"connectrpc.com/connect"
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

func runEvidenceExport(e *env, args []string) error {
	f := newFlags("evidence export", "[--since RFC3339] [--until RFC3339] [--type T]... [--subject S]... [--wait]", `
Start exporting a signed evidence package of the org's events in a scope.
Without --wait it prints the export ID; follow it with 'evidence status'.`)
	since := f.String("since", "", "only events at or after this time (RFC 3339)")
	until := f.String("until", "", "only events before this time (RFC 3339)")
	var types, subjects stringList
	f.Var(&types, "type", "only events of this type (repeatable)")
	f.Var(&subjects, "subject", "only events about this subject: a user ID, token:<id>, … (repeatable)")
	wait := f.Bool("wait", false, "wait until the export finishes, showing progress")
	if _, err := f.parse(e, args, 0, 0); err != nil {
		return err
	}
	for _, t := range types {
		if !eventcatalog.Known(t) {
			return usagef(f.name, "--type %q is neither an event type (docs/events.md) nor %s<name>", t, eventcatalog.CustomPrefix)
		}
	}
	sc := &nuxariv1.EvidenceScope{Types: types, Subjects: subjects}
	if err := parseTimeRange(f.name, *since, *until, &sc.StartTime, &sc.EndTime); err != nil {
		return err
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	res, err := c.Evidence.ExportPackage(e.ctx, connect.NewRequest(&nuxariv1.ExportPackageRequest{Scope: sc}))
	if err != nil {
		return err
	}
	x := res.Msg.GetExport()
	if *wait {
		if x, err = e.waitExport(c, x.GetExportId()); err != nil {
			return err
		}
	}
	if e.json {
		return e.printProto(x)
	}
	if !*wait {
		fmt.Fprintf(e.stdout, "Export %s started. Follow it with: nuxctl evidence status %s\n", x.GetExportId(), x.GetExportId())
		return nil
	}
	return printExport(e.stdout, x)
}

// waitExport polls an export until it ends, showing progress on stderr.
func (e *env) waitExport(c *clients, id string) (*nuxariv1.Export, error) {
	last := ""
	for {
		res, err := c.Evidence.GetExport(e.ctx, connect.NewRequest(&nuxariv1.GetExportRequest{ExportId: id}))
		if err != nil {
			return nil, err
		}
		x := res.Msg.GetExport()
		if x.GetState() != nuxariv1.ExportState_EXPORT_STATE_RUNNING {
			if x.GetState() == nuxariv1.ExportState_EXPORT_STATE_FAILED {
				return nil, fmt.Errorf("export %s failed: %s", id, printable(x.GetError()))
			}
			return x, nil
		}
		if p := fmt.Sprintf("export %s: %d of %d log entries read", id, x.GetEntriesScanned(), x.GetEntriesTotal()); p != last && !e.json {
			fmt.Fprintln(e.stderr, p)
			last = p
		}
		select {
		case <-e.ctx.Done():
			return nil, e.ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
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

func runEvidenceStatus(e *env, args []string) error {
	f := newFlags("evidence status", "EXPORT_ID", "Show an export's state and progress.")
	pos, err := f.parse(e, args, 1, 1)
	if err != nil {
		return err
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	res, err := c.Evidence.GetExport(e.ctx, connect.NewRequest(&nuxariv1.GetExportRequest{ExportId: pos[0]}))
	if err != nil {
		return err
	}
	if e.json {
		return e.printProto(res.Msg.GetExport())
	}
	return printExport(e.stdout, res.Msg.GetExport())
}

func runEvidenceList(e *env, args []string) error {
	all := &nuxariv1.ListExportsResponse{}
	return runList(e, args, "evidence list", "List the org's exports.", all, func(c *clients, token string) (string, error) {
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

func runEvidenceDownload(e *env, args []string) error {
	f := newFlags("evidence download", "EXPORT_ID --out FILE | --url", `
Download a finished package through the API to FILE (streamed), or print a
short-lived presigned URL (S3 storage only) with --url. Each download is
an audited event.`)
	out := f.String("out", "", "write the package to this file (must not exist)")
	url := f.Bool("url", false, "print a presigned URL instead of downloading")
	pos, err := f.parse(e, args, 1, 1)
	if err != nil {
		return err
	}
	if (*out == "") == !*url {
		return usagef(f.name, "give exactly one of --out FILE and --url")
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	if *url {
		res, err := c.Evidence.GetDownloadURL(e.ctx, connect.NewRequest(&nuxariv1.GetDownloadURLRequest{ExportId: pos[0]}))
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
	stream, err := c.Evidence.DownloadPackage(e.ctx, connect.NewRequest(&nuxariv1.DownloadPackageRequest{ExportId: pos[0]}))
	if err != nil {
		return err
	}
	defer stream.Close()
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".nuxctl-download-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	var n int64
	for stream.Receive() {
		k, err := tmp.Write(stream.Msg().GetChunk())
		if err != nil {
			tmp.Close()
			return err
		}
		n += int64(k)
	}
	if err := stream.Err(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// Never overwrite: link fails if the file exists.
	if err := os.Link(tmp.Name(), *out); err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	if e.json {
		return e.printJSON(map[string]any{"export_id": pos[0], "file": *out, "size": n})
	}
	fmt.Fprintf(e.stdout, "Wrote %d bytes to %s. Verify it offline with: nuxctl verify %s --org ORG --key LOG_KEY --signing-key KEY.pem\n", n, *out, *out)
	return nil
}

func runEvidenceSigningKey(e *env, args []string) error {
	f := newFlags("evidence signing-key", "[--out FILE]", "Show the PEM public key that signs package manifests, to pin for 'nuxctl verify'.")
	out := f.String("out", "", "write the PEM to this file")
	if _, err := f.parse(e, args, 0, 0); err != nil {
		return err
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	res, err := c.Evidence.GetSigningKey(e.ctx, connect.NewRequest(&nuxariv1.GetSigningKeyRequest{}))
	if err != nil {
		return err
	}
	if *out != "" {
		return writeOut(*out, []byte(res.Msg.GetPublicKeyPem()))
	}
	if e.json {
		return e.printProto(res.Msg)
	}
	_, err = fmt.Fprint(e.stdout, res.Msg.GetPublicKeyPem())
	return err
}

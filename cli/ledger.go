package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/nuxari/nuxari/ledger/leaf"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// defaultListLimit is how many events "ledger list" shows by default.
const defaultListLimit = 100

func parseIndex(cmd, what, s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, usagef(cmd, "%s %q is not a non-negative integer", what, s)
	}
	return n, nil
}

func (e *env) ledgerCheckpointCmd() *cobra.Command {
	var size uint64
	cmd := &cobra.Command{
		Use:   "checkpoint [--size N] [--out FILE [--force]]",
		Short: "show a signed checkpoint",
		Long: `Show the org's latest signed checkpoint, or the one issued at tree size N.
--out writes the signed note, verbatim, to FILE. Beyond a day, the log keeps
the checkpoints handed out (receipts, evidence packages, this command), its
latest and the last of each hour; another size is not found.`,
		Args: nargs(0, 0),
	}
	cmd.Flags().Uint64Var(&size, "size", 0, "tree size of an earlier checkpoint (default: the latest)")
	out := outFlags(cmd, "write the signed note to this `FILE`", 0o644)
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
		res, err := c.Ledger.GetCheckpoint(e.ctx, connect.NewRequest(&nuxariv1.GetCheckpointRequest{Size: size}))
		if err != nil {
			return err
		}
		cp := res.Msg.GetCheckpoint()
		if out.path != "" {
			if err := out.writeBytes([]byte(cp.GetNote())); err != nil {
				return err
			}
		}
		if e.json {
			return e.printProto(res.Msg)
		}
		if err := fields(e.stdout,
			"Origin", cp.GetOrigin(),
			"Size", strconv.FormatUint(cp.GetSize(), 10),
			"Root hash", b64(cp.GetRootHash()),
			"Verifier key", res.Msg.GetVerifierKey(),
			"Key fingerprint", keyFingerprint(res.Msg.GetVerifierKey()),
		); err != nil {
			return err
		}
		if out.path != "" {
			fmt.Fprintf(e.stdout, "Signed note written to %s.\n", out.path)
			return nil
		}
		fmt.Fprintf(e.stdout, "\n%s", printableNote(cp.GetNote()))
		return nil
	}
	return cmd
}

// parseTimeRange parses the --since and --until flags.
func parseTimeRange(cmd, since, until string, start, end **timestamppb.Timestamp) error {
	for _, t := range []struct {
		flag, v string
		dst     **timestamppb.Timestamp
	}{{"since", since, start}, {"until", until, end}} {
		if t.v == "" {
			continue
		}
		ts, err := time.Parse(time.RFC3339Nano, t.v)
		if err != nil {
			return usagef(cmd, "--%s %q is not an RFC 3339 time, e.g. 2025-01-31T09:00:00Z", t.flag, t.v)
		}
		*t.dst = timestamppb.New(ts)
	}
	return nil
}

// printableNote keeps a note's newlines but nothing else unprintable.
func printableNote(n string) string {
	lines := strings.Split(n, "\n")
	for i, l := range lines {
		lines[i] = printable(l)
	}
	return strings.Join(lines, "\n")
}

func (e *env) ledgerEventCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "event INDEX [--out FILE [--force]]",
		Short: "show one event",
		Long: `Show the event at INDEX, decoded. --out writes the raw leaf bytes (the
exact bytes the leaf hash covers) to FILE.`,
		Args:              nargs(1, 1),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	out := outFlags(cmd, "write the raw leaf bytes to this `FILE`", 0o644)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		index, err := parseIndex(pathOf(cmd), "INDEX", args[0])
		if err != nil {
			return err
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
		res, err := c.Ledger.GetEvent(e.ctx, connect.NewRequest(&nuxariv1.GetEventRequest{Index: index}))
		if err != nil {
			return err
		}
		ev := res.Msg.GetEvent()
		if out.path != "" {
			if ev.GetPurged() {
				return fmt.Errorf("event %d was purged after the retention window: it has no leaf bytes to write", index)
			}
			if err := out.writeBytes(ev.GetLeaf()); err != nil {
				return err
			}
		}
		if e.json {
			return e.printProto(ev)
		}
		kv := []string{
			"Index", strconv.FormatUint(ev.GetIndex(), 10),
			"Time", timeText(ev.GetTime()),
			"Type", orDash(ev.GetType()),
			"Actor", orDash(ev.GetActor()),
			"Leaf hash", b64(ev.GetLeafHash()),
		}
		if ev.GetPurged() {
			kv = append(kv, "Payload", "purged after the retention window (the leaf hash remains provable)")
			return fields(e.stdout, kv...)
		}
		l, err := leaf.Parse(ev.GetLeaf())
		if err != nil {
			return fmt.Errorf("event %d: the server sent a malformed leaf: %w", index, err)
		}
		if l.IdempotencyKey != "" {
			kv = append(kv, "Idempotency key", l.IdempotencyKey)
		}
		if err := fields(e.stdout, kv...); err != nil {
			return err
		}
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, l.Event, "", "  "); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Event:\n%s\n", printableNote(pretty.String()))
		if out.path != "" {
			fmt.Fprintf(e.stdout, "Leaf bytes written to %s.\n", out.path)
		}
		return nil
	}
	return cmd
}

func (e *env) ledgerListCmd() *cobra.Command {
	var types []string
	var actor, since, until string
	var limit int
	cmd := &cobra.Command{
		Use:   "list [--type T]... [--actor A] [--since RFC3339] [--until RFC3339] [--limit N]",
		Short: "list events",
		Long:  "List events in log order, following every page up to --limit.",
		Args:  nargs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return usagef(pathOf(cmd), "--limit must not be negative")
			}
			req := &nuxariv1.ListEventsRequest{Types: types, Actor: actor, PageSize: 1000}
			if err := parseTimeRange(pathOf(cmd), since, until, &req.StartTime, &req.EndTime); err != nil {
				return err
			}
			if limit > 0 && limit < 1000 {
				req.PageSize = int32(limit)
			}
			c, err := e.connect()
			if err != nil {
				return err
			}
			all := &nuxariv1.ListEventsResponse{}
			more := false
			err = eachPage(func(token string) (string, error) {
				req.PageToken = token
				res, err := c.Ledger.ListEvents(e.ctx, connect.NewRequest(req))
				if err != nil {
					return "", err
				}
				evs := res.Msg.GetEvents()
				if limit > 0 && len(all.Events)+len(evs) >= limit {
					more = len(all.Events)+len(evs) > limit || res.Msg.GetNextPageToken() != ""
					all.Events = append(all.Events, evs[:limit-len(all.Events)]...)
					return "", nil
				}
				all.Events = append(all.Events, evs...)
				return res.Msg.GetNextPageToken(), nil
			})
			if err != nil {
				return err
			}
			if more {
				fmt.Fprintf(e.stderr, "nuxctl: showing the first %d events; more match (use --limit 0 for all, or narrow with --since)\n", limit)
			}
			if e.json {
				return e.printProto(all)
			}
			t := newTable(e.stdout, "INDEX", "TIME", "TYPE", "ACTOR")
			for _, ev := range all.Events {
				typ := ev.GetType()
				if ev.GetPurged() {
					typ = "(purged)"
				}
				t.row(strconv.FormatUint(ev.GetIndex(), 10), timeText(ev.GetTime()), orDash(typ), orDash(ev.GetActor()))
			}
			return t.flush()
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&types, "type", nil, "only events of this `TYPE` (repeatable)")
	f.StringVar(&actor, "actor", "", "only events by this actor (a user ID, token:<id>, or anonymous)")
	f.StringVar(&since, "since", "", "only events at or after this `TIME` (RFC 3339)")
	f.StringVar(&until, "until", "", "only events before this `TIME` (RFC 3339)")
	f.IntVar(&limit, "limit", defaultListLimit, "show at most N events; 0 shows all")
	return cmd
}

func (e *env) ledgerAppendCmd() *cobra.Command {
	var typ, data, key string
	cmd := &cobra.Command{
		Use:   "append --type custom.x [--data '{json}'] [--idempotency-key K]",
		Short: "append a custom event",
		Long: `Append a custom event to the org's log. The data is a JSON object, stored
as RFC 8785 canonical JSON. A retry with the same idempotency key returns
the first append's index instead of appending again.`,
		Args: nargs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "type"); err != nil {
				return err
			}
			var st structpb.Struct
			if err := protojson.Unmarshal([]byte(data), &st); err != nil {
				return usagef(pathOf(cmd), "--data is not a JSON object: %v", err)
			}
			c, err := e.connect()
			if err != nil {
				return err
			}
			res, err := c.Ledger.AppendEvents(e.ctx, connect.NewRequest(&nuxariv1.AppendEventsRequest{
				Events: []*nuxariv1.NewEvent{{Type: typ, Data: &st, IdempotencyKey: key}},
			}))
			if err != nil {
				return err
			}
			if e.json {
				return e.printProto(res.Msg)
			}
			if len(res.Msg.GetEvents()) != 1 {
				return fmt.Errorf("the server acknowledged %d events, not 1", len(res.Msg.GetEvents()))
			}
			a := res.Msg.GetEvents()[0]
			if a.GetDuplicate() {
				fmt.Fprintf(e.stdout, "Already appended as event %d (the idempotency key matched an earlier append).\n", a.GetIndex())
			} else {
				fmt.Fprintf(e.stdout, "Appended event %d at %s.\n", a.GetIndex(), timeText(a.GetTime()))
			}
			return fields(e.stdout,
				"Leaf hash", b64(a.GetLeafHash()),
				"Checkpoint size", strconv.FormatUint(res.Msg.GetCheckpoint().GetSize(), 10),
			)
		},
	}
	f := cmd.Flags()
	f.StringVar(&typ, "type", "", `event type: "custom." and 1 to 120 of [A-Za-z0-9._-]`)
	f.StringVar(&data, "data", "{}", "the event's data, a JSON object")
	f.StringVar(&key, "idempotency-key", "", "idempotency key: up to 128 of [A-Za-z0-9._:-]")
	return cmd
}

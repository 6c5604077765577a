package cli

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
)

// jsonOptions is how --json prints API messages: the proto3 JSON mapping
// with the proto field names (snake_case, like every other JSON nuxctl
// writes) and every field, set or not.
var jsonOptions = protojson.MarshalOptions{Multiline: true, Indent: "  ", EmitDefaultValues: true, UseProtoNames: true}

// printProto prints m as protojson (for --json).
func (e *env) printProto(m proto.Message) error {
	b, err := jsonOptions.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", b)
	return err
}

// printJSON prints v as indented JSON (for --json).
func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table prints aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

// header is the first row.
func (t *table) header(cols ...string) { t.row(cols...) }

func (t *table) row(cols ...string) {
	for i, c := range cols {
		cols[i] = printable(c)
	}
	fmt.Fprintln(t.tw, strings.Join(cols, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// fields prints "key  value" lines with aligned values.
func fields(w io.Writer, kv ...string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[i], printable(kv[i+1]))
	}
	return tw.Flush()
}

// printable replaces control characters (a tab would break the columns;
// escapes could drive the terminal) in server-supplied text.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}

// Roles, as written on the command line.
var roleNames = map[string]nuxariv1.Role{
	"owner":     nuxariv1.Role_ROLE_OWNER,
	"admin":     nuxariv1.Role_ROLE_ADMIN,
	"approver":  nuxariv1.Role_ROLE_APPROVER,
	"requester": nuxariv1.Role_ROLE_REQUESTER,
	"auditor":   nuxariv1.Role_ROLE_AUDITOR,
	"readonly":  nuxariv1.Role_ROLE_READONLY,
}

const roleList = "owner|admin|approver|requester|auditor|readonly"

// parseRole parses a lower-case role name.
func parseRole(cmd, s string) (nuxariv1.Role, error) {
	r, ok := roleNames[s]
	if !ok {
		return 0, usagef(cmd, "unknown role %q: use one of %s", s, roleList)
	}
	return r, nil
}

// roleName is the lower-case name of r.
func roleName(r nuxariv1.Role) string {
	for n, v := range roleNames {
		if v == r {
			return n
		}
	}
	return strings.ToLower(strings.TrimPrefix(r.String(), "ROLE_"))
}

func timeText(t *timestamppb.Timestamp) string {
	if t == nil {
		return "-"
	}
	return t.AsTime().UTC().Format(time.RFC3339)
}

func durationText(d *durationpb.Duration) string {
	if d == nil {
		return "-"
	}
	v := d.AsDuration()
	if v%(24*time.Hour) == 0 {
		return fmt.Sprintf("%s (%d days)", v, v/(24*time.Hour))
	}
	return v.String()
}

func b64(b []byte) string {
	if len(b) == 0 {
		return "-"
	}
	return base64.StdEncoding.EncodeToString(b)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneCmd is a command that takes one ID, makes one call with it and
// prints the message the call returns: as JSON with --json, else by text.
func oneCmd[M proto.Message](e *env, use, short, long string, call func(c *clients, id string) (M, error), text func(M) error) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Long: long,
		Args:              nargs(1, 1),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.connect()
			if err != nil {
				return err
			}
			m, err := call(c, args[0])
			if err != nil {
				return err
			}
			if e.json {
				return e.printProto(m)
			}
			return text(m)
		},
	}
}

package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/nuxari/nuxari/ledger/leaf"
	"github.com/nuxari/nuxari/ledger/verify"
	"github.com/spf13/cobra"
)

// maxBundleSize bounds a proof bundle file.
const maxBundleSize = 16 << 20

// verifyCmd checks a proof bundle or an evidence package with no network
// access: it never builds a client, so --server, --token and stored
// credentials are not used.
func (e *env) verifyCmd() *cobra.Command {
	var key, origin, org, logName, signingKey string
	cmd := &cobra.Command{
		Use:   "verify FILE --key VKEY (--origin ORIGIN | --org ID [--log-name nuxari]) [--signing-key PEM]",
		Short: "verify a proof bundle, a tlog-proof or an evidence package offline against pinned keys",
		Long: `Verify, offline, a proof written by 'nuxctl ledger prove' (a JSON proof
bundle, or a C2SP tlog-proof that carries its leaf; told apart by their
content), or an evidence package (a zip, from 'nuxctl evidence download';
it also needs the pinned manifest signing key, --signing-key). The
verifier key and origin are PINNED on the command line (take them from
'nuxctl org get' once, or from your auditor's records); the ones inside the
file are never trusted, only compared. It checks, in order:

  verifier_key   the bundle names the pinned key
  origin         the bundle names the pinned origin and its org
  checkpoint     the signed note verifies with the pinned key and origin
  tree_size      the checkpoint's size is the bundle's, and holds the index
  leaf_hash      the leaf bytes hash to the leaf hash (RFC 6962)
  leaf_position  the leaf names the bundle's org and index
  inclusion      the inclusion proof leads to the checkpoint's root
  consistency    (if present) the checkpoint extends the earlier one

and exits 1 naming the first failure. A tlog-proof names no key, org or
leaf hash: its checkpoint is checked against the pins, its leaf hashed,
and its org taken from the pinned origin (or --org). A package's checks
are listed in docs/evidence-package.md. Once they pass, every access decision in the
package is decided again from the policy texts in it and compared with
what was recorded: a disagreement exits 1 too, and a decision whose
policy text is not in the package is reported as not replayable.`,
		Args: nargs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "key"); err != nil {
				return err
			}
			pins := Pins{VerifierKey: key, Origin: origin, Org: org}
			switch {
			case origin == "" && org == "":
				return usagef(pathOf(cmd), "give the pinned origin: --origin ORIGIN, or --org ID [--log-name NAME]")
			case origin == "":
				if err := leaf.ValidateOrg(org); err != nil {
					return usagef(pathOf(cmd), "--org: %v", err)
				}
				pins.Origin = verify.Origin(logName, org)
			case org != "" && !strings.HasSuffix(origin, "/orgs/"+org):
				return usagef(pathOf(cmd), "--origin %q is not an origin of --org %q", origin, org)
			}
			file := args[0]
			if isZip(file) {
				return verifyPackage(e, file, key, pins.Origin, signingKey)
			}
			data, err := readLimited(file, maxBundleSize)
			if err != nil {
				return err
			}
			var r *VerifyResult
			if isTlogProof(data) {
				r = VerifyTlogProof(file, data, pins)
			} else {
				r = VerifyBundle(file, data, pins)
			}
			if e.json {
				if err := e.printJSON(r); err != nil {
					return err
				}
			} else {
				printVerify(e, r)
			}
			if r.Failure != nil {
				fmt.Fprintf(e.stderr, "nuxctl: verify %s: %s: %s\n", file, r.Failure.Check, r.Failure.Detail)
				return errSilent
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&key, "key", "", "the log's pinned note verifier key")
	f.StringVar(&origin, "origin", "", "the pinned checkpoint origin, e.g. nuxari/orgs/acme")
	f.StringVar(&org, "org", "", "the pinned org ID; with --log-name it gives the origin")
	f.StringVar(&logName, "log-name", verify.DefaultLogName, "the log's name, to derive the origin from --org")
	f.StringVar(&signingKey, "signing-key", "", "evidence packages: the pinned PEM public key `FILE` that signs manifests")
	_ = cmd.MarkFlagFilename("signing-key")
	return cmd
}

func printVerify(e *env, r *VerifyResult) {
	w := e.stdout
	if r.Format == FormatTlogProof {
		fmt.Fprintf(w, "tlog-proof %s\n", printable(r.File))
	} else {
		fmt.Fprintf(w, "Proof bundle %s\n", printable(r.File))
	}
	t := newTable(w, "STATUS", "CHECK", "DETAIL")
	for _, c := range r.Checks {
		status := "ok"
		if !c.OK {
			status = "FAIL"
		}
		t.row(status, strings.ReplaceAll(c.Check, "_", " "), c.Detail)
	}
	t.flush()
	if !r.Verified {
		fmt.Fprintln(w, "NOT VERIFIED")
		return
	}
	fmt.Fprintf(w, "VERIFIED: event %d is in the log %s at tree size %d.\n", *r.Index, printable(r.LogOrigin), r.TreeSize)
	if ev := r.Event; ev != nil {
		kv := []string{"  Time", ev.Time, "  Type", orDash(ev.Type), "  Actor", orDash(ev.Actor)}
		if ev.Subject != "" {
			kv = append(kv, "  Subject", ev.Subject)
		}
		fields(w, kv...)
	}
}

// readLimited reads a file of at most limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than a proof bundle may be (%d bytes)", path, limit)
	}
	return b, nil
}

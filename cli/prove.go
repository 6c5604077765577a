package cli

import (
	"fmt"
	"strings"

	"connectrpc.com/connect"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/spf13/cobra"
)

func (e *env) ledgerProveCmd() *cobra.Command {
	var size, from uint64
	var format string
	cmd := &cobra.Command{
		Use:   "prove INDEX [--size N] [--consistency-from SIZE] --out FILE [--format json|tlog-proof] [--force]",
		Short: "write a self-contained proof bundle for one event",
		Long: `Fetch the event at INDEX, its inclusion proof and the signed checkpoint
(the latest, or the one of tree size N), and write them as one
self-contained JSON proof bundle to FILE. With --consistency-from, the
bundle also proves that the checkpoint extends the earlier checkpoint of
that size (one you published or received before). Check the bundle offline
with 'nuxctl verify FILE --key VKEY --origin ORIGIN'.

With --format tlog-proof, or a FILE whose name ends in .tlog-proof, the
proof is written as a C2SP tlog-proof (https://c2sp.org/tlog-proof)
instead, which any tlog-proof tool reads: the leaf in its "extra" line,
the index, the inclusion proof and the checkpoint. It holds no
consistency proof, and carries leaves of up to 49,146 bytes.`,
		Args:              nargs(1, 1),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	cmd.Flags().Uint64Var(&size, "size", 0, "prove against the checkpoint of this tree size (default: the latest)")
	cmd.Flags().Uint64Var(&from, "consistency-from", 0, "also prove consistency from the earlier checkpoint of this size")
	cmd.Flags().StringVar(&format, "format", "", "the proof's format: json (the default) or tlog-proof (the default for a FILE ending in .tlog-proof)")
	out := outFlags(cmd, "write the proof bundle to this `FILE` (required)", 0o644)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := required(cmd, "out"); err != nil {
			return err
		}
		index, err := parseIndex(pathOf(cmd), "INDEX", args[0])
		if err != nil {
			return err
		}
		if cmd.Flags().Changed("consistency-from") && from == 0 {
			return usagef(pathOf(cmd), "--consistency-from must be a tree size of at least 1")
		}
		switch {
		case format == "" && strings.HasSuffix(out.path, TlogProofExt):
			format = FormatTlogProof
		case format == "":
			format = FormatJSON
		case format != FormatJSON && format != FormatTlogProof:
			return usagef(pathOf(cmd), "--format must be %s or %s", FormatJSON, FormatTlogProof)
		}
		if format == FormatTlogProof && from != 0 {
			return usagef(pathOf(cmd), "a tlog-proof holds no consistency proof: drop --consistency-from, or write the JSON bundle (--format json)")
		}
		if err := out.check(); err != nil {
			return err
		}
		c, err := e.connect()
		if err != nil {
			return err
		}
		b, err := fetchBundle(e, c, index, size, from)
		if err != nil {
			return err
		}
		// Check the proof against the key and origin the server named, to
		// catch a broken server before writing a file that fails later. This
		// is no verification: only pinned values give that.
		pins := Pins{VerifierKey: b.VerifierKey, Origin: b.LogOrigin}
		var data []byte
		var r *VerifyResult
		if format == FormatTlogProof {
			if data, err = MarshalTlogProof(b); err != nil {
				return err
			}
			pins.Org = b.Org
			r = VerifyTlogProof(out.path, data, pins)
		} else {
			if data, err = MarshalBundle(b); err != nil {
				return err
			}
			r = VerifyBundle(out.path, data, pins)
		}
		if r.Failure != nil {
			return fmt.Errorf("the server's proof does not check (%s: %s); nothing written", r.Failure.Check, r.Failure.Detail)
		}
		if err := out.writeBytes(data); err != nil {
			return err
		}
		if e.json {
			return e.printJSON(struct {
				File        string `json:"file"`
				Format      string `json:"format"`
				Org         string `json:"org"`
				LogOrigin   string `json:"log_origin"`
				VerifierKey string `json:"verifier_key"`
				Index       uint64 `json:"index"`
				TreeSize    uint64 `json:"tree_size"`
				FromSize    uint64 `json:"consistency_from,omitempty"`
			}{out.path, format, b.Org, b.LogOrigin, b.VerifierKey, b.Index, b.TreeSize, from})
		}
		what := "the proof"
		if format == FormatTlogProof {
			what = "a tlog-proof"
		}
		fmt.Fprintf(e.stdout, "Wrote %s of event %d in tree size %d to %s.\n", what, b.Index, b.TreeSize, out.path)
		if from != 0 {
			fmt.Fprintf(e.stdout, "It also proves consistency from tree size %d.\n", from)
		}
		fmt.Fprintf(e.stdout, "Verify it offline with the pinned key and origin:\n  nuxctl verify %s --key '%s' --origin '%s'\n", out.path, printable(b.VerifierKey), printable(b.LogOrigin))
		return nil
	}
	return cmd
}

// fetchBundle gathers a bundle from the server. Every piece is fetched for
// one tree size, fixed first, so that later appends cannot mix sizes.
func fetchBundle(e *env, c *clients, index, size, from uint64) (*Bundle, error) {
	who, err := c.Auth.WhoAmI(e.ctx, connect.NewRequest(&nuxariv1.WhoAmIRequest{}))
	if err != nil {
		return nil, err
	}
	cpRes, err := c.Ledger.GetCheckpoint(e.ctx, connect.NewRequest(&nuxariv1.GetCheckpointRequest{Size: size}))
	if err != nil {
		return nil, err
	}
	cp := cpRes.Msg.GetCheckpoint()
	if index >= cp.GetSize() {
		return nil, fmt.Errorf("event %d is not in the tree of size %d: wait for a later checkpoint or pass --size", index, cp.GetSize())
	}
	if from > cp.GetSize() {
		return nil, fmt.Errorf("--consistency-from %d is larger than the tree size %d", from, cp.GetSize())
	}
	incl, err := c.Ledger.GetInclusionProof(e.ctx, connect.NewRequest(&nuxariv1.GetInclusionProofRequest{Index: index, TreeSize: cp.GetSize()}))
	if err != nil {
		return nil, err
	}
	if incl.Msg.GetTreeSize() != cp.GetSize() {
		return nil, fmt.Errorf("asked for an inclusion proof in tree size %d, got one for %d", cp.GetSize(), incl.Msg.GetTreeSize())
	}
	ev, err := c.Ledger.GetEvent(e.ctx, connect.NewRequest(&nuxariv1.GetEventRequest{Index: index}))
	if err != nil {
		return nil, err
	}
	if ev.Msg.GetEvent().GetPurged() {
		return nil, fmt.Errorf("event %d was purged after the retention window: there are no leaf bytes to prove", index)
	}
	b := &Bundle{
		Version:     BundleVersion,
		Org:         who.Msg.GetPrincipal().GetOrgId(),
		LogOrigin:   cp.GetOrigin(),
		VerifierKey: cpRes.Msg.GetVerifierKey(),
		Index:       index,
		Leaf:        ev.Msg.GetEvent().GetLeaf(),
		LeafHash:    ev.Msg.GetEvent().GetLeafHash(),
		TreeSize:    cp.GetSize(),
		Proof:       incl.Msg.GetHashes(),
		Checkpoint:  cp.GetNote(),
	}
	if from != 0 {
		cons, err := c.Ledger.GetConsistencyProof(e.ctx, connect.NewRequest(&nuxariv1.GetConsistencyProofRequest{Size1: from, Size2: cp.GetSize()}))
		if err != nil {
			return nil, err
		}
		if cons.Msg.GetSize2() != cp.GetSize() {
			return nil, fmt.Errorf("asked for a consistency proof to tree size %d, got one to %d", cp.GetSize(), cons.Msg.GetSize2())
		}
		b.Consistency = &BundleConsistency{
			FromSize:       from,
			FromCheckpoint: cons.Msg.GetCheckpoint1().GetNote(),
			Proof:          cons.Msg.GetHashes(),
		}
	}
	return b, nil
}

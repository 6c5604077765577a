package archive_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nuxari/nuxari/evidence/archive"
	"github.com/nuxari/nuxari/internal/strictjson"
	"github.com/nuxari/nuxari/ledger/leaf"
	"github.com/nuxari/nuxari/ledger/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"golang.org/x/mod/sumdb/note"
)

// How a tampered package is finished.
const (
	asIs     = iota // bytes changed, nothing else
	outsider        // manifest hashes fixed; the signature no longer holds
	insider         // manifest hashes fixed and re-signed with the real key
)

// tamperBase is the package the tamper suite changes: a time range and two
// types of a 300-leaf log, two consistency proofs and two blobs.
func tamperBase(t *testing.T) (*fixture, []entry) {
	fx := newFixture(t, 301)
	sc := archive.Scope{StartTime: baseTime.Add(10 * time.Millisecond), EndTime: baseTime.Add(250 * time.Millisecond), Types: []string{"login", "grant.created"}}
	b := fx.build(t, spec{treeSize: 300, scope: sc, selected: inScope(t, sc), consistency: []uint64{50, 299},
		blobs: [][]byte{[]byte("evidence one"), []byte("evidence two")}})
	if _, err := verifyBytes(b, fx.pins); err != nil {
		t.Fatal(err)
	}
	return fx, unpack(t, b)
}

func flipByte(b []byte) []byte {
	out := bytes.Clone(b)
	out[len(out)/2] ^= 0x01
	return out
}

// editLines applies f to the lines of events.jsonl.
func editLines(es []entry, f func(ls [][]byte) [][]byte) []entry {
	var ls [][]byte
	for _, l := range lines(es[find(es, archive.FileEvents)].data) {
		ls = append(ls, bytes.Clone(l))
	}
	return set(es, archive.FileEvents, joinLines(f(ls)))
}

type proofFile struct {
	TreeSize uint64         `json:"tree_size"`
	Nodes    []archive.Node `json:"nodes"`
}

func editProof(tb testing.TB, es []entry, f func(p *proofFile)) []entry {
	tb.Helper()
	var p proofFile
	if err := json.Unmarshal(get(tb, es, archive.FileProof), &p); err != nil {
		tb.Fatal(err)
	}
	f(&p)
	b, err := json.Marshal(p)
	if err != nil {
		tb.Fatal(err)
	}
	return set(es, archive.FileProof, b)
}

type consistencyFile struct {
	Size1       uint64   `json:"size1"`
	Checkpoint1 string   `json:"checkpoint1"`
	Proof       [][]byte `json:"proof"`
}

func editConsistency(tb testing.TB, es []entry, name string, f func(c *consistencyFile)) []entry {
	tb.Helper()
	var c consistencyFile
	if err := json.Unmarshal(get(tb, es, name), &c); err != nil {
		tb.Fatal(err)
	}
	f(&c)
	b, err := json.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	return set(es, name, b)
}

func rename(es []entry, from, to string) []entry {
	out := slices.Clone(es)
	out[find(out, from)].name = to
	return out
}

func blobNames(es []entry) []string {
	var out []string
	for _, e := range es {
		if strings.HasPrefix(e.name, archive.DirBlobs) {
			out = append(out, e.name)
		}
	}
	return out
}

func TestTamper(t *testing.T) {
	fx, base := tamperBase(t)
	l := fx.log
	attacker := newSigner(t, 2)
	otherLog, otherVKey := newLogKey(t, 7, testLogName)
	root300 := l.root(300)
	blob0 := blobNames(base)[0]
	// The selected indices start 11, 12, 14, 15, 17, ... and end 248, 249.
	type tcase struct {
		name   string
		mode   int
		mutate func(es []entry) []entry
		check  string
		file   string
		substr string
		line   int64 // 0: not checked
		index  int64
	}
	cases := []tcase{
		// One flipped byte in a listed file fails its hash; in the
		// manifest or its signature, the signature.
		{"flip events.jsonl", asIs, func(es []entry) []entry { return set(es, archive.FileEvents, flipByte(get(t, es, archive.FileEvents))) },
			archive.CheckFiles, archive.FileEvents, "SHA-256", 0, 0},
		{"flip proof.json", asIs, func(es []entry) []entry { return set(es, archive.FileProof, flipByte(get(t, es, archive.FileProof))) },
			archive.CheckFiles, archive.FileProof, "SHA-256", 0, 0},
		{"flip checkpoint.txt", asIs, func(es []entry) []entry {
			return set(es, archive.FileCheckpoint, flipByte(get(t, es, archive.FileCheckpoint)))
		}, archive.CheckFiles, archive.FileCheckpoint, "SHA-256", 0, 0},
		{"flip consistency", asIs, func(es []entry) []entry {
			return set(es, "consistency/50.json", flipByte(get(t, es, "consistency/50.json")))
		}, archive.CheckFiles, "consistency/50.json", "SHA-256", 0, 0},
		{"flip blob", asIs, func(es []entry) []entry { return set(es, blob0, flipByte(get(t, es, blob0))) },
			archive.CheckFiles, blob0, "SHA-256", 0, 0},
		{"flip log-key.txt", asIs, func(es []entry) []entry { return set(es, archive.FileLogKey, flipByte(get(t, es, archive.FileLogKey))) },
			archive.CheckFiles, archive.FileLogKey, "SHA-256", 0, 0},
		{"flip signing-key.pub", asIs, func(es []entry) []entry {
			return set(es, archive.FileSigningKey, flipByte(get(t, es, archive.FileSigningKey)))
		}, archive.CheckFiles, archive.FileSigningKey, "SHA-256", 0, 0},
		{"flip manifest.json", asIs, func(es []entry) []entry {
			return set(es, archive.FileManifest, flipByte(get(t, es, archive.FileManifest)))
		}, archive.CheckSignature, archive.FileSignature, "not a valid signature", 0, 0},
		{"flip manifest.sig", asIs, func(es []entry) []entry {
			return set(es, archive.FileSignature, flipByte(get(t, es, archive.FileSignature)))
		}, archive.CheckSignature, archive.FileSignature, "", 0, 0},
		{"truncate events.jsonl", asIs, func(es []entry) []entry {
			ev := get(t, es, archive.FileEvents)
			return set(es, archive.FileEvents, ev[:len(ev)-1])
		}, archive.CheckFiles, archive.FileEvents, "manifest.json gives", 0, 0},

		// Consistent rewrites by someone without the signing key: the
		// manifest hashes are fixed, so the signature fails.
		{"outsider drops an event", outsider, func(es []entry) []entry {
			return editLines(es, func(ls [][]byte) [][]byte { return slices.Delete(ls, 5, 6) })
		}, archive.CheckSignature, archive.FileSignature, "not a valid signature", 0, 0},
		{"outsider duplicates an event", outsider, func(es []entry) []entry {
			return editLines(es, func(ls [][]byte) [][]byte { return slices.Insert(ls, 5, ls[5]) })
		}, archive.CheckSignature, archive.FileSignature, "not a valid signature", 0, 0},
		{"outsider reorders events", outsider, func(es []entry) []entry {
			return editLines(es, func(ls [][]byte) [][]byte { ls[3], ls[4] = ls[4], ls[3]; return ls })
		}, archive.CheckSignature, archive.FileSignature, "not a valid signature", 0, 0},
		{"outsider swaps in another org's checkpoint", outsider, func(es []entry) []entry {
			return set(es, archive.FileCheckpoint, signCheckpoint(t, verify.Origin(testLogName, "other"), 300, root300, l.signer))
		}, archive.CheckSignature, archive.FileSignature, "not a valid signature", 0, 0},
		{"outsider swaps in a checkpoint of another key", outsider, func(es []entry) []entry {
			return set(es, archive.FileCheckpoint, signCheckpoint(t, l.origin, 300, root300, otherLog))
		}, archive.CheckSignature, archive.FileSignature, "not a valid signature", 0, 0},
		{"outsider adds a listed blob", outsider, func(es []entry) []entry {
			return set(es, archive.DirBlobs+"2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", []byte("foo"))
		}, archive.CheckSignature, archive.FileSignature, "not a valid signature", 0, 0},
		{"outsider re-signs with another key", asIs, func(es []entry) []entry { return resign(t, es, attacker) },
			archive.CheckSignature, archive.FileSignature, "pinned signing key", 0, 0},
		{"outsider replaces the signing key and re-signs", asIs, func(es []entry) []entry {
			pub, _ := attacker.PublicKey()
			pem, _ := cryptoutils.MarshalPublicKeyToPEM(pub)
			return resign(t, fixHashes(t, set(es, archive.FileSigningKey, pem)), attacker)
		}, archive.CheckSignature, archive.FileSignature, "pinned signing key", 0, 0},

		// Rewrites by someone holding the signing key (Nuxari itself): the
		// log's checks still catch them.
		{"insider drops an event", insider, func(es []entry) []entry {
			return fixSummary(t, editLines(es, func(ls [][]byte) [][]byte { return slices.Delete(ls, 5, 6) }))
		}, archive.CheckProof, archive.FileProof, "node 5: covers [19, 20), but the next subtree without selected events is [18, 20): events were added or removed", 0, 0},
		{"insider duplicates an event", insider, func(es []entry) []entry {
			return editLines(es, func(ls [][]byte) [][]byte { return slices.Insert(ls, 5, ls[5]) })
		}, archive.CheckEvents, archive.FileEvents, "index 18 repeats the previous event's index", 7, 18},
		{"insider reorders events", insider, func(es []entry) []entry {
			return editLines(es, func(ls [][]byte) [][]byte { ls[3], ls[4] = ls[4], ls[3]; return ls })
		}, archive.CheckEvents, archive.FileEvents, "index 15 follows index 17 (events out of order)", 5, 15},
		{"insider alters an event", insider, func(es []entry) []entry {
			return editLines(es, func(ls [][]byte) [][]byte {
				lf, _ := leaf.Parse(ls[2])
				lf.Event = []byte(strings.Replace(string(lf.Event), "user-14", "user-15", 1))
				ls[2] = leaf.Append(nil, &lf)
				return ls
			})
		}, archive.CheckProof, archive.FileProof, "the checkpoint's root is", 0, 0},
		{"insider adds an event of another org", insider, func(es []entry) []entry {
			evil := leaf.Append(nil, &leaf.Leaf{Org: "evil", Index: 13, Time: baseTime.Add(13 * time.Millisecond), Event: []byte(`{"type":"login"}`)})
			return editLines(es, func(ls [][]byte) [][]byte { return slices.Insert(ls, 2, evil) })
		}, archive.CheckEvents, archive.FileEvents, `names org "evil"`, 3, 13},
		{"insider adds an event of a type out of scope", insider, func(es []entry) []entry {
			return editLines(es, func(ls [][]byte) [][]byte { return slices.Insert(ls, 2, l.leaves[13]) })
		}, archive.CheckEvents, archive.FileEvents, `event type "grant.revoked" is not in the scope types ["login", "grant.created"]`, 3, 13},
		{"insider adds an event before the scope", insider, func(es []entry) []entry {
			return editLines(es, func(ls [][]byte) [][]byte { return slices.Insert(ls, 0, l.leaves[5]) })
		}, archive.CheckEvents, archive.FileEvents, "is before the scope start", 1, 5},
		{"insider adds an event after the scope", insider, func(es []entry) []entry {
			return editLines(es, func(ls [][]byte) [][]byte { return append(ls, l.leaves[251]) })
		}, archive.CheckEvents, archive.FileEvents, "is not before the scope end", 161, 251},
		{"insider adds an event beyond the tree", insider, func(es []entry) []entry {
			return editLines(es, func(ls [][]byte) [][]byte { return append(ls, l.leaves[300]) })
		}, archive.CheckEvents, archive.FileEvents, "index 300 is not below the tree size 300", 161, 300},
		{"insider writes a malformed leaf", insider, func(es []entry) []entry {
			return editLines(es, func(ls [][]byte) [][]byte { ls[1] = []byte(`{"event":{}}`); return ls })
		}, archive.CheckEvents, archive.FileEvents, "line 2: not a canonical leaf", 2, -1},
		{"insider writes an empty line", insider, func(es []entry) []entry {
			return editLines(es, func(ls [][]byte) [][]byte { return slices.Insert(ls, 3, []byte{}) })
		}, archive.CheckEvents, archive.FileEvents, "line 4: not a canonical leaf", 4, -1},
		{"insider drops the last newline", insider, func(es []entry) []entry {
			ev := get(t, es, archive.FileEvents)
			return set(es, archive.FileEvents, ev[:len(ev)-1])
		}, archive.CheckEvents, archive.FileEvents, "line 160: the last record does not end with a newline", 160, -1},
		{"insider miscounts the events", insider, func(es []entry) []entry {
			m := parseManifest(t, es)
			m.Events.Count++
			return setManifest(t, es, m)
		}, archive.CheckEvents, archive.FileEvents, "holds 160 events, indices 11 to 249", 0, 0},
		{"insider swaps in another org's checkpoint", insider, func(es []entry) []entry {
			return set(es, archive.FileCheckpoint, signCheckpoint(t, verify.Origin(testLogName, "other"), 300, root300, l.signer))
		}, archive.CheckCheckpoint, archive.FileCheckpoint, `not a checkpoint of the pinned origin "nuxari-test/orgs/acme"`, 0, 0},
		{"insider swaps in a checkpoint of another key", insider, func(es []entry) []entry {
			return set(es, archive.FileCheckpoint, signCheckpoint(t, l.origin, 300, root300, otherLog))
		}, archive.CheckCheckpoint, archive.FileCheckpoint, "not signed by the pinned log key", 0, 0},
		{"insider swaps in a checkpoint of another size", insider, func(es []entry) []entry {
			return set(es, archive.FileCheckpoint, l.checkpoint(t, 299))
		}, archive.CheckCheckpoint, archive.FileCheckpoint, "tree size 299, manifest.json gives 300", 0, 0},
		{"insider adds a proof node", insider, func(es []entry) []entry {
			return editProof(t, es, func(p *proofFile) { p.Nodes = append(p.Nodes, p.Nodes[0]) })
		}, archive.CheckProof, archive.FileProof, "extra node [0, 8) after the whole tree is covered", 0, 0},
		{"insider drops a proof node", insider, func(es []entry) []entry {
			return editProof(t, es, func(p *proofFile) { p.Nodes = p.Nodes[:len(p.Nodes)-1] })
		}, archive.CheckProof, archive.FileProof, "missing: the proof ends where a node for [256, 300) is needed", 0, 0},
		{"insider moves a proof node", insider, func(es []entry) []entry {
			return editProof(t, es, func(p *proofFile) { p.Nodes[0].End = 9 })
		}, archive.CheckProof, archive.FileProof, "node 0: covers [0, 9), but the next subtree without selected events is [0, 8)", 0, 0},
		{"insider changes a proof hash", insider, func(es []entry) []entry {
			return editProof(t, es, func(p *proofFile) { p.Nodes[1].Hash = flipByte(p.Nodes[1].Hash) })
		}, archive.CheckProof, archive.FileProof, "the checkpoint's root is", 0, 0},
		{"insider changes the proof's tree size", insider, func(es []entry) []entry {
			return editProof(t, es, func(p *proofFile) { p.TreeSize = 299 })
		}, archive.CheckProof, archive.FileProof, "tree_size 299, manifest.json gives 300", 0, 0},
		{"insider changes a consistency proof", insider, func(es []entry) []entry {
			return editConsistency(t, es, "consistency/50.json", func(c *consistencyFile) { c.Proof[0] = flipByte(c.Proof[0]) })
		}, archive.CheckConsistency, "consistency/50.json", "does not extend the checkpoint of size 50", 0, 0},
		{"insider uses a consistency checkpoint of another key", insider, func(es []entry) []entry {
			return editConsistency(t, es, "consistency/50.json", func(c *consistencyFile) {
				c.Checkpoint1 = string(signCheckpoint(t, l.origin, 50, l.root(50), otherLog))
			})
		}, archive.CheckConsistency, "consistency/50.json", "checkpoint1 does not verify", 0, 0},
		{"insider renames a consistency proof", insider, func(es []entry) []entry {
			return rename(es, "consistency/50.json", "consistency/51.json")
		}, archive.CheckConsistency, "consistency/51.json", "holds a proof from size 50, its name says 51", 0, 0},
		{"insider renames a blob", insider, func(es []entry) []entry {
			return rename(es, blob0, archive.DirBlobs+strings.Repeat("0", 64))
		}, archive.CheckBlobs, archive.DirBlobs + strings.Repeat("0", 64), "content SHA-256 is", 0, 0},
		{"insider replaces the log key", insider, func(es []entry) []entry {
			return set(es, archive.FileLogKey, []byte(otherVKey+"\n"))
		}, archive.CheckLogKey, archive.FileLogKey, "is not the pinned log key", 0, 0},
		{"insider replaces the signing key file", insider, func(es []entry) []entry {
			pub, _ := attacker.PublicKey()
			pem, _ := cryptoutils.MarshalPublicKeyToPEM(pub)
			return set(es, archive.FileSigningKey, pem)
		}, archive.CheckSigningKey, archive.FileSigningKey, "not the pinned signing key", 0, 0},
		{"insider names another origin", insider, func(es []entry) []entry {
			m := parseManifest(t, es)
			m.LogOrigin = verify.Origin(testLogName, "other")
			return setManifest(t, es, m)
		}, archive.CheckManifest, archive.FileManifest, "is not the pinned origin", 0, 0},
		{"insider names another org", insider, func(es []entry) []entry {
			m := parseManifest(t, es)
			m.Org = "other"
			return setManifest(t, es, m)
		}, archive.CheckManifest, archive.FileManifest, `is not the log of org "other"`, 0, 0},
		{"insider writes manifest version 2", insider, func(es []entry) []entry {
			m := parseManifest(t, es)
			m.Version = 2
			return setManifest(t, es, m)
		}, archive.CheckManifest, archive.FileManifest, "version 2, want 1", 0, 0},
		{"insider adds a manifest member", asIs, func(es []entry) []entry {
			es = fixHashes(t, es)
			m := bytes.Replace(get(t, es, archive.FileManifest), []byte(`"version": 1,`), []byte(`"version": 1, "trust_me": true,`), 1)
			return resign(t, set(es, archive.FileManifest, m), fx.signer)
		}, archive.CheckManifest, archive.FileManifest, "malformed", 0, 0},
		{"insider adds an unlisted blob", asIs, func(es []entry) []entry {
			es = set(es, archive.DirBlobs+"2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", []byte("foo"))
			return resign(t, es, fx.signer)
		}, archive.CheckFiles, archive.DirBlobs + "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", "not listed in manifest.json", 0, 0},
		{"insider removes a listed blob", asIs, func(es []entry) []entry {
			return resign(t, remove(es, blob0), fx.signer)
		}, archive.CheckFiles, blob0, "listed in manifest.json but not in the package", 0, 0},

		// The zip itself.
		{"path traversal", asIs, func(es []entry) []entry { return set(es, "../evil", []byte("x")) },
			archive.CheckZip, "", `entry name "../evil" is not a safe relative path (path traversal)`, 0, 0},
		{"path traversal inside", asIs, func(es []entry) []entry { return set(es, "blobs/../../evil", []byte("x")) },
			archive.CheckZip, "", "path traversal", 0, 0},
		{"absolute path", asIs, func(es []entry) []entry { return set(es, "/etc/passwd", []byte("x")) },
			archive.CheckZip, "", "path traversal", 0, 0},
		{"backslash path", asIs, func(es []entry) []entry { return set(es, `..\evil`, []byte("x")) },
			archive.CheckZip, "", "path traversal", 0, 0},
		{"unexpected entry", asIs, func(es []entry) []entry { return set(es, "extra.txt", []byte("x")) },
			archive.CheckZip, "extra.txt", "unexpected entry", 0, 0},
		{"directory entry", asIs, func(es []entry) []entry { return set(es, "blobs/", nil) },
			archive.CheckZip, "blobs/", "unexpected entry: a directory", 0, 0},
		{"blob name not hex", asIs, func(es []entry) []entry { return set(es, "blobs/"+strings.Repeat("A", 64), nil) },
			archive.CheckZip, "blobs/" + strings.Repeat("A", 64), "unexpected entry", 0, 0},
		{"consistency name with a leading zero", asIs, func(es []entry) []entry { return rename(es, "consistency/50.json", "consistency/050.json") },
			archive.CheckZip, "consistency/050.json", "unexpected entry", 0, 0},
		{"duplicate entry", asIs, func(es []entry) []entry { return slices.Insert(es, 1, es[0]) },
			archive.CheckZip, archive.FileEvents, "duplicate entry", 0, 0},
		{"entries out of order", asIs, func(es []entry) []entry { n := len(es); es[n-1], es[n-2] = es[n-2], es[n-1]; return es },
			archive.CheckZip, archive.FileManifest, "out of order", 0, 0},
		{"missing signature", asIs, func(es []entry) []entry { return remove(es, archive.FileSignature) },
			archive.CheckZip, archive.FileSignature, "missing entry", 0, 0},
		{"missing checkpoint", asIs, func(es []entry) []entry { return remove(es, archive.FileCheckpoint) },
			archive.CheckZip, archive.FileCheckpoint, "missing entry", 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			es := c.mutate(slices.Clone(base))
			switch c.mode {
			case outsider:
				es = fixHashes(t, es)
			case insider:
				es = resign(t, fixHashes(t, es), fx.signer)
			}
			_, err := verifyBytes(pack(t, es), fx.pins)
			f := wantFailure(t, err, c.check, c.file, c.substr)
			if c.line != 0 && (f.Line != c.line || f.Index != c.index) {
				t.Fatalf("failure at line %d, index %d; want line %d, index %d: %v", f.Line, f.Index, c.line, c.index, err)
			}
			t.Log(err)
		})
	}
	t.Run("not a zip", func(t *testing.T) {
		b := pack(t, base)
		_, err := verifyBytes(b[:len(b)-30], fx.pins)
		wantFailure(t, err, archive.CheckZip, "", "not a zip file")
	})
}

// TestDroppedEventWithRecomputedProof: an insider who drops an event and
// recomputes the multiproof (the dropped leaf's hash becomes a node) makes
// a package that verifies. A multiproof proves what the package holds,
// not that nothing else is in scope; the report shows the gap.
func TestDroppedEventWithRecomputedProof(t *testing.T) {
	fx, base := tamperBase(t)
	before, err := verifyBytes(pack(t, base), fx.pins)
	if err != nil {
		t.Fatal(err)
	}
	var kept []uint64
	es := editLines(base, func(ls [][]byte) [][]byte {
		ls = slices.Delete(ls, 5, 6)
		for _, b := range ls {
			lf, _ := leaf.Parse(b)
			kept = append(kept, lf.Index)
		}
		return ls
	})
	nodes, err := archive.Nodes(300, slices.Values(kept), func(lo, hi uint64) ([]byte, error) { h := fx.log.subtree(lo, hi); return h[:], nil })
	if err != nil {
		t.Fatal(err)
	}
	es = editProof(t, es, func(p *proofFile) { p.Nodes = nodes })
	es = resign(t, fixHashes(t, fixSummary(t, es)), fx.signer)
	after, err := verifyBytes(pack(t, es), fx.pins)
	if err != nil {
		t.Fatal(err)
	}
	if after.Events.Count != before.Events.Count-1 || after.Gaps != before.Gaps+1 {
		t.Fatalf("before: %d events, %d gaps; after: %d events, %d gaps", before.Events.Count, before.Gaps, after.Events.Count, after.Gaps)
	}
}

// TestFailureMessage pins the form of a failure message.
func TestFailureMessage(t *testing.T) {
	for _, c := range []struct {
		f    archive.Failure
		want string
	}{
		{archive.Failure{Check: "events", File: "events.jsonl", Line: 1234, Index: 5678, Reason: "r"}, "events: events.jsonl line 1234 (leaf index 5678): r"},
		{archive.Failure{Check: "events", File: "events.jsonl", Line: 2, Index: -1, Reason: "r"}, "events: events.jsonl line 2: r"},
		{archive.Failure{Check: "files", File: "proof.json", Index: -1, Reason: "r"}, "files: proof.json: r"},
		{archive.Failure{Check: "zip", Index: -1, Reason: "r"}, "zip: r"},
	} {
		if got := c.f.Error(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.f, got, c.want)
		}
	}
}

// editText replaces the first old in the entry name by new, failing when
// there is none.
func editText(tb testing.TB, es []entry, name, old, new string) []entry {
	tb.Helper()
	b := get(tb, es, name)
	if !bytes.Contains(b, []byte(old)) {
		tb.Fatalf("%s holds no %q:\n%s", name, old, b)
	}
	return set(es, name, bytes.Replace(b, []byte(old), []byte(new), 1))
}

// TestTamperStrict: variants that a lenient JSON reader or a lax byte
// format would accept, so that two verifiers could read one signed file
// differently. Each is made by the holder of the signing key (the manifest
// is re-signed), so only the format check stands in its way.
func TestTamperStrict(t *testing.T) {
	fx, base := tamperBase(t)
	l := fx.log
	root300 := l.root(300)
	var pf proofFile
	if err := json.Unmarshal(get(t, base, archive.FileProof), &pf); err != nil {
		t.Fatal(err)
	}
	nd := pf.Nodes[0]
	node0 := fmt.Sprintf(`{"start":%d,"end":%d,"hash":"%s"}`, nd.Start, nd.End, base64.StdEncoding.EncodeToString(nd.Hash))
	bogus := base64.StdEncoding.EncodeToString(make([]byte, 32))
	m := parseManifest(t, base)
	events0 := m.Files[0]
	pem := get(t, base, archive.FileSigningKey)
	sig := get(t, base, archive.FileSignature)

	// manifest edits the text of a manifest that already lists the right
	// hashes, and re-signs it.
	manifest := func(old, new string) func(es []entry) []entry {
		return func(es []entry) []entry {
			return resign(t, editText(t, es, archive.FileManifest, old, new), fx.signer)
		}
	}
	// file edits the text of a listed file, then fixes the hashes and
	// re-signs.
	file := func(name, old, new string) func(es []entry) []entry {
		return func(es []entry) []entry {
			return resign(t, fixHashes(t, editText(t, es, name, old, new)), fx.signer)
		}
	}
	const cons = "consistency/50.json"
	cases := []struct {
		name   string
		mutate func(es []entry) []entry
		check  string
		file   string
		is     error // nil: not checked
		substr string
	}{
		// manifest.json: members in another letter case, at each level.
		{"manifest member in another case", manifest(`"version": 1`, `"Version": 1`),
			archive.CheckManifest, archive.FileManifest, strictjson.ErrCase, `"Version" is not "version"`},
		{"manifest scope member in another case", manifest(`"types": [`, `"Types": [`),
			archive.CheckManifest, archive.FileManifest, strictjson.ErrCase, `scope.Types`},
		{"manifest events member in another case", manifest(`"count": 160`, `"COUNT": 160`),
			archive.CheckManifest, archive.FileManifest, strictjson.ErrCase, `events.COUNT`},
		{"manifest files member in another case", manifest(`"sha256": "`+events0.SHA256, `"SHA256": "`+events0.SHA256),
			archive.CheckManifest, archive.FileManifest, strictjson.ErrCase, `files[0].SHA256`},
		// A member given twice: a bogus value before the real one.
		{"manifest member twice", manifest(`"tree_size": 300`, `"tree_size": 299, "tree_size": 300`),
			archive.CheckManifest, archive.FileManifest, strictjson.ErrDuplicate, `tree_size`},
		{"manifest files hash twice", manifest(`"sha256": "`+events0.SHA256, `"sha256": "`+strings.Repeat("0", 64)+`", "sha256": "`+events0.SHA256),
			archive.CheckManifest, archive.FileManifest, strictjson.ErrDuplicate, `files[0].sha256`},
		// Unknown members below the top level.
		{"manifest unknown scope member", manifest(`"scope": {`, `"scope": {"actors": ["root"],`),
			archive.CheckManifest, archive.FileManifest, strictjson.ErrUnknown, `scope.actors`},
		{"manifest unknown events member", manifest(`"count": 160`, `"count": 160, "withheld": 0`),
			archive.CheckManifest, archive.FileManifest, strictjson.ErrUnknown, `events.withheld`},
		{"manifest unknown files member", manifest(`"path": "events.jsonl"`, `"path": "events.jsonl", "mode": 420`),
			archive.CheckManifest, archive.FileManifest, strictjson.ErrUnknown, `files[0].mode`},
		// Required members, empty lists, null, numbers and times.
		{"manifest without created", manifest(`"created": "2026-03-01T13:00:00Z",`, ``),
			archive.CheckManifest, archive.FileManifest, strictjson.ErrMissing, `created`},
		{"manifest without scope", func(es []entry) []entry {
			return manifest(`"scope": {`, `"unscoped": {`)(es)
		}, archive.CheckManifest, archive.FileManifest, strictjson.ErrUnknown, `unscoped`},
		{"manifest with empty types", func(es []entry) []entry {
			m := parseManifest(t, es)
			m.Scope.Types = nil
			b, _ := json.MarshalIndent(m, "", "  ")
			b = bytes.Replace(b, []byte(`"scope": {`), []byte(`"scope": {"types": [],`), 1)
			return resign(t, set(es, archive.FileManifest, append(b, '\n')), fx.signer)
		}, archive.CheckManifest, archive.FileManifest, strictjson.ErrEmpty, `scope.types`},
		{"manifest with empty subjects", manifest(`"scope": {`, `"scope": {"subjects": [],`),
			archive.CheckManifest, archive.FileManifest, strictjson.ErrEmpty, `scope.subjects`},
		{"manifest with a null org", manifest(`"org": "acme"`, `"org": null`),
			archive.CheckManifest, archive.FileManifest, strictjson.ErrType, `org: value of the wrong type: null`},
		{"manifest with a fractional tree size", manifest(`"tree_size": 300`, `"tree_size": 300.0`),
			archive.CheckManifest, archive.FileManifest, strictjson.ErrNumber, `tree_size`},
		{"manifest with an index above 2^53-1", manifest(`"last_index": 249`, `"last_index": 9007199254740993`),
			archive.CheckManifest, archive.FileManifest, strictjson.ErrNumber, `events.last_index`},
		{"manifest time with an offset", manifest(`"created": "2026-03-01T13:00:00Z"`, `"created": "2026-03-01T14:00:00+01:00"`),
			archive.CheckManifest, archive.FileManifest, strictjson.ErrTime, `created`},
		{"manifest with data after it", func(es []entry) []entry {
			return resign(t, set(es, archive.FileManifest, append(bytes.Clone(get(t, es, archive.FileManifest)), "{}\n"...)), fx.signer)
		},
			archive.CheckManifest, archive.FileManifest, strictjson.ErrTrailing, `data after the JSON value`},
		{"manifest lists files out of zip order", func(es []entry) []entry {
			m := parseManifest(t, es)
			m.Files[0], m.Files[1] = m.Files[1], m.Files[0]
			return resign(t, setManifest(t, es, m), fx.signer)
		}, archive.CheckFiles, archive.FileEvents, nil, `manifest.json lists "proof.json" in its place: files must be listed in zip order`},

		// proof.json: members in another case, twice, reordered, extra.
		{"proof member in another case", file(archive.FileProof, `{"tree_size":`, `{"Tree_size":`),
			archive.CheckProof, archive.FileProof, strictjson.ErrCase, `"Tree_size" is not "tree_size"`},
		{"proof node member in another case", file(archive.FileProof, node0, strings.Replace(node0, `"hash"`, `"Hash"`, 1)),
			archive.CheckProof, archive.FileProof, strictjson.ErrCase, `nodes[0]: member name differs in letter case from a known member: "Hash" is not "hash"`},
		{"proof node hash twice", file(archive.FileProof, node0, strings.Replace(node0, `"hash":"`, `"hash":"`+bogus+`","hash":"`, 1)),
			archive.CheckProof, archive.FileProof, strictjson.ErrDuplicate, `nodes[0]: member occurs twice: "hash"`},
		{"proof node hash twice, real one first", file(archive.FileProof, node0, strings.Replace(node0, `"}`, `","hash":"`+bogus+`"}`, 1)),
			archive.CheckProof, archive.FileProof, strictjson.ErrDuplicate, `nodes[0]: member occurs twice: "hash"`},
		{"proof node members reordered", file(archive.FileProof, node0, fmt.Sprintf(`{"end":%d,"start":%d,"hash":"%s"}`, nd.End, nd.Start, base64.StdEncoding.EncodeToString(nd.Hash))),
			archive.CheckProof, archive.FileProof, strictjson.ErrOrder, `nodes[0]: member out of order: "end" where member "start" is expected`},
		{"proof node extra member", file(archive.FileProof, node0, strings.Replace(node0, `"}`, `","note":"x"}`, 1)),
			archive.CheckProof, archive.FileProof, strictjson.ErrUnknown, `nodes[0]: unknown member: "note"`},
		{"proof extra member", file(archive.FileProof, "]}\n", "],\"extra\":1}\n"),
			archive.CheckProof, archive.FileProof, strictjson.ErrUnknown, `unknown member: "extra"`},
		{"proof members reordered", func(es []entry) []entry {
			b := get(t, es, archive.FileProof)
			i := bytes.Index(b, []byte(`,"nodes":`))
			nodes := b[i+1 : len(b)-2] // "nodes":[...]
			out := append([]byte(`{`), nodes...)
			out = append(out, `,"tree_size":300}`...)
			return resign(t, fixHashes(t, set(es, archive.FileProof, out)), fx.signer)
		}, archive.CheckProof, archive.FileProof, strictjson.ErrOrder, `"nodes" where member "tree_size" is expected`},
		{"proof node hash with a line break", file(archive.FileProof, node0, strings.Replace(node0, `"hash":"`, `"hash":"\n`, 1)),
			archive.CheckProof, archive.FileProof, strictjson.ErrBase64, `nodes[0].hash`},
		{"proof node with a null start", file(archive.FileProof, node0, strings.Replace(node0, `"start":0`, `"start":null`, 1)),
			archive.CheckProof, archive.FileProof, strictjson.ErrType, `nodes[0].start`},
		{"proof with data after it", file(archive.FileProof, "]}\n", "]}\n{}"),
			archive.CheckProof, archive.FileProof, strictjson.ErrTrailing, `data after the JSON value`},

		// consistency/<size1>.json.
		{"consistency member in another case", file(cons, `"size1"`, `"Size1"`),
			archive.CheckConsistency, cons, strictjson.ErrCase, `"Size1" is not "size1"`},
		{"consistency member twice", file(cons, `"size1":50`, `"size1":49,"size1":50`),
			archive.CheckConsistency, cons, strictjson.ErrDuplicate, `size1`},
		{"consistency unknown member", file(cons, `"size1":50`, `"size1":50,"size2":300`),
			archive.CheckConsistency, cons, strictjson.ErrUnknown, `size2`},
		{"consistency without proof", func(es []entry) []entry {
			b := get(t, es, cons)
			i := bytes.Index(b, []byte(`,"proof":`))
			return resign(t, fixHashes(t, set(es, cons, append(bytes.Clone(b[:i]), "}\n"...))), fx.signer)
		}, archive.CheckConsistency, cons, strictjson.ErrMissing, `proof`},

		// Byte formats of the signature and the key files.
		{"signature with a trailing newline", func(es []entry) []entry { return set(es, archive.FileSignature, append(bytes.Clone(sig), '\n')) },
			archive.CheckSignature, archive.FileSignature, nil, "not canonical standard base64 with nothing before or after it (no newline)"},
		{"signature with CRLF", func(es []entry) []entry { return set(es, archive.FileSignature, append(bytes.Clone(sig), '\r', '\n')) },
			archive.CheckSignature, archive.FileSignature, nil, "no newline"},
		{"signature with a line break inside", func(es []entry) []entry {
			return set(es, archive.FileSignature, slices.Concat(sig[:8], []byte("\n"), sig[8:]))
		}, archive.CheckSignature, archive.FileSignature, nil, "no newline"},
		{"log key with a stray newline", file(archive.FileLogKey, "\n", "\n\n"),
			archive.CheckLogKey, archive.FileLogKey, nil, "followed by one newline"},
		{"log key without its newline", file(archive.FileLogKey, "\n", ""),
			archive.CheckLogKey, archive.FileLogKey, nil, "followed by one newline"},
		{"signing key with a stray newline", func(es []entry) []entry {
			return resign(t, fixHashes(t, set(es, archive.FileSigningKey, append(bytes.Clone(pem), '\n'))), fx.signer)
		}, archive.CheckSigningKey, archive.FileSigningKey, nil, "not the exact PEM encoding of the key"},
		{"signing key with text before it", func(es []entry) []entry {
			return resign(t, fixHashes(t, set(es, archive.FileSigningKey, append([]byte("key:\n"), pem...))), fx.signer)
		}, archive.CheckSigningKey, archive.FileSigningKey, nil, "not the exact PEM encoding of the key"},
		{"signing key with CRLF line ends", func(es []entry) []entry {
			return resign(t, fixHashes(t, set(es, archive.FileSigningKey, bytes.ReplaceAll(pem, []byte("\n"), []byte("\r\n")))), fx.signer)
		}, archive.CheckSigningKey, archive.FileSigningKey, nil, "not the exact PEM encoding of the key"},

		// checkpoint.txt: signed by the log key, in a second spelling.
		{"checkpoint size with a leading zero", func(es []entry) []entry {
			text := fmt.Sprintf("%s\n0300\n%s\n", l.origin, base64.StdEncoding.EncodeToString(root300))
			n, err := note.Sign(&note.Note{Text: text}, l.signer)
			if err != nil {
				t.Fatal(err)
			}
			return resign(t, fixHashes(t, set(es, archive.FileCheckpoint, n)), fx.signer)
		}, archive.CheckCheckpoint, archive.FileCheckpoint, verify.ErrCheckpoint, "not in canonical form"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			es := c.mutate(slices.Clone(base))
			_, err := verifyBytes(pack(t, es), fx.pins)
			wantFailure(t, err, c.check, c.file, c.substr)
			if c.is != nil && !errors.Is(err, c.is) {
				t.Fatalf("error %v does not wrap %v", err, c.is)
			}
			t.Log(err)
		})
	}
	if n := len(cases); n != tamperStrictVariants {
		t.Fatalf("%d variants; docs/evidence-package.md counts %d", n, tamperStrictVariants)
	}
}

// tamperStrictVariants is the number of variants of TestTamperStrict.
const tamperStrictVariants = 43

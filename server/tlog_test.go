package server_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/nuxari/nuxari/internal/fakeclock"
	"github.com/nuxari/nuxari/ledger"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server"
	"github.com/nuxari/nuxari/server/servertest"
)

// tlogAuditor follows one org's log over the tlog-tiles routes only, with
// standard tooling: golang.org/x/mod/sumdb/note and
// transparency-dev/formats/log for checkpoints, x/mod/sumdb/tlog for
// tiles and proofs. It uses nothing of Nuxari's verification code.
type tlogAuditor struct {
	t      *testing.T
	hc     *http.Client
	base   string // <server>/orgs/<org>/tlog/
	token  string
	origin string
	v      note.Verifier
	// entries are the leaves read from entry bundles so far.
	entries [][]byte
	// stored is x/mod/sumdb/tlog's own storage of the tree of entries.
	stored []tlog.Hash
	// fetched counts tiles by level, read by ReadTiles.
	mu      sync.Mutex
	fetched map[int]int
}

func newTlogAuditor(t *testing.T, srv *servertest.Server, org, token, vkey string) *tlogAuditor {
	t.Helper()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return &tlogAuditor{
		t: t, hc: servertest.HTTPClient(), base: srv.URL + "/orgs/" + org + "/tlog/", token: token,
		origin: "nuxari/orgs/" + org, v: v, fetched: map[int]int{},
	}
}

// get fetches path under the org's tlog/ and fails the test unless the
// answer is 200; it returns the body and the response.
func (a *tlogAuditor) get(path string) ([]byte, *http.Response) {
	a.t.Helper()
	body, res, err := tlogGet(a.hc, a.base+path, a.token)
	if err != nil {
		a.t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		a.t.Fatalf("GET %s: %d %s", path, res.StatusCode, body)
	}
	return body, res
}

func tlogGet(hc *http.Client, url, token string) ([]byte, *http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return body, res, err
}

// checkpoint fetches and verifies the latest checkpoint.
func (a *tlogAuditor) checkpoint() (*log.Checkpoint, []byte) {
	a.t.Helper()
	b, res := a.get("checkpoint")
	if ct, cc := res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"); ct != "text/plain; charset=utf-8" || cc != "no-store" {
		a.t.Errorf("checkpoint: Content-Type %q, Cache-Control %q", ct, cc)
	}
	cp, _, _, err := log.ParseCheckpoint(b, a.origin, a.v)
	if err != nil {
		a.t.Fatalf("checkpoint does not verify: %v\n%s", err, b)
	}
	return cp, b
}

// Height, ReadTiles and SaveTiles make the auditor a tlog.TileReader
// over HTTP: tlog's paths "tile/8/L/N" are the spec's "tile/L/N".
func (a *tlogAuditor) Height() int { return 8 }

func (a *tlogAuditor) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		path := "tile/" + strings.TrimPrefix(t.Path(), "tile/8/")
		body, res, err := tlogGet(a.hc, a.base+path, a.token)
		if err != nil {
			return nil, err
		}
		if res.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %d %s", path, res.StatusCode, body)
		}
		want := "private, max-age=60"
		if t.W == 256 {
			want = "private, max-age=31536000, immutable"
		}
		if cc := res.Header.Get("Cache-Control"); cc != want || res.Header.Get("Content-Type") != "application/octet-stream" {
			return nil, fmt.Errorf("GET %s: Cache-Control %q (want %q), Content-Type %q", path, cc, want, res.Header.Get("Content-Type"))
		}
		out[i] = body
		a.mu.Lock()
		a.fetched[t.L]++
		a.mu.Unlock()
	}
	return out, nil
}

func (a *tlogAuditor) SaveTiles([]tlog.Tile, [][]byte) {}

// ReadHashes makes the auditor's own tree a tlog.HashReader.
func (a *tlogAuditor) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(a.stored)) {
			return nil, fmt.Errorf("stored hash %d not known", x)
		}
		out[i] = a.stored[x]
	}
	return out, nil
}

// follow reads the entry bundles from the entries known so far up to
// size, checks each against its level-0 tile, and adds the entries to
// the auditor's own tree.
func (a *tlogAuditor) follow(size int64) {
	a.t.Helper()
	for n := int64(len(a.entries)) / 256; n*256 < size; n++ {
		w := min(256, size-n*256)
		t := tlog.Tile{H: 8, L: -1, N: n, W: int(w)}
		bundle, res := a.get("tile/entries/" + strings.TrimPrefix(t.Path(), "tile/8/data/"))
		if res.Header.Get("Content-Encoding") != "" || !res.Uncompressed && w == 256 {
			// Go's transport asked for gzip and undid it.
			a.t.Errorf("entry bundle %d: Content-Encoding %q, uncompressed by the transport %v", n, res.Header.Get("Content-Encoding"), res.Uncompressed)
		}
		entries := splitTlogBundle(a.t, bundle)
		if int64(len(entries)) != w {
			a.t.Fatalf("entry bundle %d: %d entries, want %d", n, len(entries), w)
		}
		t.L = 0
		hashes, _ := a.get("tile/" + strings.TrimPrefix(t.Path(), "tile/8/"))
		for i, e := range entries {
			if h := tlog.RecordHash(e); !bytes.Equal(h[:], hashes[i*32:i*32+32]) {
				a.t.Fatalf("entry %d of bundle %d hashes to %x, tile 0 says %x", i, n, h, hashes[i*32:i*32+32])
			}
			idx := n*256 + int64(i)
			if idx < int64(len(a.entries)) {
				if !bytes.Equal(a.entries[idx], e) {
					a.t.Fatalf("entry %d changed", idx)
				}
				continue
			}
			hs, err := tlog.StoredHashes(idx, e, a)
			if err != nil {
				a.t.Fatal(err)
			}
			a.stored = append(a.stored, hs...)
			a.entries = append(a.entries, e)
		}
	}
}

func splitTlogBundle(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 2 || len(b) < 2+int(binary.BigEndian.Uint16(b)) {
			t.Fatalf("truncated entry bundle")
		}
		n := int(binary.BigEndian.Uint16(b))
		out = append(out, b[2:2+n])
		b = b[2+n:]
	}
	return out
}

// appendTo appends events to org's log until it holds size entries,
// with a checkpoint of that size. The events go to the ledger directly:
// tiles do not care what the leaves say, and 70,000 events are quicker
// so.
func appendTo(t *testing.T, srv *servertest.Server, org string, size uint64) {
	t.Helper()
	ctx := context.Background()
	cur, err := srv.Ledger().Size(org)
	if err != nil {
		t.Fatal(err)
	}
	for cur < size {
		k := min(4096, size-cur)
		entries := make([]ledger.Entry, k)
		for i := range entries {
			entries[i] = ledger.Entry{Event: fmt.Appendf(nil, `{"type":"custom.load","actor":"test","n":%d}`, cur+uint64(i))}
		}
		ack := ledger.AckDurable
		if cur+k == size {
			ack = ledger.AckCheckpoint
		}
		if _, err := srv.Ledger().Append(ctx, org, entries, ack); err != nil {
			t.Fatal(err)
		}
		cur += k
	}
}

// TestTlogTilesWithStandardTooling grows an org's log through random
// tree sizes (sizes that are not multiples of 256, a multiple of 65,536,
// and sizes past 65,536 so that tiles of levels 1 and 2 exist). At each
// signed checkpoint, an auditor with standard tooling only reads every
// new entry bundle, checks it against its level-0 tile, recomputes the
// root from the entries and compares it with the signed one; then reads
// tiles through tlog.TileHashReader (which authenticates each against
// the signed root), proves random entries with ProveRecord/CheckRecord
// and the earlier checkpoint with ProveTree/CheckTree. At the end, the
// earlier checkpoints' trees are read again: their partial tiles are
// still served.
func TestTlogTilesWithStandardTooling(t *testing.T) {
	srv := servertest.Start(t)
	owner, _ := srv.Signup(t, "acme", "owner@acme.test", "owner password 1")
	auditorToken, _ := srv.AddMember(t, owner, "acme", "auditor@acme.test", "auditor password 1", nuxariv1.Role_ROLE_AUDITOR)
	orgRes, err := srv.Clients(auditorToken).Org.GetOrg(context.Background(), connect.NewRequest(&nuxariv1.GetOrgRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if got := orgRes.Msg.GetOrg().GetLogOrigin(); got != "nuxari/orgs/acme" {
		t.Fatalf("origin %q", got)
	}
	a := newTlogAuditor(t, srv, "acme", auditorToken, orgRes.Msg.GetOrg().GetLogVerifierKey())
	rng := mrand.New(mrand.NewPCG(31, 32))
	sizes := []uint64{300 + rng.Uint64N(200), 5000 + rng.Uint64N(3000), 65536, 65537 + rng.Uint64N(254), 70000 + rng.Uint64N(2000)}
	type signed struct {
		size int64
		root tlog.Hash
		note []byte
	}
	var prev []signed
	for _, size := range sizes {
		appendTo(t, srv, "acme", size)
		cp, noteText := a.checkpoint()
		if cp.Size != size {
			t.Fatalf("checkpoint size %d, want %d", cp.Size, size)
		}
		// The note is the one the RPC hands out, byte for byte.
		res, err := srv.Clients(auditorToken).Ledger.GetCheckpoint(context.Background(), connect.NewRequest(&nuxariv1.GetCheckpointRequest{Size: size}))
		if err != nil || res.Msg.GetCheckpoint().GetNote() != string(noteText) {
			t.Fatalf("checkpoint note differs from GetCheckpoint's: %v", err)
		}
		tree := tlog.Tree{N: int64(cp.Size), Hash: tlog.Hash(cp.Hash)}
		a.follow(tree.N)
		if th, err := tlog.TreeHash(tree.N, a); err != nil || th != tree.Hash {
			t.Fatalf("size %d: the root of the entries read is %x (%v), the checkpoint says %x", size, th, err, tree.Hash)
		}
		hr := tlog.TileHashReader(tree, a)
		if th, err := tlog.TreeHash(tree.N, hr); err != nil || th != tree.Hash {
			t.Fatalf("size %d: tree hash from tiles %x, %v", size, th, err)
		}
		for range 8 {
			i := rng.Int64N(tree.N)
			p, err := tlog.ProveRecord(tree.N, i, hr)
			if err != nil {
				t.Fatalf("size %d: ProveRecord(%d): %v", size, i, err)
			}
			if err := tlog.CheckRecord(p, tree.N, tree.Hash, i, tlog.RecordHash(a.entries[i])); err != nil {
				t.Fatalf("size %d: CheckRecord(%d): %v", size, i, err)
			}
		}
		for _, old := range prev {
			p, err := tlog.ProveTree(tree.N, old.size, hr)
			if err != nil {
				t.Fatalf("ProveTree(%d, %d): %v", tree.N, old.size, err)
			}
			if err := tlog.CheckTree(p, tree.N, tree.Hash, old.size, old.root); err != nil {
				t.Fatalf("CheckTree(%d, %d): %v", tree.N, old.size, err)
			}
		}
		prev = append(prev, signed{size: tree.N, root: tree.Hash, note: noteText})
	}
	if a.fetched[1] == 0 || a.fetched[2] == 0 {
		t.Errorf("tiles fetched by level: %v; want levels 1 and 2", a.fetched)
	}
	// An auditor still on an earlier checkpoint reads its tree's tiles,
	// partial ones included, after the log has grown.
	for _, old := range prev {
		cp, _, _, err := log.ParseCheckpoint(old.note, a.origin, a.v)
		if err != nil {
			t.Fatal(err)
		}
		hr := tlog.TileHashReader(tlog.Tree{N: int64(cp.Size), Hash: tlog.Hash(cp.Hash)}, a)
		i := rng.Int64N(old.size)
		p, err := tlog.ProveRecord(old.size, i, hr)
		if err != nil {
			t.Fatalf("earlier tree %d: ProveRecord(%d): %v", old.size, i, err)
		}
		if err := tlog.CheckRecord(p, old.size, old.root, i, tlog.RecordHash(a.entries[i])); err != nil {
			t.Fatalf("earlier tree %d: CheckRecord(%d): %v", old.size, i, err)
		}
	}
}

// tlogAnswer is a response as a client sees it, but for what differs
// between any two requests (Date, Request-Id).
type tlogAnswer struct {
	status int
	header http.Header
	body   string
}

func tlogAsk(t *testing.T, hc *http.Client, method, url, token string, body io.Reader) tlogAnswer {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	h := res.Header.Clone()
	h.Del("Date")
	h.Del("Request-Id")
	return tlogAnswer{status: res.StatusCode, header: h, body: string(b)}
}

func (a tlogAnswer) String() string {
	var keys []string
	for k := range a.header {
		keys = append(keys, k+"="+strings.Join(a.header[k], ","))
	}
	slices.Sort(keys)
	return fmt.Sprintf("%d %q %v", a.status, a.body, keys)
}

// TestTlogIsolationAndAuth: another org's checkpoint, tiles and bundles
// answer exactly as a missing tile; a member without ledger.read is
// refused, and so is a request without credentials; malformed paths are
// refused before authentication.
func TestTlogIsolationAndAuth(t *testing.T) {
	srv := servertest.Start(t)
	acme, _ := srv.Signup(t, "acme", "owner@acme.test", "owner password 1")
	globex, _ := srv.Signup(t, "globex", "owner@globex.test", "owner password 2")
	requester, _ := srv.AddMember(t, acme, "acme", "req@acme.test", "requester password 1", nuxariv1.Role_ROLE_REQUESTER)
	auditor, _ := srv.AddMember(t, acme, "acme", "aud@acme.test", "auditor password 1", nuxariv1.Role_ROLE_AUDITOR)
	appendTo(t, srv, "acme", 600)
	appendTo(t, srv, "globex", 700)
	hc := servertest.HTTPClient()
	url := func(org, res string) string { return srv.URL + "/orgs/" + org + "/tlog/" + res }
	get := func(org, res, token string) tlogAnswer {
		return tlogAsk(t, hc, http.MethodGet, url(org, res), token, nil)
	}

	// What the auditor may read of acme.
	for _, res := range []string{"checkpoint", "tile/0/000", "tile/0/001", "tile/0/002.p/88", "tile/0/002.p/87", "tile/0/002.p/7", "tile/1/000.p/2", "tile/entries/000", "tile/entries/002.p/88"} {
		if a := get("acme", res, auditor); a.status != http.StatusOK {
			t.Errorf("auditor, acme %s: %s", res, a)
		}
	}
	missing := get("acme", "tile/0/003", auditor)
	if missing.status != http.StatusNotFound {
		t.Fatalf("missing tile: %s", missing)
	}
	// Tiles acme has not (globex has): not found, identically; and every
	// resource of globex, of an org that does not exist, of an invalid
	// org ID.
	same := []struct{ org, res string }{
		{"acme", "tile/0/002"}, {"acme", "tile/0/002.p/89"}, {"acme", "tile/1/000"},
		{"acme", "tile/2/000.p/1"}, {"acme", "tile/entries/002"}, {"acme", "tile/entries/x001/000"},
		{"acme", "tile/0/x999/x999/x999/x999/x999/999"}, {"acme", "tile/63/000.p/1"},
		{"acme", "nothing"}, {"acme", "tile"}, {"acme", ""},
		{"globex", "checkpoint"}, {"globex", "tile/0/000"}, {"globex", "tile/0/002.p/188"}, {"globex", "tile/0/003"},
		{"globex", "tile/entries/000"}, {"globex", "tile/entries/002.p/188"}, {"globex", "tile/1/000.p/2"},
		{"nobody", "checkpoint"}, {"nobody", "tile/0/000"}, {"ACME", "checkpoint"}, {"a.b", "checkpoint"},
	}
	for _, c := range same {
		if a := get(c.org, c.res, auditor); a.String() != missing.String() {
			t.Errorf("auditor of acme, %s %s: %s; want the answer of a missing tile, %s", c.org, c.res, a, missing)
		}
	}
	// globex's owner reads globex, and not acme.
	if a := get("globex", "tile/0/002.p/188", globex); a.status != http.StatusOK {
		t.Errorf("globex's owner, own tile: %s", a)
	}
	if a := get("acme", "tile/0/000", globex); a.String() != missing.String() {
		t.Errorf("globex's owner, acme's tile: %s", a)
	}

	// No ledger.read: refused, whatever the org.
	for _, org := range []string{"acme", "globex"} {
		for _, res := range []string{"checkpoint", "tile/0/000", "tile/entries/000"} {
			if a := get(org, res, requester); a.status != http.StatusForbidden || !strings.Contains(a.body, "ledger.read") {
				t.Errorf("requester, %s %s: %s", org, res, a)
			}
			for _, tok := range []string{"", "nxs.acme.bogus", "not a token"} {
				a := get(org, res, tok)
				if a.status != http.StatusUnauthorized || a.header.Get("WWW-Authenticate") != "Bearer" {
					t.Errorf("token %q, %s %s: %s", tok, org, res, a)
				}
			}
		}
	}

	// Malformed paths: 400 before any credential is looked at (the
	// bogus token would be 401).
	for _, res := range []string{
		"tile/a/000", "tile/0/abc", "tile/00/000", "tile/0/0", "tile/0/0000", "tile/64/000", "tile/0/x000/001", "tile/0/001/002",
		"tile/0/000.p/0", "tile/0/000.p/256", "tile/0/000.p/01", "tile/0/000.p/x", "tile/entries/000.p/0", "tile/entries/000.p/300",
		"tile/0/x001/x002/x003/x004/x005/x006/007", "tile/0/99999999999999999999", "tile/", "tile/0/", "tile/0//000",
		"tile/0/./000", "tile/0/../0/000", "tile/0/000.p/1/", "tile/entries/", "tile/data/000",
	} {
		if a := get("acme", res, "nxs.acme.bogus"); a.status != http.StatusBadRequest || a.header.Get("Cache-Control") != "no-store" {
			t.Errorf("malformed %s: %s", res, a)
		}
	}
	if a := get("acme", "tile/0/"+strings.Repeat("x001/", 60)+"001", ""); a.status != http.StatusBadRequest || !strings.Contains(a.body, "too long") {
		t.Errorf("long path: %s", a)
	}
	if a := tlogAsk(t, hc, http.MethodGet, url("acme", "tile/0/%30%30%30"), auditor, nil); a.status != http.StatusBadRequest {
		t.Errorf("escaped path: %s", a)
	}
	if a := tlogAsk(t, hc, http.MethodPost, url("acme", "checkpoint"), auditor, strings.NewReader("x")); a.status != http.StatusMethodNotAllowed || a.header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %s", a)
	}
	if a := tlogAsk(t, hc, http.MethodGet, url("acme", "checkpoint"), auditor, strings.NewReader("body")); a.status != http.StatusBadRequest {
		t.Errorf("GET with a body: %s", a)
	}
	if a := tlogAsk(t, hc, http.MethodHead, url("acme", "tile/0/000"), auditor, nil); a.status != http.StatusOK || a.header.Get("Content-Length") != "8192" || a.body != "" {
		t.Errorf("HEAD: %s", a)
	}

	// The metrics name routes, never orgs.
	m := tlogAsk(t, hc, http.MethodGet, srv.URL+"/metrics", "", nil)
	if !strings.Contains(m.body, `procedure="GET /orgs/{org}/tlog/tile/{L}/{N}[.p/{W}]"`) {
		t.Error("no metric of the tile route")
	}
	for _, line := range strings.Split(m.body, "\n") {
		if strings.Contains(line, "/orgs/") && (strings.Contains(line, "acme") || strings.Contains(line, "globex")) {
			t.Errorf("a metric names an org: %s", line)
		}
	}
}

// TestTlogPurgedEntries: after the retention window, an entry bundle of
// purged leaves is gone (410); its hash tile is served as before.
func TestTlogPurgedEntries(t *testing.T) {
	clk := fakeclock.New(time.Now())
	srv := servertest.Start(t, func(c *server.Config) { c.Ledger.Clock = clk.Now })
	owner, _ := srv.Signup(t, "acme", "owner@acme.test", "owner password 1")
	appendTo(t, srv, "acme", 300)
	clk.Advance(48 * time.Hour)
	appendTo(t, srv, "acme", 600)
	hc := servertest.HTTPClient()
	url := func(res string) string { return srv.URL + "/orgs/acme/tlog/" + res }
	before := tlogAsk(t, hc, http.MethodGet, url("tile/0/000"), owner, nil)
	ctx := context.Background()
	if err := srv.Ledger().SetRetention(ctx, "acme", 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if r, err := srv.Ledger().Purge(ctx, "acme"); err != nil || r.PurgedThrough != 300 {
		t.Fatalf("purge: %+v, %v", r, err)
	}
	if a := tlogAsk(t, hc, http.MethodGet, url("tile/0/000"), owner, nil); a.status != http.StatusOK || a.body != before.body {
		t.Errorf("tile of purged entries: %s", a)
	}
	for _, res := range []string{"tile/entries/000", "tile/entries/001", "tile/entries/001.p/10"} {
		a := tlogAsk(t, hc, http.MethodGet, url(res), owner, nil)
		if a.status != http.StatusGone || !strings.Contains(a.body, "purged") || a.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s of purged entries: %s", res, a)
		}
	}
	if a := tlogAsk(t, hc, http.MethodGet, url("tile/entries/002.p/88"), owner, nil); a.status != http.StatusOK {
		t.Errorf("bundle past the purge: %s", a)
	}
}

package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/nuxari/nuxari/governance"
	"github.com/nuxari/nuxari/governance/api"
	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/logapi"
	"github.com/nuxari/nuxari/ledger/tile"
)

// Each org's log as a C2SP tlog-tiles log (docs/tlog.md), on the API's
// listener:
//
//	GET /orgs/<org>/tlog/checkpoint
//	GET /orgs/<org>/tlog/tile/<L>/<N>[.p/<W>]
//	GET /orgs/<org>/tlog/tile/entries/<N>[.p/<W>]
//
// A request is refused before any work when its path is malformed or too
// long, or it has a body; it is then authenticated and authorized like
// an RPC (api.Interceptor.AdmitRoute, permission ledger.read); a path
// naming another org than the caller's answers exactly as a tile that
// does not exist.

const (
	// tlogPrefix is the path of every org's routes.
	tlogPrefix = "/orgs/"
	// maxTlogPath bounds a path: the longest valid one (a 64-byte org
	// ID, an entry bundle of the largest index, partial) is under 128.
	maxTlogPath = 256

	// Cache-Control of what never changes (full tiles and bundles), of
	// partial ones (fixed too, but a client should come back for the
	// full one), and of the checkpoint (mutable). Everything is private:
	// it is an org's data, for its members only.
	cacheFull       = "private, max-age=31536000, immutable"
	cachePartial    = "private, max-age=60"
	cacheCheckpoint = "no-store"
)

type tlogHandler struct {
	svc  *governance.Service
	auth *api.Interceptor
	log  *slog.Logger
}

// tlogRequest is a parsed path.
type tlogRequest struct {
	route string // one of api.Routes
	org   string
	tile  tile.Tile
}

// errTlogNotFound is every "no such resource" answer, whatever the
// reason (no such tile, another org, a path that names nothing), so
// that none tells another org's data from a missing tile.
var errTlogNotFound = errors.New("not found")

// parseTlogPath parses path; a malformed one is an InvalidArgument
// error, one that names nothing errTlogNotFound.
func parseTlogPath(path string) (tlogRequest, error) {
	rest, ok := strings.CutPrefix(path, tlogPrefix)
	if !ok {
		return tlogRequest{}, errTlogNotFound
	}
	var req tlogRequest
	req.org, rest, ok = strings.Cut(rest, "/")
	if !ok || req.org == "" {
		return tlogRequest{}, errTlogNotFound
	}
	res, ok := strings.CutPrefix(rest, "tlog/")
	switch {
	case !ok:
		return tlogRequest{}, errTlogNotFound
	case res == "checkpoint":
		req.route = api.RouteTlogCheckpoint
		return req, nil
	case !strings.HasPrefix(res, "tile/"):
		return tlogRequest{}, errTlogNotFound
	}
	t, entries, err := tile.ParsePath(res)
	if err != nil {
		return tlogRequest{}, connect.NewError(connect.CodeInvalidArgument, err)
	}
	req.tile, req.route = t, api.RouteTlogTile
	if entries {
		req.route = api.RouteTlogEntries
	}
	return req, nil
}

func (h *tlogHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	w.Header().Set("Vary", "Authorization, Cookie")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		tlogError(w, http.StatusMethodNotAllowed, "method not allowed: use GET")
		return
	}
	path := r.URL.Path
	switch {
	case len(path) > maxTlogPath || len(r.URL.RawQuery) > maxTlogPath:
		tlogError(w, http.StatusBadRequest, "path too long")
		return
	case r.URL.RawPath != "" || strings.ContainsAny(path, "%\\"):
		tlogError(w, http.StatusBadRequest, "malformed path: escaped characters")
		return
	case r.ContentLength > 0:
		tlogError(w, http.StatusBadRequest, "a GET request has no body")
		return
	}
	req, err := parseTlogPath(path)
	if err != nil {
		if errors.Is(err, errTlogNotFound) {
			tlogNotFound(w)
			return
		}
		tlogError(w, http.StatusBadRequest, errMessage(err))
		return
	}
	ctx, p, err := h.auth.AdmitRoute(r.Context(), req.route, r.Header)
	if err == nil && req.org != p.Org {
		// Another org's path: the answer of a tile that does not exist.
		err = errTlogNotFound
	}
	var body []byte
	var cacheControl, contentType string
	if err == nil {
		body, cacheControl, contentType, err = h.serve(ctx, p, req)
	}
	if err != nil {
		err = h.fail(ctx, w, err)
	} else {
		h.write(w, r, body, cacheControl, contentType, req.route == api.RouteTlogEntries)
	}
	h.auth.ObserveRoute(ctx, req.route, start, err)
}

// serve reads what req names for p.
func (h *tlogHandler) serve(ctx context.Context, p *core.Principal, req tlogRequest) (body []byte, cacheControl, contentType string, err error) {
	switch req.route {
	case api.RouteTlogCheckpoint:
		cp, err := h.svc.Log.Checkpoint(ctx, p, 0)
		if err != nil {
			return nil, "", "", err
		}
		return cp.Note, cacheCheckpoint, "text/plain; charset=utf-8", nil
	case api.RouteTlogTile:
		body, err = h.svc.Log.Tile(ctx, p, req.tile)
	default:
		body, err = h.svc.Log.EntryBundle(ctx, p, req.tile)
	}
	cacheControl = cachePartial
	if req.tile.Full() {
		cacheControl = cacheFull
	}
	return body, cacheControl, "application/octet-stream", err
}

// fail answers err and returns it as a Connect error, for the metrics.
func (h *tlogHandler) fail(ctx context.Context, w http.ResponseWriter, err error) error {
	switch {
	case errors.Is(err, errTlogNotFound):
		tlogNotFound(w)
		return connect.NewError(connect.CodeNotFound, err)
	case errors.Is(err, logapi.ErrTilePurged):
		// Gone for good: the entries were purged after the org's
		// retention window; their hashes stay in the level-0 tile.
		ce := api.Error(ctx, h.log, err)
		tlogError(w, http.StatusGone, errMessage(ce))
		return ce
	case errors.Is(err, logapi.ErrTileEntryTooLarge):
		// The format cannot carry the entry: it is read with GetEvent.
		ce := api.Error(ctx, h.log, err)
		tlogError(w, http.StatusNotImplemented, errMessage(ce))
		return ce
	}
	ce := api.Error(ctx, h.log, err)
	code := connect.CodeOf(ce)
	status, ok := tlogStatus[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	switch {
	case status == http.StatusNotFound:
		tlogNotFound(w)
		return ce
	case status == http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	tlogError(w, status, code.String()+": "+errMessage(ce))
	return ce
}

// tlogStatus maps the Connect code of a refusal to its HTTP status.
var tlogStatus = map[connect.Code]int{
	connect.CodeInvalidArgument:    http.StatusBadRequest,
	connect.CodeUnauthenticated:    http.StatusUnauthorized,
	connect.CodePermissionDenied:   http.StatusForbidden,
	connect.CodeNotFound:           http.StatusNotFound,
	connect.CodeResourceExhausted:  http.StatusTooManyRequests,
	connect.CodeUnavailable:        http.StatusServiceUnavailable,
	connect.CodeDeadlineExceeded:   http.StatusGatewayTimeout,
	connect.CodeCanceled:           http.StatusRequestTimeout,
	connect.CodeAborted:            http.StatusConflict,
	connect.CodeFailedPrecondition: http.StatusPreconditionFailed,
}

// errMessage is the caller-safe message of a Connect error.
func errMessage(err error) string {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Message()
	}
	return err.Error()
}

// write answers body, gzipped when it is an entry bundle and the client
// accepts gzip (the spec asks bundles to be compressed).
func (h *tlogHandler) write(w http.ResponseWriter, r *http.Request, body []byte, cacheControl, contentType string, compress bool) {
	hd := w.Header()
	hd.Set("Content-Type", contentType)
	hd.Set("Cache-Control", cacheControl)
	hd.Set("X-Content-Type-Options", "nosniff")
	if compress {
		hd.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			var b bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
			_, _ = zw.Write(body)
			if zw.Close() == nil {
				body = b.Bytes()
				hd.Set("Content-Encoding", "gzip")
			}
		}
	}
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// acceptsGzip reports whether an Accept-Encoding value names gzip with a
// non-zero weight.
func acceptsGzip(v string) bool {
	for part := range strings.SplitSeq(v, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q=")
		if !ok {
			return true
		}
		f, err := strconv.ParseFloat(q, 64)
		return err == nil && f > 0
	}
	return false
}

// tlogNotFound is the one answer for what does not exist or is
// another org's.
func tlogNotFound(w http.ResponseWriter) { tlogError(w, http.StatusNotFound, "not found") }

func tlogError(w http.ResponseWriter, status int, msg string) {
	hd := w.Header()
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	body := msg + "\n"
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

package api

import (
	"context"
	"errors"
	"io"

	"connectrpc.com/connect"

	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/evidence"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/proto/gen/nuxari/v1/nuxariv1connect"
)

var _ nuxariv1connect.EvidenceServiceHandler = (*Handlers)(nil)

// downloadChunk is the size of a DownloadPackage message.
const downloadChunk = 256 << 10

var exportStates = map[string]nuxariv1.ExportState{
	evidence.ExportRunning:   nuxariv1.ExportState_EXPORT_STATE_RUNNING,
	evidence.ExportSucceeded: nuxariv1.ExportState_EXPORT_STATE_SUCCEEDED,
	evidence.ExportFailed:    nuxariv1.ExportState_EXPORT_STATE_FAILED,
}

func scopeIn(sc *nuxariv1.EvidenceScope) (evidence.Scope, error) {
	var out evidence.Scope
	var err error
	if out.StartTime, err = timeIn("scope.start_time", sc.GetStartTime()); err != nil {
		return out, err
	}
	if out.EndTime, err = timeIn("scope.end_time", sc.GetEndTime()); err != nil {
		return out, err
	}
	out.Types, out.Subjects = sc.GetTypes(), sc.GetSubjects()
	return out, nil
}

func exportOut(x evidence.Export) *nuxariv1.Export {
	return &nuxariv1.Export{
		ExportId: x.ID, State: exportStates[x.State],
		Scope: &nuxariv1.EvidenceScope{
			StartTime: ts(x.Scope.StartTime), EndTime: ts(x.Scope.EndTime), Types: x.Scope.Types, Subjects: x.Scope.Subjects,
		},
		RequestedBy: x.RequestedBy, CreateTime: ts(x.Created), CompleteTime: ts(x.Completed),
		EntriesScanned: x.EntriesScanned, EntriesTotal: x.EntriesTotal, EventCount: x.EventCount, TreeSize: x.TreeSize,
		Sha256: x.SHA256, SizeBytes: x.Size, Error: x.Error, RetainUntil: ts(x.RetainUntil), Worm: x.WORM,
	}
}

// ExportPackage implements EvidenceService.ExportPackage.
func (h *Handlers) ExportPackage(ctx context.Context, req *connect.Request[nuxariv1.ExportPackageRequest]) (*connect.Response[nuxariv1.ExportPackageResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.ExportPackageRequest) (*nuxariv1.ExportPackageResponse, error) {
		sc, err := scopeIn(m.Scope)
		if err != nil {
			return nil, err
		}
		x, err := h.svc.Evidence.ExportPackage(ctx, p, sc)
		if err != nil {
			return nil, err
		}
		return &nuxariv1.ExportPackageResponse{Export: exportOut(x)}, nil
	})
}

// GetExport implements EvidenceService.GetExport.
func (h *Handlers) GetExport(ctx context.Context, req *connect.Request[nuxariv1.GetExportRequest]) (*connect.Response[nuxariv1.GetExportResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.GetExportRequest) (*nuxariv1.GetExportResponse, error) {
		x, err := h.svc.Evidence.GetExport(ctx, p, m.ExportId)
		if err != nil {
			return nil, err
		}
		return &nuxariv1.GetExportResponse{Export: exportOut(x)}, nil
	})
}

// ListExports implements EvidenceService.ListExports.
func (h *Handlers) ListExports(ctx context.Context, req *connect.Request[nuxariv1.ListExportsRequest]) (*connect.Response[nuxariv1.ListExportsResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.ListExportsRequest) (*nuxariv1.ListExportsResponse, error) {
		xs, next, err := h.svc.Evidence.ListExports(ctx, p, m.PageSize, m.PageToken)
		if err != nil {
			return nil, err
		}
		res := &nuxariv1.ListExportsResponse{NextPageToken: next}
		for _, x := range xs {
			res.Exports = append(res.Exports, exportOut(x))
		}
		return res, nil
	})
}

// GetDownloadURL implements EvidenceService.GetDownloadURL.
func (h *Handlers) GetDownloadURL(ctx context.Context, req *connect.Request[nuxariv1.GetDownloadURLRequest]) (*connect.Response[nuxariv1.GetDownloadURLResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.GetDownloadURLRequest) (*nuxariv1.GetDownloadURLResponse, error) {
		u, exp, err := h.svc.Evidence.DownloadURL(ctx, p, m.ExportId)
		if err != nil {
			return nil, err
		}
		return &nuxariv1.GetDownloadURLResponse{Url: u, ExpireTime: ts(exp)}, nil
	})
}

// DownloadPackage implements EvidenceService.DownloadPackage.
func (h *Handlers) DownloadPackage(ctx context.Context, req *connect.Request[nuxariv1.DownloadPackageRequest], stream *connect.ServerStream[nuxariv1.DownloadPackageResponse]) error {
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	r, _, err := h.svc.Evidence.OpenPackage(ctx, p, req.Msg.ExportId)
	if err != nil {
		return toConnect(ctx, h.log, err)
	}
	defer r.Close()
	buf := make([]byte, downloadChunk)
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			if err := stream.Send(&nuxariv1.DownloadPackageResponse{Chunk: buf[:n]}); err != nil {
				return err
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			return nil
		}
		if rerr != nil {
			return toConnect(ctx, h.log, rerr)
		}
	}
}

// GetSigningKey implements EvidenceService.GetSigningKey.
func (h *Handlers) GetSigningKey(ctx context.Context, req *connect.Request[nuxariv1.GetSigningKeyRequest]) (*connect.Response[nuxariv1.GetSigningKeyResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, _ *nuxariv1.GetSigningKeyRequest) (*nuxariv1.GetSigningKeyResponse, error) {
		k, err := h.svc.Evidence.SigningKey()
		if err != nil {
			return nil, err
		}
		return &nuxariv1.GetSigningKeyResponse{PublicKeyPem: string(k)}, nil
	})
}

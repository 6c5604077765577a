package api

import (
	"context"

	"connectrpc.com/connect"

	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/logapi"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
)

// GetCheckpoint implements LedgerService.GetCheckpoint.
func (h *Handlers) GetCheckpoint(ctx context.Context, req *connect.Request[nuxariv1.GetCheckpointRequest]) (*connect.Response[nuxariv1.GetCheckpointResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.GetCheckpointRequest) (*nuxariv1.GetCheckpointResponse, error) {
		cp, err := h.svc.Log.Checkpoint(ctx, p, m.Size)
		if err != nil {
			return nil, err
		}
		return &nuxariv1.GetCheckpointResponse{Checkpoint: checkpointOut(cp), VerifierKey: h.svc.VerifierKey()}, nil
	})
}

// GetInclusionProof implements LedgerService.GetInclusionProof.
func (h *Handlers) GetInclusionProof(ctx context.Context, req *connect.Request[nuxariv1.GetInclusionProofRequest]) (*connect.Response[nuxariv1.GetInclusionProofResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.GetInclusionProofRequest) (*nuxariv1.GetInclusionProofResponse, error) {
		proof, cp, lh, err := h.svc.Log.InclusionProof(ctx, p, m.Index, m.TreeSize)
		if err != nil {
			return nil, err
		}
		return &nuxariv1.GetInclusionProofResponse{Index: m.Index, TreeSize: cp.Size, LeafHash: lh, Hashes: proof, Checkpoint: checkpointOut(cp)}, nil
	})
}

// GetConsistencyProof implements LedgerService.GetConsistencyProof.
func (h *Handlers) GetConsistencyProof(ctx context.Context, req *connect.Request[nuxariv1.GetConsistencyProofRequest]) (*connect.Response[nuxariv1.GetConsistencyProofResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.GetConsistencyProofRequest) (*nuxariv1.GetConsistencyProofResponse, error) {
		proof, cp1, cp2, err := h.svc.Log.ConsistencyProof(ctx, p, m.Size1, m.Size2)
		if err != nil {
			return nil, err
		}
		return &nuxariv1.GetConsistencyProofResponse{
			Size1: m.Size1, Size2: cp2.Size, Hashes: proof,
			Checkpoint1: checkpointOut(cp1), Checkpoint2: checkpointOut(cp2),
		}, nil
	})
}

// GetEvent implements LedgerService.GetEvent.
func (h *Handlers) GetEvent(ctx context.Context, req *connect.Request[nuxariv1.GetEventRequest]) (*connect.Response[nuxariv1.GetEventResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.GetEventRequest) (*nuxariv1.GetEventResponse, error) {
		e, err := h.svc.Log.GetEvent(ctx, p, m.Index)
		if err != nil {
			return nil, err
		}
		return &nuxariv1.GetEventResponse{Event: eventOut(e)}, nil
	})
}

// ListEvents implements LedgerService.ListEvents.
func (h *Handlers) ListEvents(ctx context.Context, req *connect.Request[nuxariv1.ListEventsRequest]) (*connect.Response[nuxariv1.ListEventsResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.ListEventsRequest) (*nuxariv1.ListEventsResponse, error) {
		f := logapi.EventFilter{Types: m.Types, Actor: m.Actor}
		var err error
		if f.Start, err = timeIn("start_time", m.StartTime); err != nil {
			return nil, err
		}
		if f.End, err = timeIn("end_time", m.EndTime); err != nil {
			return nil, err
		}
		evs, next, err := h.svc.Log.ListEvents(ctx, p, f, m.PageSize, m.PageToken)
		if err != nil {
			return nil, err
		}
		res := &nuxariv1.ListEventsResponse{NextPageToken: next}
		for _, e := range evs {
			res.Events = append(res.Events, eventOut(e))
		}
		return res, nil
	})
}

// AppendEvents implements LedgerService.AppendEvents.
func (h *Handlers) AppendEvents(ctx context.Context, req *connect.Request[nuxariv1.AppendEventsRequest]) (*connect.Response[nuxariv1.AppendEventsResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.AppendEventsRequest) (*nuxariv1.AppendEventsResponse, error) {
		evs := make([]logapi.NewEvent, len(m.Events))
		for i, e := range m.Events {
			evs[i] = logapi.NewEvent{Type: e.Type, Data: e.Data.AsMap(), IdempotencyKey: e.IdempotencyKey}
		}
		rs, cp, err := h.svc.Log.AppendEvents(ctx, p, evs)
		if err != nil {
			return nil, err
		}
		res := &nuxariv1.AppendEventsResponse{Checkpoint: checkpointOut(cp)}
		for _, r := range rs {
			res.Events = append(res.Events, &nuxariv1.AppendedEvent{Index: r.Index, LeafHash: r.LeafHash, Time: ts(r.Time), Duplicate: r.Duplicate})
		}
		return res, nil
	})
}

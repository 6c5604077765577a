package api

import (
	"context"
	"errors"
	"log/slog"

	"connectrpc.com/connect"

	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
)

// codes maps each kind of domain error to its Connect code: the one
// place the mapping is made.
var codes = map[*errs.Error]connect.Code{
	errs.InvalidArgument: connect.CodeInvalidArgument,
	errs.NotFound:        connect.CodeNotFound,
	errs.AlreadyExists:   connect.CodeAlreadyExists,
	errs.Unauthenticated: connect.CodeUnauthenticated,
	errs.Permission:      connect.CodePermissionDenied,
	errs.Disabled:        connect.CodePermissionDenied,
	errs.Precondition:    connect.CodeFailedPrecondition,
	errs.Conflict:        connect.CodeAborted,
	errs.RateLimited:     connect.CodeResourceExhausted,
	errs.LimitExceeded:   connect.CodeResourceExhausted,
	errs.Unavailable:     connect.CodeUnavailable,
}

// Error maps a domain error to its Connect error, for handlers outside
// this package.
func Error(ctx context.Context, log *slog.Logger, err error) error { return toConnect(ctx, log, err) }

// toConnect maps a domain error to its Connect code. Domain errors carry
// messages written for the caller; anything else is logged, with the
// request's ID, and answered with a fixed message that names that ID,
// never with the error's own text.
func toConnect(ctx context.Context, log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return err
	}
	if de, ok := errs.As(err); ok {
		if code, ok := codes[de.Kind()]; ok {
			if de.Unwrap() != nil {
				// The cause is for the server's log only.
				log.WarnContext(ctx, "refused", slog.String("code", code.String()), slog.String("error", err.Error()))
			}
			return connect.NewError(code, errors.New(de.Message()))
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, errors.New("the call was canceled"))
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, errors.New("the call's deadline passed"))
	}
	log.ErrorContext(ctx, "internal error", slog.String("error", err.Error()))
	return connect.NewError(connect.CodeInternal, errors.New(internalMessage(ctx)))
}

// internalMessage is the whole answer to an internal error: where its
// detail is.
func internalMessage(ctx context.Context) string {
	if id := core.RequestInfoFrom(ctx).ID; id != "" {
		return "internal error; the server log has details under request ID " + id
	}
	return "internal error; the server log has details"
}

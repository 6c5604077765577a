package api

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"connectrpc.com/connect"
	"github.com/nuxari/nuxari/governance"
	"github.com/nuxari/nuxari/ledger"
)

var codes = []struct {
	err  error
	code connect.Code
}{
	{governance.ErrInvalidArgument, connect.CodeInvalidArgument},
	{governance.ErrNotFound, connect.CodeNotFound},
	{governance.ErrAlreadyExists, connect.CodeAlreadyExists},
	{governance.ErrUnauthenticated, connect.CodeUnauthenticated},
	{governance.ErrPermission, connect.CodePermissionDenied},
	{governance.ErrDisabled, connect.CodePermissionDenied},
	{governance.ErrPrecondition, connect.CodeFailedPrecondition},
	{governance.ErrConflict, connect.CodeAborted},
	{governance.ErrRateLimited, connect.CodeResourceExhausted},
	{governance.ErrLimitExceeded, connect.CodeResourceExhausted},
	{context.Canceled, connect.CodeCanceled},
	{context.DeadlineExceeded, connect.CodeDeadlineExceeded},
	{ledger.ErrClosed, connect.CodeUnavailable},
	{ledger.ErrFailed, connect.CodeUnavailable},
}

// Error maps a domain error to its Connect error, for handlers outside
// this package.
func Error(ctx context.Context, log *slog.Logger, err error) error { return toConnect(ctx, log, err) }

// toConnect maps a domain error to its Connect code. Domain errors carry
// messages written for the caller; anything else is an internal error
// whose detail is logged, never sent.
func toConnect(ctx context.Context, log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return err
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			// The code already says what the sentinel says.
			msg := strings.TrimPrefix(err.Error(), c.err.Error()+": ")
			return connect.NewError(c.code, errors.New(msg))
		}
	}
	log.ErrorContext(ctx, "internal error", slog.String("error", err.Error()))
	return connect.NewError(connect.CodeInternal, errors.New("internal error; the server log has details under this request's ID"))
}

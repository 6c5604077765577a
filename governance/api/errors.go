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

// codes maps errors to Connect codes. A domain sentinel's error carries
// a message the domain wrote for the caller; every other error's text is
// not the caller's to see (a dependency's message, a path, a key), so it
// gets msg, a fixed message, and its detail goes to the server log.
var codes = []struct {
	err  error
	code connect.Code
	msg  string
}{
	{governance.ErrInvalidArgument, connect.CodeInvalidArgument, ""},
	{governance.ErrNotFound, connect.CodeNotFound, ""},
	{governance.ErrAlreadyExists, connect.CodeAlreadyExists, ""},
	{governance.ErrUnauthenticated, connect.CodeUnauthenticated, ""},
	{governance.ErrPermission, connect.CodePermissionDenied, ""},
	{governance.ErrDisabled, connect.CodePermissionDenied, ""},
	{governance.ErrPrecondition, connect.CodeFailedPrecondition, ""},
	{governance.ErrConflict, connect.CodeAborted, ""},
	{governance.ErrRateLimited, connect.CodeResourceExhausted, ""},
	{governance.ErrLimitExceeded, connect.CodeResourceExhausted, ""},
	{context.Canceled, connect.CodeCanceled, "the call was canceled"},
	{context.DeadlineExceeded, connect.CodeDeadlineExceeded, "the call's deadline passed"},
	{ledger.ErrClosed, connect.CodeUnavailable, "the server is shutting down; retry"},
	{ledger.ErrFailed, connect.CodeUnavailable, "the log's storage failed; retry later"},
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
	for _, c := range codes {
		if !errors.Is(err, c.err) {
			continue
		}
		if c.msg != "" {
			if c.code == connect.CodeUnavailable {
				log.ErrorContext(ctx, "unavailable", slog.String("error", err.Error()))
			}
			return connect.NewError(c.code, errors.New(c.msg))
		}
		// The code already says what the sentinel says.
		msg := strings.TrimPrefix(err.Error(), c.err.Error()+": ")
		return connect.NewError(c.code, errors.New(msg))
	}
	log.ErrorContext(ctx, "internal error", slog.String("error", err.Error()))
	return connect.NewError(connect.CodeInternal, errors.New(internalMessage(ctx)))
}

// internalMessage is the whole answer to an internal error: where its
// detail is.
func internalMessage(ctx context.Context) string {
	if id := governance.RequestInfoFrom(ctx).ID; id != "" {
		return "internal error; the server log has details under request ID " + id
	}
	return "internal error; the server log has details"
}

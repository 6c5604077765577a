package governance

import "github.com/nuxari/nuxari/governance/errs"

// The kinds of domain error (see package errs); errors.Is(err, ErrNotFound)
// holds for every error of that kind.
var (
	ErrInvalidArgument = errs.InvalidArgument
	ErrNotFound        = errs.NotFound
	ErrAlreadyExists   = errs.AlreadyExists
	ErrUnauthenticated = errs.Unauthenticated
	ErrPermission      = errs.Permission
	ErrPrecondition    = errs.Precondition
	ErrConflict        = errs.Conflict
	ErrRateLimited     = errs.RateLimited
	ErrDisabled        = errs.Disabled
	ErrLimitExceeded   = errs.LimitExceeded
	ErrUnavailable     = errs.Unavailable
)

func errorf(kind *errs.Error, format string, args ...any) error {
	return errs.New(kind, format, args...)
}

func wrapf(kind *errs.Error, cause error, format string, args ...any) error {
	return errs.Wrap(kind, cause, format, args...)
}

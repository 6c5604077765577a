package core

import (
	"errors"
	"fmt"

	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/store"
	"github.com/nuxari/nuxari/ledger"
)

// Invalid returns an InvalidArgument error with a message for the caller.
func Invalid(format string, args ...any) error {
	return errs.New(errs.InvalidArgument, "%s", fmt.Sprintf(format, args...))
}

// Conflict maps a refused commit to errs.Conflict; a commit refused
// because the actor's own records changed keeps its error.
func Conflict(err error) error {
	if errors.Is(err, store.ErrConflict) {
		return errs.Conflict
	}
	return err
}

// NotFoundAs refuses with as when err says something was not found, and
// also when err is nil: callers use it on a path that refuses, so it
// fails closed.
func NotFoundAs(err, as error) error {
	if err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, errs.NotFound) {
		return as
	}
	return err
}

// LedgerErr translates the ledger's errors about one org's log into the
// domain's own messages: the ledger's text (its keys, or a dependency's
// message it wraps) never reaches the caller.
func LedgerErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ledger.ErrUnknownOrg):
		return errs.New(errs.NotFound, "the org has no log")
	case errors.Is(err, ledger.ErrIndexOutOfRange):
		return errs.New(errs.NotFound, "the index is beyond the end of the log")
	case errors.Is(err, ledger.ErrSizeOutOfRange):
		return errs.New(errs.NotFound, "the tree size is larger than the log")
	case errors.Is(err, ledger.ErrNotFound):
		return errs.New(errs.NotFound, "no checkpoint of that tree size has been issued")
	case errors.Is(err, ledger.ErrInvalidRange):
		return Invalid("the range of the log is not valid")
	case errors.Is(err, ledger.ErrClosed):
		return errs.Wrap(errs.Unavailable, err, "the server is shutting down; retry")
	case errors.Is(err, ledger.ErrFailed):
		return errs.Wrap(errs.Unavailable, err, "the log's storage failed; retry later")
	}
	return err
}

// Package errs holds the domain's errors: a kind, which the API maps to
// its status code in one place, and a message written for the caller. The
// storage layer and every feature of the domain build their errors here,
// so a caller never sees a dependency's text.
package errs

import (
	"errors"
	"fmt"
)

// Error is a domain error: a kind, which the API maps to its status code
// in one place, and a message written for the caller. The message never
// carries a secret, another org's data, a file path or a dependency's
// text; an underlying cause, if any, is kept for the server's log only
// (Unwrap) and never shown.
//
// The kinds are the exported sentinels below; errors.Is(err, errs.NotFound)
// holds for every error of that kind.
type Error struct {
	kind  *Error // nil for a kind itself
	msg   string
	cause error
}

// The kinds of domain error.
var (
	InvalidArgument = newKind("invalid argument")
	NotFound        = newKind("not found")
	AlreadyExists   = newKind("already exists")
	Unauthenticated = newKind("unauthenticated")
	Permission      = newKind("permission denied")
	Precondition    = newKind("failed precondition")
	Conflict        = newKind("state changed concurrently; retry")
	RateLimited     = newKind("too many attempts; wait and retry")
	Disabled        = newKind("disabled by the operator")
	// LimitExceeded: a bound of the data (items, bytes) was reached.
	LimitExceeded = newKind("limit exceeded")
	// Unavailable: the log's storage failed or the server is shutting
	// down; the call may be retried.
	Unavailable = newKind("unavailable; retry later")
)

func newKind(msg string) *Error { return &Error{msg: msg} }

// New returns an error of kind with a message for the caller.
func New(kind *Error, format string, args ...any) error {
	return &Error{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// Wrap is New keeping cause, for the server's log only.
func Wrap(kind *Error, cause error, format string, args ...any) error {
	return &Error{kind: kind, msg: fmt.Sprintf(format, args...), cause: cause}
}

// Kind returns the error's kind (one of the kinds above).
func (e *Error) Kind() *Error {
	if e.kind == nil {
		return e
	}
	return e.kind
}

// Message is what the caller may be shown.
func (e *Error) Message() string { return e.msg }

// Error is the kind and the message, and the cause if any: for logs.
func (e *Error) Error() string {
	s := e.msg
	if e.kind != nil {
		s = e.kind.msg + ": " + s
	}
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

// Is reports whether target is e's kind.
func (e *Error) Is(target error) bool { return target == error(e.Kind()) }

// Unwrap returns the cause, if any.
func (e *Error) Unwrap() error { return e.cause }

// As returns the domain error in err's chain, if any.
func As(err error) (*Error, bool) {
	var de *Error
	ok := errors.As(err, &de)
	return de, ok
}

// Prefix returns err with its caller's message prefixed by what it is
// about (e.g. "events[2]"); an error that is not a domain error is
// returned as is, to stay internal.
func Prefix(err error, format string, args ...any) error {
	de, ok := As(err)
	if !ok {
		return err
	}
	return &Error{kind: de.Kind(), msg: fmt.Sprintf(format, args...) + ": " + de.msg, cause: err}
}

package messages

import (
	"errors"
	"fmt"
)

// Code is a client-visible error code of PROTOCOL.md: the code of an error
// frame and of an HTTP error body.
type Code string

// The error codes of PROTOCOL.md, and nothing else: clients switch on them.
const (
	CodeBadJSON        Code = "bad_json"
	CodeUnknownType    Code = "unknown_type"
	CodeInvalidPayload Code = "invalid_payload"
	CodeUnauthorized   Code = "unauthorized"
	CodeForbidden      Code = "forbidden"
	CodeNotFound       Code = "not_found"
	CodeTooLarge       Code = "too_large"
	CodeRateLimited    Code = "rate_limited"
	CodeLimitExceeded  Code = "limit_exceeded"
	CodeUnavailable    Code = "unavailable"
	CodeInternal       Code = "internal"
)

// Codes lists every code, for metrics that want a zero for each.
var Codes = []Code{
	CodeBadJSON, CodeUnknownType, CodeInvalidPayload, CodeUnauthorized,
	CodeForbidden, CodeNotFound, CodeTooLarge, CodeRateLimited,
	CodeLimitExceeded, CodeUnavailable, CodeInternal,
}

// Error is an error meant for the client: its Message is safe to show.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf builds a client error with a formatted, client-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Sentinels that stores return and actors check with errors.Is. They live
// here, not in persistence, because actors must not import persistence.
var (
	// ErrNotFound: no such conversation or user.
	ErrNotFound = errors.New("not found")
	// ErrForbidden: the user is not a member of the conversation.
	ErrForbidden = errors.New("forbidden")
	// ErrUnavailable: the store cannot serve now; the caller may retry.
	ErrUnavailable = errors.New("store unavailable")
)

// CodeOf maps an error to the code a client is told. Errors that are neither
// client errors nor known sentinels are the server's fault: internal.
func CodeOf(err error) Code {
	var ce *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ce):
		return ce.Code
	case errors.Is(err, ErrNotFound):
		return CodeNotFound
	case errors.Is(err, ErrForbidden):
		return CodeForbidden
	case errors.Is(err, ErrUnavailable):
		return CodeUnavailable
	default:
		return CodeInternal
	}
}

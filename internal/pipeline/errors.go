package pipeline

import (
	"errors"
	"fmt"
	"net/http"
)

// Source says whose fault an error is.
type Source string

// Sources of errors.
const (
	SourceClient   Source = "client"
	SourceOrigin   Source = "origin"
	SourceInternal Source = "internal"
)

// StatusClientClosed is logged (never sent) when the client went away
// first, as nginx does.
const StatusClientClosed = 499

// Error is a classified error: where it came from, what the client is
// answered, and whether another origin may be tried.
type Error struct {
	Source    Source
	Status    int
	Retryable bool
	// Kind is a short machine word for logs and metrics ("dial", "timeout").
	Kind string
	// Msg is safe to show the client.
	Msg string
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s %s: %s: %v", e.Source, e.Kind, e.Msg, e.Err)
	}
	return fmt.Sprintf("%s %s: %s", e.Source, e.Kind, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns a classified error.
func Errorf(src Source, status int, kind, msg string, err error) *Error {
	return &Error{Source: src, Status: status, Kind: kind, Msg: msg, Err: err}
}

// Classify returns err as an *Error, treating unknown errors as internal 500s.
func Classify(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Source: SourceInternal, Status: http.StatusInternalServerError, Kind: "internal", Msg: "internal error", Err: err}
}

// WriteError answers the client for err, unless a response has already
// started (then the connection is aborted) or the client is gone.
func WriteError(ex *Exchange, err error) {
	e := Classify(err)
	if e.Status == StatusClientClosed {
		ex.ClientGone = true
		ex.Status = StatusClientClosed
		return
	}
	if ex.WroteHeader() {
		// Headers are out: the only honest signal left is a cut connection.
		panic(http.ErrAbortHandler)
	}
	h := ex.Header()
	retryAfter := h.Get("Retry-After")
	cacheStatus := h["Cache-Status"] // RFC 9211: on every response of a cached route
	for k := range h {
		delete(h, k)
	}
	if retryAfter != "" {
		h.Set("Retry-After", retryAfter)
	}
	h.Set(RequestIDHeader, ex.ID)
	if cacheStatus != nil {
		h["Cache-Status"] = cacheStatus
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if e.Status == http.StatusServiceUnavailable || e.Status == http.StatusTooManyRequests {
		if h.Get("Retry-After") == "" {
			h.Set("Retry-After", "1")
		}
	}
	ex.WriteHeader(e.Status)
	fmt.Fprintf(ex, "%d %s: %s\nrequest id: %s\n", e.Status, http.StatusText(e.Status), e.Msg, ex.ID)
}

package pipeline

import (
	"io"
	"net/http"
)

// ErrBodyTooLarge is returned by a request body read past the limit.
var ErrBodyTooLarge = Errorf(SourceClient, http.StatusRequestEntityTooLarge, "body_too_large", "request body too large", nil)

// limitedBody fails reads past the limit with ErrBodyTooLarge, so the proxy
// can tell a client's oversized body from an origin's failure.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One more byte tells "exactly at the limit" from "over it".
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, ErrBodyTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

package pipeline

import "context"

// Hello is what the connection steps learned of a client before its first
// request: the ClientHello's fingerprint (bots' JA4), written during the
// handshake, and on HTTP/2 the fingerprint of the connection preface (H2),
// written by the HTTP/2 server before it starts the first request's handler.
// Neither changes after a request on the connection has been read.
type Hello struct {
	Fingerprint string
	// H2 is the client's HTTP/2 fingerprint in the widely used
	// "SETTINGS|WINDOW_UPDATE|PRIORITY|pseudo-header order" form (for
	// example "1:65536;3:1000;4:6291456|15663105|0|m,a,s,p"); empty on
	// HTTP/1.x and until the HTTP/2 server that fills it is in place.
	H2 string
}

type helloKey struct{}

// WithHello returns ctx with an empty Hello record for the handshake to
// fill.
func WithHello(ctx context.Context) context.Context {
	return context.WithValue(ctx, helloKey{}, &Hello{})
}

// HelloFrom returns the ClientHello record of the connection ctx (a
// request's or a handshake's context) belongs to, or nil off TLS.
func HelloFrom(ctx context.Context) *Hello {
	h, _ := ctx.Value(helloKey{}).(*Hello)
	return h
}

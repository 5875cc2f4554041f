package pipeline

import "context"

// Hello is what the tls connection step learned of a connection's
// ClientHello: its fingerprint (bots' JA4). Written once, during the
// handshake, before any request on the connection is read.
type Hello struct{ Fingerprint string }

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

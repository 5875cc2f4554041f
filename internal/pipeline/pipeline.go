// Package pipeline defines how a request flows through levee: an ordered
// chain of small phases (order.go), one per-request Exchange, classified
// errors mapped to responses in one place, and the panic wall.
package pipeline

import "net/http"

// Handler is one step of the request chain. It returns an error instead of
// writing an error response itself, so that errors are answered and logged
// once, by the wall at the top of the chain.
type Handler interface {
	ServeHTTP(w http.ResponseWriter, r *http.Request) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// ServeHTTP calls f.
func (f HandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) error { return f(w, r) }

// Phase wraps the rest of the chain.
type Phase func(next Handler) Handler

// named marks which phase is running, so the wall can say where a panic
// happened without a defer in every phase.
type named struct {
	name string
	next Handler
}

func (n named) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	ex := From(w)
	if ex == nil {
		return n.next.ServeHTTP(w, r)
	}
	prev := ex.Phase
	ex.Phase = n.name
	err := n.next.ServeHTTP(w, r)
	ex.Phase = prev
	return err
}

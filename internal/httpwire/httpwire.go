// Package httpwire holds what the proxy and the servers share to pass an
// origin's response head on as wire bytes, without a header map between
// them (README.md).
package httpwire

import (
	"bytes"
	"time"
)

// HeadWriter is a ResponseWriter that can send a final response head
// whose fields arrive as wire bytes, as the proxy reads them from an
// origin, instead of through Header().
//
// fields is a run of "Name: value\r\n" lines: names canonical, values
// trimmed and free of line breaks, without Content-Length and hop-by-hop
// fields; length is the body's exact size; hasDate says fields hold a
// Date. A field in fields replaces one of the same name in Header(), as
// copying the origin's header over it would. The writer copies fields
// before it returns.
//
// WriteWireHead returns false, having sent nothing, when it cannot send
// the head that way; the caller then goes through Header and WriteHeader.
// A wrapper implements it only when it needs nothing of the fields it
// passes on, and forwards it to the writer it wraps; any other wrapper,
// by not implementing it, keeps the header map path.
type HeadWriter interface {
	WriteWireHead(code int, length int64, fields []byte, hasDate bool) bool
}

// Has reports whether fields, lines as HeadWriter takes them, hold a
// field named name (canonical).
func Has(fields []byte, name string) bool {
	for len(fields) > len(name) {
		if fields[len(name)] == ':' && string(fields[:len(name)]) == name {
			return true
		}
		i := bytes.IndexByte(fields, '\n')
		if i < 0 {
			return false
		}
		fields = fields[i+1:]
	}
	return false
}

// Arrival is a ResponseWriter that knows when its request's first bytes
// were found readable: the server read the clock then for the request's
// header deadline, and the pipeline takes the same reading as the
// request's start instead of reading the clock again (a read costs about
// 70 ns on a virtual machine's clock, and a request made a dozen).
// An implementer always has that reading for the request it serves.
type Arrival interface {
	Arrived() time.Time
}

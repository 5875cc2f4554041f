package pipeline

import "levee/internal/httpwire"

// WriteWireHead records the status as WriteHeader does and passes the
// head on, when the writer under the exchange can take it
// (httpwire.HeadWriter).
func (ex *Exchange) WriteWireHead(code int, length int64, fields []byte, hasDate bool) bool {
	inner, ok := ex.w.(httpwire.HeadWriter)
	if !ok || ex.wroteHeader || code < 200 {
		return false
	}
	// Set again by WriteHeader if inner declines.
	ex.setFinalFields()
	if !inner.WriteWireHead(code, length, fields, hasDate) {
		return false
	}
	ex.wroteHeader = true
	ex.Status = code
	return true
}

var _ httpwire.HeadWriter = (*Exchange)(nil)

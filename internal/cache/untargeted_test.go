package cache

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// wireSink is a client writer that takes heads as wire bytes.
type wireSink struct {
	*httptest.ResponseRecorder
	fields string
}

func (w *wireSink) WriteWireHead(code int, _ int64, fields []byte, _ bool) bool {
	w.fields = string(fields)
	w.WriteHeader(code)
	return true
}

// A passed-through answer goes on as wire bytes only when nothing of its
// fields is needed here: not with Levee-Cache-Control (removed from it),
// not for an unsafe method (invalidation reads Location from the map).
func TestPassWriterWireHead(t *testing.T) {
	cases := []struct {
		method, fields string
		taken          bool
	}{
		{"GET", "Content-Type: text/plain\r\n", true},
		{"HEAD", "Content-Type: text/plain\r\n", true},
		{"GET", "Content-Type: text/plain\r\nLevee-Cache-Control: max-age=60\r\n", false},
		{"DELETE", "Location: /moved\r\n", false},
		{"POST", "Content-Location: /new\r\n", false},
	}
	for _, tc := range cases {
		sink := &wireSink{ResponseRecorder: httptest.NewRecorder()}
		w := passWriter(sink, httptest.NewRequest(tc.method, "/x", nil))
		if got := w.WriteWireHead(200, 0, []byte(tc.fields), false); got != tc.taken {
			t.Errorf("%s with %q: taken %v, want %v", tc.method, tc.fields, got, tc.taken)
		}
		if (sink.fields != "") != tc.taken {
			t.Errorf("%s with %q: the writer under got %q", tc.method, tc.fields, sink.fields)
		}
	}
	// Once a head went, another is not taken.
	sink := &wireSink{ResponseRecorder: httptest.NewRecorder()}
	w := passWriter(sink, httptest.NewRequest("GET", "/x", nil))
	w.WriteHeader(http.StatusOK)
	if w.WriteWireHead(200, 0, []byte("X-A: 1\r\n"), false) {
		t.Error("a second head was taken")
	}
}

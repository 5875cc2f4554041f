package proxy

import (
	"bytes"
	"errors"
	"io"
	"net/http"

	"levee/internal/pipeline"
)

// bufferBody reads a request body of a known length of at most
// pol.MaxBody bytes into memory so that it can be sent again on a retry.
// A larger body, or one of unknown length (chunked, which may be a stream
// the client is still producing), is left to stream once (replay false);
// a request without a body replays trivially.
func bufferBody(r *http.Request, pol *RoutePolicy) (body []byte, replay bool, err error) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, true, nil
	}
	if pol.Attempts < 2 || r.ContentLength < 0 || r.ContentLength > pol.MaxBody {
		return nil, false, nil
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, pol.MaxBody+1))
	if err != nil {
		var pe *pipeline.Error
		if errors.As(err, &pe) {
			return nil, false, pe
		}
		if r.Context().Err() != nil {
			return nil, false, pipeline.Errorf(pipeline.SourceClient, pipeline.StatusClientClosed, "client_gone", "client went away", err)
		}
		return nil, false, pipeline.Errorf(pipeline.SourceClient, http.StatusBadRequest, "client_body", "the request body could not be read", err)
	}
	if int64(len(buf)) > pol.MaxBody {
		r.Body = &splicedBody{Reader: io.MultiReader(bytes.NewReader(buf), r.Body), c: r.Body}
		return nil, false, nil
	}
	if len(buf) == 0 {
		r.Body = http.NoBody
		r.ContentLength = 0
		return nil, true, nil
	}
	return buf, true, nil
}

// setBody gives one try its own reader over the buffered body.
func setBody(out *http.Request, body []byte) {
	if body == nil {
		return
	}
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
}

// splicedBody is the already-read head of a body followed by its rest.
type splicedBody struct {
	io.Reader
	c io.Closer
}

func (b *splicedBody) Close() error { return b.c.Close() }

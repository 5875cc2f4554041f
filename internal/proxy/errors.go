package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"strings"

	"levee/internal/pipeline"
)

// originError classifies a failed round trip. A client that went away is
// not the origin's fault: it is logged as 499 and not counted against it.
func (p *Proxy) originError(ex *pipeline.Exchange, r *http.Request, err error) error {
	if r.Context().Err() != nil {
		return pipeline.Errorf(pipeline.SourceClient, pipeline.StatusClientClosed, "client_gone", "client went away", err)
	}
	var tooLarge *pipeline.Error
	if errors.As(err, &tooLarge) && tooLarge.Kind == "body_too_large" {
		return tooLarge
	}
	e := ClassifyOriginError(err)
	p.countOriginError(ex, e.Kind)
	return e
}

// ClassifyOriginError maps a transport error to a status and kind.
func ClassifyOriginError(err error) *pipeline.Error {
	var (
		opErr   *net.OpError
		tlsErr  *tls.CertificateVerificationError
		recErr  tls.RecordHeaderError
		netErr  net.Error
		retry   = true
		status  = http.StatusBadGateway
		kind    = "protocol"
		message = "origin answered badly"
	)
	switch {
	case errors.As(err, &tlsErr), errors.As(err, &recErr), strings.Contains(err.Error(), "tls:"):
		kind, message = "tls", "TLS to the origin failed"
	case errors.As(err, &opErr) && opErr.Op == "dial":
		kind, message = "dial", "origin unreachable"
		if opErr.Timeout() {
			status, kind, message = http.StatusGatewayTimeout, "dial_timeout", "origin did not accept the connection in time"
		}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		status, kind, message, retry = http.StatusGatewayTimeout, "timeout", "origin timed out", false
	}
	e := pipeline.Errorf(pipeline.SourceOrigin, status, kind, message, err)
	e.Retryable = retry
	return e
}

package h1server

import "time"

// A deadline set on a connection is a runtime timer update; a profile of
// pass-through requests (issue 18) showed the three set per request
// (read: header; write: the response, then the proxy's extension of it)
// costing several percent of levee's CPU. The connection remembers what is
// set, and a request's timeouts are rounded up to a sixteenth of their
// length (deadlineGranule), so requests in the same sixteenth share one
// deadline and set none: a timeout is thus enforced at most a sixteenth
// late, never early.

// deadlineGranule is the rounding of a deadline for timeout d.
func deadlineGranule(d time.Duration) time.Duration { return d / 16 }

// setReadDeadline sets the read deadline t, or leaves the one set when it
// is at most slack later than t. A deadline it sets is rounded up by at
// most slack.
func (cn *conn) setReadDeadline(t time.Time, slack time.Duration) error {
	if keepDeadline(cn.readDeadline, t, slack) {
		return nil
	}
	t = roundUp(t, slack)
	cn.readDeadline = t
	return cn.c.SetReadDeadline(t)
}

// setWriteDeadline is setReadDeadline's twin for writes.
func (cn *conn) setWriteDeadline(t time.Time, slack time.Duration) error {
	if keepDeadline(cn.writeDeadline, t, slack) {
		return nil
	}
	t = roundUp(t, slack)
	cn.writeDeadline = t
	return cn.c.SetWriteDeadline(t)
}

// keepDeadline reports whether the deadline set, cur, may stand for t.
func keepDeadline(cur, t time.Time, slack time.Duration) bool {
	if cur.IsZero() || t.IsZero() {
		return cur.IsZero() && t.IsZero()
	}
	return !cur.Before(t) && cur.Sub(t) <= slack
}

func roundUp(t time.Time, g time.Duration) time.Time {
	if t.IsZero() || g <= 0 {
		return t
	}
	return t.Add(g - 1).Truncate(g)
}

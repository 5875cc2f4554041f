package h1server

import (
	"time"

	"levee/internal/deadline"
)

// A request's deadlines go through internal/deadline: the connection
// remembers what is set, and a request's timeouts are rounded up to a
// sixteenth of their length, so kept-alive requests in the same sixteenth
// set none (issue 18). A timeout is thus enforced at most a sixteenth late,
// never early.

// setReadDeadline sets the read deadline t, or leaves the one set when it
// is at most slack later than t. A deadline it sets is rounded up by at
// most slack.
func (cn *conn) setReadDeadline(t time.Time, slack time.Duration) error {
	return deadline.Set(&cn.readDeadline, t, slack, cn.c.SetReadDeadline)
}

// setWriteDeadline is setReadDeadline for writes.
func (cn *conn) setWriteDeadline(t time.Time, slack time.Duration) error {
	return deadline.Set(&cn.writeDeadline, t, slack, cn.c.SetWriteDeadline)
}

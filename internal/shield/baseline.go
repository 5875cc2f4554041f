package shield

import "time"

// calibration measures baseRTT, the origin's mean latency at low
// concurrency, which the gradient compares each window's mean with.
//
// Why not the lowest sample (minRTT), as the gradient limit usually does:
// a real origin's latency varies from request to request whatever its
// load. With latencies spread evenly over 10-30 ms the window mean is
// twice the lowest sample, so the gradient read an origin that was not
// queueing at all as one that was, and held its pool at min_limit (8 in
// flight, 300 req/s for 200 waiting clients; TestAdmissionJitteryOriginNotPinned).
// The same happened to the bench origin at 2 ms, whose timer wakes up to a
// millisecond late. A mean against a mean cancels the spread and leaves
// the queueing.
//
// A calibration caps admission at min_limit until it has
// calibrateSamples latencies of requests that completed with at most
// min_limit in flight; those in flight when it began are skipped (they
// were admitted under the old limit). A request that cannot wait (its
// client's share of the queue is full) is still admitted under the limit
// itself, so a calibration sheds nothing on its own account; its latency
// is not counted.
//
// It runs when a window's gradient is below 1, or its mean is under half
// of baseRTT, and the last one ended calibrateEvery ago; never while the
// floor holds the limit at max_limit. So an origin whose latency merely
// varies is measured once, when its first window reads as queueing; an
// origin under load is measured again at low concurrency (which a limit
// shrinking anyway costs little); one that became slower or faster for
// good is relearned, and so is a baseRTT measured while the node's own
// CPU was saturated (answers then wait for the node, not the origin). A
// healthy origin is never measured, and a node that starts under a burst
// is not held at min_limit for it. A calibration that gets too few
// latencies within calibrationTime keeps the old baseRTT (minRTT before
// the first).
//
// A calibration is on while the limiter's calCap is not 0 (both are set
// under the limiter's mu).
type calibration struct {
	started time.Time // the first completion counted; zero until then
	last    time.Time // when the last one ended
	skip    int64     // completions still to skip
	sum     float64
	n       int
	base    float64 // ns; 0 until a calibration completed
}

const (
	calibrateSamples = 32
	calibrateMin     = 8 // fewer by calibrationTime: keep the old baseRTT
	calibrateEvery   = 30 * time.Second
	calibrateMaxTime = 5 * time.Second
)

// startCalibrationLocked caps admission at min_limit; inflight requests
// still hold slots taken under the old limit. (Capped at the limit's
// floor instead, the calibration measured the queueing of an origin the
// floor already overloads, and the 3x-capacity simulation with jittery
// service times let its p99 reach 14.9 ms of the 15 allowed.)
func (l *Limiter) startCalibrationLocked(inflight int64) {
	l.cal.started, l.cal.skip = time.Time{}, max(0, inflight)
	l.cal.sum, l.cal.n = 0, 0
	l.calCap.Store(max(1, int64(l.minLimit)))
}

// calibrateLocked takes one completion during a calibration (rtt 0: one
// that says nothing of the origin; inflight: the requests in flight with
// it, itself included) and ends the calibration when it has
// enough. It reports whether it ended, so the caller can hand the slots
// the cap held back to waiters.
func (l *Limiter) calibrateLocked(rtt float64, inflight int64, now time.Time) bool {
	c := &l.cal
	if c.started.IsZero() {
		c.started = now
	}
	switch {
	case rtt <= 0:
	case c.skip > 0:
		c.skip--
	case inflight > l.calCap.Load():
		// Admitted past the cap (requests that could not wait are), or
		// completing beside such: not a low-concurrency latency.
	default:
		c.sum += rtt
		c.n++
		if l.minRTT == 0 || rtt < l.minRTT {
			l.minRTT = rtt
			l.minRTTNS.Store(int64(rtt))
		}
	}
	if c.n < calibrateSamples && now.Sub(c.started) < l.calibrationTime() {
		return false
	}
	if c.n >= calibrateMin {
		c.base = c.sum / float64(c.n)
		l.baseRTTNS.Store(int64(c.base))
	}
	c.last = now
	l.sum, l.samples = 0, 0 // the next window starts at the restored limit
	l.calCap.Store(0)
	return true
}

// calibrationDue reports whether the window just ended calls for a
// calibration: its gradient is below 1 (the origin may be queueing, or
// slower for good), or its mean is under half of baseRTT, which must then
// be too high (a calibration while the node's own CPU was saturated
// counts the time answers wait for it); and the last one ended
// calibrateEvery ago.
//
// Never while the floor holds the limit at max_limit: nothing measured
// could move it, and the cap would only hold requests back.
func (l *Limiter) calibrationDue(grad, mean float64, now time.Time) bool {
	c := &l.cal
	return (grad < 1 || mean < c.base/2) && now.Sub(c.last) >= calibrateEvery &&
		l.floorLocked() < l.maxLimit
}

// calibrationTime bounds a calibration: calibrateMaxTime, and at most half
// of max_wait, so the requests the cap holds back are not shed for it
// (with max_wait 0, which sheds at once, a calibration ends at its first
// completion and the limit keeps minRTT as its base).
func (l *Limiter) calibrationTime() time.Duration {
	return min(calibrateMaxTime, time.Duration(l.maxWait.Load())/2)
}

// BaseRTT returns the origin's mean latency at low concurrency, as the last
// calibration measured it (0 before one completed).
func (l *Limiter) BaseRTT() time.Duration { return time.Duration(l.baseRTTNS.Load()) }

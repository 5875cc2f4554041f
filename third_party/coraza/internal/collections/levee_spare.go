// Copyright 2026 the levee authors
// SPDX-License-Identifier: Apache-2.0

// levee patch: see LEVEE-PATCHES.md at the root of this module.

package collections

import (
	"github.com/corazawaf/coraza/v3/internal/corazarules"
	"github.com/corazawaf/coraza/v3/types"
)

// Bounds on what a Map keeps for reuse: a few small slices, so that a map
// that once held a large request's values does not keep them alive.
const (
	maxSpareSlices = 32
	maxSpareCap    = 4
)

// keepSpare keeps v, whose key Reset is dropping, for a later new key. The
// slices of a Map never leave it (readers get copies), so nothing else can
// see v once its key is gone. Its values are cleared so that it keeps no
// previous request's strings alive.
func (c *Map) keepSpare(v []keyValue) {
	if cap(v) == 0 || cap(v) > maxSpareCap || len(c.spare) >= maxSpareSlices {
		return
	}
	v = v[:cap(v)]
	clear(v)
	c.spare = append(c.spare, v[:0])
}

// takeSpare returns an empty, non-nil slice with room for n values: the
// last kept one if it is large enough, else a new one.
func (c *Map) takeSpare(n int) []keyValue {
	last := len(c.spare) - 1
	if last < 0 || cap(c.spare[last]) < n {
		return make([]keyValue, 0, n)
	}
	v := c.spare[last]
	c.spare[last] = nil
	c.spare = c.spare[:last]
	return v
}

// AddLowered is Add for a key the caller has already lowered exactly as Add
// would (strings.ToLower, unless the map is case-sensitive), which it
// spares Add the work and, for a key with capitals, an allocation.
func (c *Map) AddLowered(lkey, key, value string) {
	if c.isCaseSensitive {
		lkey = key
	}
	c.addLowered(lkey, key, value)
}

// FindAllInto is FindAll with its results built in buf and out, whose
// storage it reuses (levee patch: the transaction keeps them from one rule
// to the next, as for FindStringInto). The order is the map's, random as
// FindAll's.
func (c *Map) FindAllInto(buf []corazarules.MatchData, out []types.MatchData) ([]corazarules.MatchData, []types.MatchData) {
	buf, out = buf[:0], out[:0]
	for _, data := range c.data {
		for _, d := range data {
			buf = append(buf, corazarules.MatchData{
				Variable_: c.variable,
				Key_:      d.key,
				Value_:    d.value,
			})
		}
	}
	// Pointers are taken once buf has stopped growing.
	for i := range buf {
		out = append(out, &buf[i])
	}
	return buf, out
}

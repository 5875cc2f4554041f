// Copyright 2026 the levee authors
// SPDX-License-Identifier: Apache-2.0

package actions

import (
	"testing"

	"github.com/corazawaf/coraza/v3/internal/corazawaf"
)

// levee patch: setvar reads the current value only for arithmetic and
// sets one value without a slice. A sequence of assignments, an
// overwrite, an addition to the overwritten number, an empty value and a
// key in capitals must leave what Coraza leaves: it fails if a value is
// not replaced, an arithmetic one reads a stale value, or a key is not
// lowered.
func TestSetvarSequence(t *testing.T) {
	tx := corazawaf.NewWAF().NewTransaction()
	for _, step := range []struct{ set, key, want string }{
		{"TX.a=x", "a", "x"},
		{"TX.a=5", "a", "5"},
		{"TX.a=+3", "a", "8"},
		{"TX.a=-10", "a", "-2"},
		{"TX.A=7", "a", "7"},
		{"TX.b=+1", "b", "1"},
		{"TX.a=%{tx.b}", "a", "1"},
	} {
		a := setvar()
		if err := a.Init(&md{}, step.set); err != nil {
			t.Fatalf("%s: %v", step.set, err)
		}
		a.Evaluate(&md{}, tx)
		checkCollectionValue(t, a.(*setvarFn), tx, step.key, step.want)
	}
}

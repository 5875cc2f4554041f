// Copyright 2026 the levee authors
// SPDX-License-Identifier: Apache-2.0

package corazawaf

import (
	"fmt"
	"testing"

	"github.com/corazawaf/coraza/v3/types"
)

// levee patch: a phase-0 rule (as SecMarker makes) is in every phase's
// list, and a rule added after the index was built is evaluated: it fails
// if the index leaves out phase 0 or survives a change to the rules.
func TestPhaseIndexPhaseZeroAndLateAdd(t *testing.T) {
	waf := NewWAF()
	for id, phase := range []types.RulePhase{1: 0, 2: 1, 3: 2} {
		if id == 0 {
			continue
		}
		r := NewRule()
		r.ID_ = id
		r.Phase_ = phase
		if err := waf.Rules.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	waf.Rules.buildIndex()
	late := NewRule()
	late.ID_ = 4
	late.Phase_ = 1
	if err := waf.Rules.Add(late); err != nil {
		t.Fatal(err)
	}
	tx := waf.NewTransaction()
	defer tx.Close()
	var got []int
	for _, phase := range []types.RulePhase{types.PhaseRequestHeaders, types.PhaseRequestBody} {
		waf.Rules.Eval(phase, tx)
	}
	for _, mr := range tx.MatchedRules() {
		got = append(got, mr.Rule().ID())
	}
	if fmt.Sprint(got) != "[1 2 4 1 3]" {
		t.Fatalf("matched %v, want [1 2 4 1 3]", got)
	}
}

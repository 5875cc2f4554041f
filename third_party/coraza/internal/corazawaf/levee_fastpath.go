// Copyright 2026 the levee authors
// SPDX-License-Identifier: Apache-2.0

// levee patch: per-rule bookkeeping that a sealed WAF can prove useless is
// skipped. See LEVEE-PATCHES.md at the root of this module.

package corazawaf

import "github.com/corazawaf/coraza/v3/types/variables"

// Seal is called once every directive of the WAF has been parsed (the end
// of coraza.NewWAF). It turns off the per-rule filling of the RULE
// collection when nothing can read it: no directive holds a %{rule...}
// macro (MacroReadsRule, set by the parser), no rule targets RULE, and
// every rule came through the parser.
//
// A WAF that is never sealed (built by hand, as in unit tests) keeps
// Coraza's behaviour unchanged.
func (w *WAF) Seal(allRulesParsed bool) {
	w.skipRuleCollection = allRulesParsed && !w.MacroReadsRule && !w.Rules.targetsVariable(variables.Rule)
}

// targetsVariable reports whether any rule, chained rules included, reads v.
func (rg *RuleGroup) targetsVariable(v variables.RuleVariable) bool {
	for i := range rg.rules {
		for r := &rg.rules[i]; r != nil; r = r.Chain {
			for _, rv := range r.variables {
				if rv.Variable == v {
					return true
				}
			}
		}
	}
	return false
}

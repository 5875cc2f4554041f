// Copyright 2026 the levee authors
// SPDX-License-Identifier: Apache-2.0

// levee patch: per-rule bookkeeping that a sealed WAF can prove useless is
// skipped. See LEVEE-PATCHES.md at the root of this module.

package corazawaf

import "github.com/corazawaf/coraza/v3/types/variables"

// Seal is called once every directive of the WAF has been parsed (the end
// of coraza.NewWAF). It indexes the rules by tag for ctl, and turns off the
// per-rule filling of the RULE collection when nothing can read it: no
// directive holds a %{rule...} macro (MacroReadsRule, set by the parser), no
// rule targets RULE, and every rule came through the parser.
//
// A WAF that is never sealed (built by hand, as in unit tests) keeps
// Coraza's behaviour unchanged.
func (w *WAF) Seal(allRulesParsed bool) {
	w.Rules.indexTags()
	w.skipRuleCollection = allRulesParsed && !w.MacroReadsRule && !w.Rules.targetsVariable(variables.Rule)
}

// indexTags records, for every tag, the IDs of the rules carrying it, in
// rule order: the order a scan of the rules would visit them.
func (rg *RuleGroup) indexTags() {
	idx := map[string][]int{}
	for i := range rg.rules {
		for _, t := range rg.rules[i].Tags_ {
			idx[t] = append(idx[t], rg.rules[i].ID_)
		}
	}
	rg.tagIndex = idx
}

// RuleIDsByTag returns the IDs of the rules carrying tag, in rule order,
// and false when the group has not been indexed (or changed since): the
// caller then scans the rules itself.
func (rg *RuleGroup) RuleIDsByTag(tag string) ([]int, bool) {
	if rg.tagIndex == nil {
		return nil, false
	}
	return rg.tagIndex[tag], true
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

// Copyright 2026 the levee authors
// SPDX-License-Identifier: Apache-2.0

// levee patch: per-rule bookkeeping that a sealed WAF can prove useless is
// skipped. See LEVEE-PATCHES.md at the root of this module.

package corazawaf

import (
	"github.com/corazawaf/coraza/v3/collection"
	"github.com/corazawaf/coraza/v3/internal/collections"
	"strings"
	"unsafe"

	"github.com/corazawaf/coraza/v3/internal/corazarules"
	utils "github.com/corazawaf/coraza/v3/internal/strings"
	"github.com/corazawaf/coraza/v3/types"
	"github.com/corazawaf/coraza/v3/types/variables"
)

// Seal is called once every directive of the WAF has been parsed (the end
// of coraza.NewWAF). It turns off the per-rule filling of the RULE
// collection when nothing can read it: no directive holds a %{rule...}
// macro (MacroReadsRule, set by the parser), no rule targets RULE, and
// every rule came through the parser. It also indexes the rules (by phase,
// and the IDs by tag for the ctl actions that select rules by tag).
//
// A WAF that is never sealed (built by hand, as in unit tests) keeps
// Coraza's behaviour unchanged.
func (w *WAF) Seal(allRulesParsed bool) {
	w.skipRuleCollection = allRulesParsed && !w.MacroReadsRule && !w.Rules.targetsVariable(variables.Rule)
	w.Rules.buildIndex()
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

// ruleIndex is what WAF.Seal precomputes over a RuleGroup's rules.
type ruleIndex struct {
	// byPhase[p] holds, in rule order, the positions of the rules that
	// RuleGroup.Eval evaluates in phase p: those of phase p and of phase 0.
	byPhase [types.PhaseLogging + 1][]int32
	// idsByTag[tag] holds, in rule order, the IDs of the rules tagged tag.
	idsByTag map[string][]int
}

// buildIndex builds the group's ruleIndex. With multiphase evaluation a rule
// can run in phases other than its own, so no index is built.
func (rg *RuleGroup) buildIndex() {
	rg.index = nil
	if multiphaseEvaluation {
		return
	}
	ix := &ruleIndex{idsByTag: map[string][]int{}}
	for i := range rg.rules {
		tags := rg.rules[i].Tags_
		for j, tag := range tags {
			// A rule listing a tag twice is still one rule, as InSlice saw it.
			if !utils.InSlice(tag, tags[:j]) {
				ix.idsByTag[tag] = append(ix.idsByTag[tag], rg.rules[i].ID_)
			}
		}
		p := rg.rules[i].Phase_
		for phase := types.PhaseRequestHeaders; phase <= types.PhaseLogging; phase++ {
			if p == 0 || p == phase {
				ix.byPhase[phase] = append(ix.byPhase[phase], int32(i))
			}
		}
	}
	rg.index = ix
}

// phaseOrder returns the positions of the rules Eval must look at in
// phase, and false when the group is not indexed (every rule is looked at).
func (rg *RuleGroup) phaseOrder(phase types.RulePhase) ([]int32, bool) {
	if rg.index == nil || phase < types.PhaseRequestHeaders || phase > types.PhaseLogging {
		return nil, false
	}
	return rg.index.byPhase[phase], true
}

// IDsWithTag returns, in rule order, the IDs of the rules one of whose
// tags is tag (exact match), as a scan of GetRules with InSlice would.
// The slice belongs to the group: callers must not change it.
func (rg *RuleGroup) IDsWithTag(tag string) []int {
	if rg.index != nil {
		return rg.index.idsByTag[tag]
	}
	var ids []int
	for i := range rg.rules {
		if utils.InSlice(tag, rg.rules[i].Tags_) {
			ids = append(ids, rg.rules[i].ID_)
		}
	}
	return ids
}

// firstMatch holds a rule's first match and the backing array of the
// one-element slice of matched values that will point to it, so that the
// two take one allocation instead of two (levee patch).
type firstMatch struct {
	md     corazarules.MatchData
	values [1]types.MatchData
}

// newFirstMatch returns a copy of m and a slice, of length and capacity 1,
// holding it.
func newFirstMatch(m corazarules.MatchData) (*corazarules.MatchData, []types.MatchData) {
	b := &firstMatch{md: m}
	b.values[0] = &b.md
	return &b.md, b.values[:]
}

// lowerVariableNames[v] is strings.ToLower(v.Name()).
var lowerVariableNames = func() (names [256]string) {
	for i := range names {
		names[i] = strings.ToLower(variables.RuleVariable(i).Name())
	}
	return names
}()

// matchedVarNames returns "NAME:key" (or "NAME" without a key), as
// MATCHED_VAR_NAME holds it, and the same lowered by strings.ToLower, as
// MATCHED_VARS keys it. ToLower works rune by rune and the name and ':' are
// ASCII, so lowering the parts is lowering the whole.
func matchedVarNames(v variables.RuleVariable, key string) (name, lowered string) {
	if key == "" {
		return v.Name(), lowerVariableNames[v]
	}
	n, ln, lk := v.Name(), lowerVariableNames[v], strings.ToLower(key)
	buf := make([]byte, 0, len(n)+len(ln)+len(key)+len(lk)+2)
	buf = append(append(append(buf, n...), ':'), key...)
	cut := len(buf)
	buf = append(append(append(buf, ln...), ':'), lk...)
	both := unsafe.String(unsafe.SliceData(buf), len(buf))
	return both[:cut], both[cut:]
}

// plainMap returns the *collections.Map whose FindAll col's FindAll is
// (a Map, or a NamedCollection, which inherits it), or nil.
func plainMap(col collection.Collection) *collections.Map {
	switch c := col.(type) {
	case *collections.Map:
		return c
	case *collections.NamedCollection:
		return c.Map
	}
	return nil
}

// maxRuleRemoveTargetIDs bounds how many rule IDs a pooled transaction keeps
// emptied ctl target lists for; past it the map is made anew.
const maxRuleRemoveTargetIDs = 1024

// resetRuleRemoveTargets empties ctl's per-rule target removals for a new
// transaction. Coraza made a new map per transaction, and every ctl removal
// (CRS 941010 makes ~40 per request) a new slice; the map and its slices are
// now kept, emptied. Rule.doEvaluate, the only reader, ranges over a rule's
// list, so an empty list and a missing one read the same.
func (tx *Transaction) resetRuleRemoveTargets() {
	m := tx.ruleRemoveTargetByID
	if m == nil || len(m) > maxRuleRemoveTargetIDs {
		tx.ruleRemoveTargetByID = map[int][]ruleVariableParams{}
		return
	}
	for id, targets := range m {
		clear(targets[:cap(targets)])
		m[id] = targets[:0]
	}
}

// withCtlExceptions returns own followed by the exceptions ctl added for
// variable (ecol, in order), as Rule.doEvaluate built them by appending to
// its copy of own; built in the transaction's scratch, valid until the next
// call, when ctl added any, else own itself.
func (tx *Transaction) withCtlExceptions(own []ruleVariableException, ecol []ruleVariableParams, variable variables.RuleVariable) []ruleVariableException {
	buf := tx.exceptionBuf[:0]
	added := false
	for _, c := range ecol {
		if c.Variable == variable {
			if !added {
				buf = append(buf, own...)
				added = true
			}
			buf = append(buf, ruleVariableException{c.KeyStr, c.KeyRx})
		}
	}
	if !added {
		return own
	}
	tx.exceptionBuf = buf
	return buf
}

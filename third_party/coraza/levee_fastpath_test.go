// Copyright 2026 the levee authors
// SPDX-License-Identifier: Apache-2.0

package coraza

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/corazawaf/coraza/v3/types"
)

// levee patch: a sealed WAF skips filling RULE only when nothing reads it.
// Each case reads RULE one way and must still see the evaluating rule's
// values; they fail if the parser's or Seal's detection misses that way.
func TestSealKeepsRuleCollectionWhenRead(t *testing.T) {
	cases := map[string]string{
		"macro in setvar": `SecRule ARGS:a "@rx x" "id:1,phase:1,pass,msg:'hello',setvar:tx.m=%{rule.msg}"
SecRule TX:m "@streq hello" "id:2,phase:1,deny,status:403"`,
		"macro, upper case": `SecRule ARGS:a "@rx x" "id:1,phase:1,pass,msg:'hello',setvar:tx.m=%{RULE.msg}"
SecRule TX:m "@streq hello" "id:2,phase:1,deny,status:403"`,
		"RULE as a target": `SecRule RULE:id "@streq 3" "id:3,phase:1,deny,status:403"`,
		"RULE in a chain": `SecRule ARGS:a "@rx x" "id:4,phase:1,deny,status:403,chain"
SecRule RULE:id "@streq 4" ""`,
	}
	for name, rules := range cases {
		t.Run(name, func(t *testing.T) {
			waf, err := NewWAF(NewWAFConfig().WithDirectives("SecRuleEngine On\n" + rules))
			if err != nil {
				t.Fatal(err)
			}
			tx := waf.NewTransaction()
			defer tx.Close()
			tx.ProcessURI("/?a=x", "GET", "HTTP/1.1")
			if it := tx.ProcessRequestHeaders(); it == nil || it.Status != 403 {
				t.Fatalf("RULE was not filled: interruption %v", it)
			}
		})
	}
}

// matchedIDs returns the IDs of the rules matched so far, in order.
func matchedIDs(tx interface {
	MatchedRules() []types.MatchedRule
}) []int {
	var ids []int
	for _, mr := range tx.MatchedRules() {
		ids = append(ids, mr.Rule().ID())
	}
	return ids
}

// levee patch: a sealed WAF walks each phase's own rules only. Rules of
// phases 1 and 2 are interleaved so that a phase-1 skip, a skipAfter and
// its marker, and a chain sit between rules of the other phase: a phase
// list that lost a rule, took one of the other phase, or reordered them,
// changes the matched IDs.
func TestSealedPhaseOrder(t *testing.T) {
	waf, err := NewWAF(NewWAFConfig().WithDirectives(`SecRuleEngine On
SecAction "id:1,phase:1,pass,log,skip:1"
SecAction "id:2,phase:2,pass,log"
SecAction "id:3,phase:1,pass,log"
SecAction "id:4,phase:1,pass,log,setvar:tx.p1=1"
SecAction "id:5,phase:2,pass,log,skipAfter:END-2"
SecRule TX:p1 "@eq 1" "id:6,phase:1,pass,log,chain"
SecRule TX:p1 "@eq 1" "setvar:tx.chained=1"
SecAction "id:7,phase:2,pass,log"
SecMarker END-2
SecRule TX:p2 "@eq 1" "id:8,phase:1,deny,status:401,log"
SecAction "id:9,phase:2,pass,log,setvar:tx.p2=1"
SecRule TX:chained "@eq 1" "id:10,phase:2,pass,log"
SecRule TX:p2 "@eq 1" "id:11,phase:2,pass,log"
`))
	if err != nil {
		t.Fatal(err)
	}
	tx := waf.NewTransaction()
	defer tx.Close()
	tx.ProcessURI("/", "GET", "HTTP/1.1")
	if it := tx.ProcessRequestHeaders(); it != nil {
		t.Fatalf("phase 1 interrupted: %v", it)
	}
	if got, want := fmt.Sprint(matchedIDs(tx)), "[1 4 6]"; got != want {
		t.Fatalf("phase 1 matched %s, want %s", got, want)
	}
	if _, err := tx.ProcessRequestBody(); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(matchedIDs(tx)), "[1 4 6 2 5 9 10 11]"; got != want {
		t.Fatalf("phases 1 and 2 matched %s, want %s", got, want)
	}
}

// levee patch: ctl:ruleRemoveTargetByTag and ctl:ruleRemoveByTag find the
// tagged rules through the sealed WAF's index. Tags are matched exactly
// (case included), a rule naming a tag twice is found once, and rules of
// the other phase are found too: a missing or extra rule in the index
// changes the matched IDs.
func TestSealedTagIndex(t *testing.T) {
	waf, err := NewWAF(NewWAFConfig().WithDirectives(`SecRuleEngine On
SecAction "id:1,phase:1,pass,nolog,ctl:ruleRemoveTargetByTag=t;ARGS:a,ctl:ruleRemoveByTag=gone"
SecRule ARGS "@rx ." "id:2,phase:1,pass,log,tag:t"
SecRule ARGS "@rx ." "id:3,phase:1,pass,log,tag:x,tag:t,tag:t"
SecRule ARGS "@rx ." "id:4,phase:1,pass,log,tag:T"
SecRule ARGS "@rx ." "id:5,phase:2,pass,log,tag:t"
SecRule ARGS "@rx ." "id:6,phase:2,pass,log,tag:gone"
SecRule ARGS "@rx ." "id:7,phase:2,pass,log,tag:gone-not"
`))
	if err != nil {
		t.Fatal(err)
	}
	tx := waf.NewTransaction()
	defer tx.Close()
	tx.ProcessURI("/?a=1", "GET", "HTTP/1.1")
	if it := tx.ProcessRequestHeaders(); it != nil {
		t.Fatalf("phase 1 interrupted: %v", it)
	}
	if _, err := tx.ProcessRequestBody(); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(matchedIDs(tx)), "[1 4 7]"; got != want {
		t.Fatalf("matched %s, want %s", got, want)
	}
}

// levee patch: a &VARIABLE count is read into the transaction's
// single-value scratch, and a rule's first match shares its allocation with
// the slice of matched values. Every match a rule and its chain keep must
// still carry its own variable, key and value: it fails if a kept match
// points into the scratch or a later match overwrites the first.
func TestMatchDataSurvivesScratch(t *testing.T) {
	waf, err := NewWAF(NewWAFConfig().WithDirectives(`SecRuleEngine On
SecRule REQUEST_METHOD|&ARGS|&REQUEST_METHOD|ARGS|REQUEST_PROTOCOL "@rx ." "id:1,phase:1,pass,log"
SecRule &ARGS "@eq 1" "id:2,phase:1,pass,log,chain"
SecRule REQUEST_METHOD "@rx ." "chain"
SecRule &REQUEST_HEADERS "@eq 0" ""
`))
	if err != nil {
		t.Fatal(err)
	}
	tx := waf.NewTransaction()
	defer tx.Close()
	tx.ProcessURI("/?a=x", "GET", "HTTP/1.1")
	if it := tx.ProcessRequestHeaders(); it != nil {
		t.Fatalf("interrupted: %v", it)
	}
	var got []string
	for _, mr := range tx.MatchedRules() {
		for _, md := range mr.MatchedDatas() {
			got = append(got, fmt.Sprintf("%d %s:%s=%s", mr.Rule().ID(), md.Variable().Name(), md.Key(), md.Value()))
		}
	}
	want := "[1 REQUEST_METHOD:=GET 1 ARGS:=1 1 REQUEST_METHOD:=1 1 ARGS:a=x 1 REQUEST_PROTOCOL:=HTTP/1.1" +
		" 2 ARGS:=1 2 REQUEST_METHOD:=GET 2 REQUEST_HEADERS:=0]"
	if fmt.Sprint(got) != want {
		t.Fatalf("matched data\n got %v\nwant %s", got, want)
	}
}

// levee patch: MATCHED_VAR_NAME and the MATCHED_VARS key are built in one
// allocation, the key lowered by parts. A chained rule reads MATCHED_VARS
// by the lowered and the original spelling and logs MATCHED_VAR_NAME: it
// fails if the name or its lowered key is built wrong.
func TestMatchedVarNames(t *testing.T) {
	waf, err := NewWAF(NewWAFConfig().WithDirectives(`SecRuleEngine On
SecRule REQUEST_HEADERS:X-Up "@rx ." "id:1,phase:1,pass,log,logdata:'%{MATCHED_VAR_NAME}',chain"
SecRule MATCHED_VARS:request_headers:x-up "@streq Ünï" "chain"
SecRule MATCHED_VARS:REQUEST_HEADERS:X-UP "@streq Ünï" ""
SecRule REQUEST_METHOD "@rx ." "id:2,phase:1,pass,log,logdata:'%{MATCHED_VAR_NAME}',chain"
SecRule MATCHED_VARS:request_method "@streq GET" ""
SecRule ARGS:Ä "@rx ." "id:3,phase:1,pass,log,logdata:'%{MATCHED_VAR_NAME}',chain"
SecRule MATCHED_VARS:args:ä "@rx ." ""
`))
	if err != nil {
		t.Fatal(err)
	}
	tx := waf.NewTransaction()
	defer tx.Close()
	tx.ProcessURI("/?%C3%84=1", "GET", "HTTP/1.1")
	tx.AddRequestHeader("X-Up", "Ünï")
	if it := tx.ProcessRequestHeaders(); it != nil {
		t.Fatalf("interrupted: %v", it)
	}
	var got []string
	for _, mr := range tx.MatchedRules() {
		got = append(got, fmt.Sprintf("%d %s", mr.Rule().ID(), mr.MatchedDatas()[0].Data()))
	}
	if want := "[1 MATCHED_VARS:REQUEST_HEADERS:X-Up 2 MATCHED_VARS:REQUEST_METHOD 3 MATCHED_VARS:ARGS:Ä]"; fmt.Sprint(got) != want {
		t.Fatalf("matched %v, want %s", got, want)
	}
}

// levee patch: a whole map (REQUEST_HEADERS, TX) is read into the
// transaction's keyed scratch. A chain whose parent matched one header
// and whose child reads TX through the same scratch must keep the parent's
// match: it fails if a kept match points into the scratch.
func TestWholeMapMatchSurvivesScratch(t *testing.T) {
	waf, err := NewWAF(NewWAFConfig().WithDirectives(`SecRuleEngine On
SecAction "id:1,phase:1,pass,nolog,setvar:tx.k=v"
SecRule REQUEST_HEADERS "@streq A" "id:2,phase:1,pass,log,chain"
SecRule TX "@streq v" ""
`))
	if err != nil {
		t.Fatal(err)
	}
	tx := waf.NewTransaction()
	defer tx.Close()
	tx.ProcessURI("/", "GET", "HTTP/1.1")
	tx.AddRequestHeader("X-A", "A")
	tx.AddRequestHeader("X-B", "B")
	if it := tx.ProcessRequestHeaders(); it != nil {
		t.Fatalf("interrupted: %v", it)
	}
	var got []string
	for _, mr := range tx.MatchedRules() {
		for _, md := range mr.MatchedDatas() {
			got = append(got, fmt.Sprintf("%d %s:%s=%s", mr.Rule().ID(), md.Variable().Name(), md.Key(), md.Value()))
		}
	}
	if want := "[1 UNKNOWN:= 2 REQUEST_HEADERS:X-A=A 2 TX:k=v]"; fmt.Sprint(got) != want {
		t.Fatalf("matched data\n got %v\nwant %s", got, want)
	}
}

// levee patch: a pooled transaction keeps ctl's per-rule target lists,
// emptied, and a rule's exceptions are joined with ctl's in a scratch.
// Transactions alternate between a request whose ctl removes targets and
// one whose ctl does not fire: it fails if a removal outlives its
// transaction, if ctl's exceptions are lost, or if they leak into the
// rule's own exceptions.
func TestCtlTargetRemovalPerTransaction(t *testing.T) {
	waf, err := NewWAF(NewWAFConfig().WithDirectives(`SecRuleEngine On
SecRule ARGS:off "@streq 1" "id:1,phase:1,pass,nolog,ctl:ruleRemoveTargetById=2;ARGS:a,ctl:ruleRemoveTargetById=3;ARGS:b"
SecRule ARGS:a "@rx ." "id:2,phase:1,pass,log"
SecRule ARGS|!ARGS:a|!ARGS:off "@rx ." "id:3,phase:1,pass,log"
`))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		off := i%2 == 0
		uri, want := "/?a=1&b=2&c=3", "[2 2 ARGS:b ARGS:c]"
		if off {
			uri, want = "/?a=1&b=2&c=3&off=1", "[1 1 ARGS:c]"
		}
		tx := waf.NewTransaction()
		tx.ProcessURI(uri, "GET", "HTTP/1.1")
		if it := tx.ProcessRequestHeaders(); it != nil {
			t.Fatalf("interrupted: %v", it)
		}
		var got []string
		for _, mr := range tx.MatchedRules() {
			if mr.Rule().ID() != 3 {
				got = append(got, fmt.Sprint(mr.Rule().ID()))
				continue
			}
			var keys []string
			for _, md := range mr.MatchedDatas() {
				keys = append(keys, md.Variable().Name()+":"+md.Key())
			}
			sort.Strings(keys)
			got = append(got, fmt.Sprint(len(keys)), strings.Join(keys, " "))
		}
		if fmt.Sprint(got) != want {
			t.Fatalf("transaction %d (ctl fires: %v): matched %v, want %s", i, off, got, want)
		}
		tx.Close()
	}
}

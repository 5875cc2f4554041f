// Copyright 2026 the levee authors
// SPDX-License-Identifier: Apache-2.0

package coraza

import "testing"

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

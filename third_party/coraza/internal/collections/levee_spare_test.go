// Copyright 2026 the levee authors
// SPDX-License-Identifier: Apache-2.0

package collections

import (
	"fmt"
	"testing"

	"github.com/corazawaf/coraza/v3/types/variables"
)

// levee patch: after Reset, new keys reuse the dropped keys' slices. Each
// new key must hold only its own values, and results read before Reset
// must keep theirs: it fails if a reused slice keeps old values or is
// shared by two keys.
func TestMapSpareSlicesHoldOnlyTheirValues(t *testing.T) {
	m := NewMap(variables.TX)
	m.Add("a", "1")
	m.Add("B", "2")
	m.Set("c", []string{"3", "4"})
	before := m.FindAll()
	m.Reset()
	m.Add("D", "5")
	m.Set("e", []string{"6"})
	m.SetIndex("f", 0, "7")
	m.Add("d", "8")
	m.Set("g", []string{"9", "10", "11"})
	m.SetIndex("h", 3, "12")
	got := fmt.Sprint(m.Get("d"), m.Get("e"), m.Get("f"), m.Get("g"), m.Get("h"), m.Get("a"), m.Len(), m.TotalValues())
	if want := "[5 8] [6] [7] [9 10 11] [12] [] 5 8"; got != want {
		t.Fatalf("after Reset: got %s, want %s", got, want)
	}
	var old []string
	for _, md := range before {
		old = append(old, md.Key()+"="+md.Value())
	}
	if len(old) != 4 {
		t.Fatalf("read before Reset: %v", old)
	}
	for _, kv := range old {
		switch kv {
		case "a=1", "B=2", "c=3", "c=4":
		default:
			t.Fatalf("read before Reset changed: %v", old)
		}
	}
	m.Reset()
	if len(m.spare) > maxSpareSlices {
		t.Fatalf("%d spare slices kept, bound %d", len(m.spare), maxSpareSlices)
	}
	for _, s := range m.spare {
		for _, kv := range s[:cap(s)] {
			if kv != (keyValue{}) {
				t.Fatalf("a spare slice keeps %v", kv)
			}
		}
	}
}

// levee patch: AddLowered on a case-sensitive map keys by the key as given.
func TestAddLoweredCaseSensitive(t *testing.T) {
	m := NewCaseSensitiveKeyMap(variables.TX)
	m.AddLowered("k", "K", "v")
	if got := fmt.Sprint(m.Get("K"), m.Get("k")); got != "[v] []" {
		t.Fatalf("got %s", got)
	}
}

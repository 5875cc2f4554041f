package shield_test

import (
	"levee/internal/config"
	"levee/internal/shield"
	"strings"
	"testing"
)

const shieldBase = `
listeners: [{listen: "127.0.0.1:0"}]
sites:
  - name: s
    hosts: ["*"]
    routes: [{path: /, origins: [{url: "http://127.0.0.1:9"}]}]
`

func TestShieldValidation(t *testing.T) {
	cases := []struct{ name, yaml, err string }{
		{"ok", `shield: {rules: [{name: a, rate: 10/s, key: [ip, "header:X-Key", "cookie:s", path]}]}`, ""},
		{"rate missing", `shield: {rules: [{name: a}]}`, "shield.rules[0].rate"},
		{"bad rate", `shield: {rules: [{name: a, rate: 10/d}]}`, "unit must be s, m or h"},
		{"bad key", `shield: {rules: [{name: a, rate: 1/s, key: [asn]}]}`, "shield.rules[0].key[0]"},
		{"too many key parts", `shield: {rules: [{name: a, rate: 1/s, key: [ip, ip, ip, ip, ip]}]}`, "over the limit of 4"},
		{"bad action", `shield: {rules: [{name: a, rate: 1/s, action: drop}]}`, "shield.rules[0].action"},
		{"dup rule", `shield: {rules: [{name: a, rate: 1/s}, {name: a, rate: 1/s}]}`, "defined twice"},
		{"unknown site", `shield: {rules: [{name: a, rate: 1/s, sites: [nope]}]}`, "no site named"},
		{"bad method", `shield: {rules: [{name: a, rate: 1/s, methods: [get]}]}`, "upper-case"},
		{"bad list entry", `shield: {lists: {deny: [10.0.0.0/33]}}`, "shield.lists.deny[0]"},
		{"list over bound", `shield: {lists: {max_entries: 1, allow: [10.0.0.1, 10.0.0.2]}}`, "over the limit of 1"},
		{"conn key", `shield: {connections: {key: asn}}`, "shield.connections.key"},
		{"admission bounds", `shield: {admission: {enabled: true, min_limit: 10, max_limit: 5}}`, "min_limit <= max_limit"},
		{"keep prefix", `shield: {admission: {enabled: true, keep: {prefixes: [nope]}}}`, "keep.prefixes[0]"},
		{"room route", `shield: {waiting_rooms: [{site: s, route: /x, capacity: 5}]}`, "no route"},
		{"room capacity", `shield: {waiting_rooms: [{site: s, capacity: 0}]}`, "capacity"},
		{"room mode", `shield: {waiting_rooms: [{site: s, capacity: 5, mode: maybe}]}`, "mode"},
		{"attack site", `shield: {under_attack: [nope]}`, "under_attack[0]"},
		{"attack factor", `shield: {attack_factor: 2}`, "attack_factor"},
		{"disable", `shield: {disable: [waf]}`, "unknown sub-phase"},
		{"on_panic", `shield: {on_panic: {ratelimit: maybe}}`, "open or closed"},
		{"unknown key", `shield: {ratelimit: {}}`, "ratelimit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Load("t", []byte(shieldBase+c.yaml))
			if c.err == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("err = %v, want %q", err, c.err)
			}
		})
	}
}

func TestShieldDefaultsAndRate(t *testing.T) {
	p, err := config.Load("t", []byte(shieldBase+`shield: {rules: [{name: a, rate: 600/m}], waiting_rooms: [{site: s, capacity: 50}]}`))
	if err != nil {
		t.Fatal(err)
	}
	s := p.Config.Shield
	r := s.Rules[0]
	if r.Rate.PerSecond() != 10 || r.Burst != 10 || r.Action != "reject" || r.Key[0] != "ip" {
		t.Fatalf("rule defaults: %+v", r)
	}
	w := s.WaitingRooms[0]
	if w.AdmitPerMinute != 50 || w.Mode != "auto" || w.Route != "/" || w.Cookie != shield.DefaultRoomCookie {
		t.Fatalf("room defaults: %+v", w)
	}
	if !*s.Enabled || s.MaxKeys != shield.DefaultMaxKeys || s.H2MaxResetsPerSecond != shield.DefaultH2MaxResetsPerSecond {
		t.Fatalf("shield defaults: %+v", s)
	}
	if v, _ := r.Rate.MarshalYAML(); v != "600/m" {
		t.Fatalf("rate marshals as %v", v)
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"100/s", "1.5/m", "0/s", "/s", "1e9/h", "NaN/s", "-1/m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := shield.ParseRate(s)
		if err == nil && !(r.PerSecond() > 0 && r.N <= 1e9) {
			t.Fatalf("%q parsed to %+v", s, r)
		}
	})
}

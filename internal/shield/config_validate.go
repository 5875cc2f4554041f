package shield

import (
	"fmt"
	"levee/internal/config/schema"
	"net/http"
	"strings"
	"time"
)

// Phases are the shield's sub-phases, outermost first.
var Phases = []string{"overload", "lists", "surge", "ratelimit", "waitingroom", "admission"}

// Validate checks the shield: section; sites are the config's sites and
// their routes, which rules and waiting rooms refer to.
func (s *Config) Validate(l *schema.List, sites schema.Sites) {
	for i, d := range s.Disable {
		if !schema.OneOf(d, Phases...) {
			l.Add(fmt.Sprintf("shield.disable[%d]", i), "unknown sub-phase %q (want one of %s)", d, strings.Join(Phases, ", "))
		}
	}
	for k, v := range s.OnPanic {
		if !schema.OneOf(k, Phases...) {
			l.Add("shield.on_panic."+k, "unknown sub-phase %q", k)
		}
		if !schema.OneOf(v, "open", "closed") {
			l.Add("shield.on_panic."+k, "must be open or closed, not %q", v)
		}
	}
	if s.MaxKeys < 1 || s.MaxKeys > MaxKeysCap {
		l.Add("shield.max_keys", "must be 1 to %d", MaxKeysCap)
	}
	if s.AttackFactor <= 0 || s.AttackFactor > 1 {
		l.Add("shield.attack_factor", "must be above 0 and at most 1")
	}
	if s.H2MaxResetsPerSecond < 1 || s.H2MaxResetsPerSecond > 100000 {
		l.Add("shield.h2_max_resets_per_second", "must be 1 to 100000")
	}
	if s.Tarpit.D() > 10e9 || s.MaxTarpitted < 1 || s.MaxTarpitted > 1_000_000 {
		l.Add("shield.tarpit", "tarpit must be at most 10s and max_tarpitted 1 to 1000000")
	}
	if s.MinRate < 0 || s.MinRate > 1<<30 {
		l.Add("shield.min_rate", "must be 0 to 1GiB (per second)")
	}
	for i, name := range s.UnderAttack {
		if _, ok := sites[name]; !ok {
			l.Add(fmt.Sprintf("shield.under_attack[%d]", i), "no site named %q", name)
		}
	}
	validateRules(l, s.Rules, sites)
	validateLists(l, &s.Lists)
	validateConns(l, &s.Connections)
	validateAdmission(l, &s.Admission)
	validateSurge(l, &s.Surge)
	validateOverload(l, &s.Overload)
	validateRooms(l, s.WaitingRooms, sites)
}

func validateRules(l *schema.List, rules []RuleConfig, sites schema.Sites) {
	if len(rules) > MaxRules {
		l.Add("shield.rules", "%d rules, over the limit of %d", len(rules), MaxRules)
		return
	}
	names := map[string]bool{}
	for i, r := range rules {
		p := fmt.Sprintf("shield.rules[%d]", i)
		schema.CheckName(l, p+".name", r.Name)
		if names[r.Name] {
			l.Add(p+".name", "rule %q is defined twice", r.Name)
		}
		names[r.Name] = true
		for j, s := range r.Sites {
			if _, ok := sites[s]; !ok {
				l.Add(fmt.Sprintf("%s.sites[%d]", p, j), "no site named %q", s)
			}
		}
		for j, m := range r.Methods {
			if m == "" || strings.ToUpper(m) != m || len(m) > 32 {
				l.Add(fmt.Sprintf("%s.methods[%d]", p, j), "want an upper-case method such as %s, not %q", http.MethodGet, m)
			}
		}
		if r.PathPrefix != "" && !strings.HasPrefix(r.PathPrefix, "/") {
			l.Add(p+".path_prefix", "must start with /")
		}
		if r.Rate.Per == 0 {
			l.Add(p+".rate", "a rate such as \"100/s\" is required")
		}
		if r.Burst < 1 || r.Burst > 1e9 {
			l.Add(p+".burst", "must be 1 to 1e9")
		}
		if !schema.OneOf(r.Action, "reject", "block", "log", "challenge") {
			l.Add(p+".action", "must be reject, block, log or challenge, not %q", r.Action)
		}
		if !schema.OneOf(r.Scope, "", "local", "cluster") {
			l.Add(p+".scope", "must be local or cluster, not %q", r.Scope)
		}
		validateKey(l, p+".key", r.Key)
	}
}

func validateKey(l *schema.List, p string, key []string) {
	if len(key) > MaxKeyParts {
		l.Add(p, "%d key parts, over the limit of %d", len(key), MaxKeyParts)
	}
	for j, k := range key {
		kind, arg, _ := strings.Cut(k, ":")
		switch {
		case schema.OneOf(kind, "ip", "prefix", "path") && arg == "":
		case schema.OneOf(kind, "header", "cookie") && arg != "" && len(arg) <= schema.MaxNameLength:
		default:
			l.Add(fmt.Sprintf("%s[%d]", p, j), "want ip, prefix, path, header:NAME or cookie:NAME, not %q", k)
		}
	}
}

func validateLists(l *schema.List, ls *ListsConfig) {
	if ls.MaxEntries < 1 || ls.MaxEntries > MaxListEntries {
		l.Add("shield.lists.max_entries", "must be 1 to %d", MaxListEntries)
	}
	if ls.MaxBytes < 1 || ls.MaxBytes > 256<<20 {
		l.Add("shield.lists.max_bytes", "must be 1 to 256MiB")
	}
	for _, nl := range []struct {
		name string
		list []string
	}{{"allow", ls.Allow}, {"deny", ls.Deny}} {
		name, list := nl.name, nl.list
		if len(list) > ls.MaxEntries {
			l.Add("shield.lists."+name, "%d entries, over the limit of %d", len(list), ls.MaxEntries)
			continue
		}
		for i, s := range list {
			if _, err := schema.ParsePrefix(s); err != nil {
				l.Add(fmt.Sprintf("shield.lists.%s[%d]", name, i), "%v", err)
			}
		}
	}
}

func validateConns(l *schema.List, c *ConnLimits) {
	if c.MaxTotal < 0 || c.MaxPerIP < 0 {
		l.Add("shield.connections", "limits must not be negative")
	}
	if !schema.OneOf(c.Key, "ip", "prefix") {
		l.Add("shield.connections.key", "must be ip or prefix, not %q", c.Key)
	}
}

func validateAdmission(l *schema.List, a *AdmissionConfig) {
	if a.MinLimit < 1 || a.MaxLimit < a.MinLimit || a.MaxLimit > 1_000_000 {
		l.Add("shield.admission", "want 1 <= min_limit <= max_limit <= 1000000")
	}
	if a.InitialLimit < a.MinLimit || a.InitialLimit > a.MaxLimit {
		l.Add("shield.admission.initial_limit", "must be between min_limit and max_limit")
	}
	if a.KeepReserve < 0 || a.KeepReserve >= 1 {
		l.Add("shield.admission.keep_reserve", "must be 0 to below 1")
	}
	if a.MaxWait.D() < time.Millisecond || a.MaxWait.D() > 10*time.Second {
		l.Add("shield.admission.max_wait", "must be 1ms to 10s")
	}
	if a.MaxQueue < 1 || a.MaxQueue > 1_000_000 || a.MaxQueuePerClient < 1 || a.MaxQueuePerClient > a.MaxQueue {
		l.Add("shield.admission.max_queue", "want 1 <= max_queue_per_client <= max_queue <= 1000000")
	}
	k := a.Keep
	if len(k.Cookies)+len(k.Prefixes)+len(k.Paths) > MaxKeepEntries {
		l.Add("shield.admission.keep", "over the limit of %d entries", MaxKeepEntries)
	}
	for i, s := range k.Prefixes {
		if _, err := schema.ParsePrefix(s); err != nil {
			l.Add(fmt.Sprintf("shield.admission.keep.prefixes[%d]", i), "%v", err)
		}
	}
}

func validateSurge(l *schema.List, g *SurgeConfig) {
	if !schema.OneOf(g.Action, "reject", "block", "log", "challenge") {
		l.Add("shield.surge.action", "must be reject, block, log or challenge, not %q", g.Action)
	}
	if g.MinShare <= 0 || g.MinShare > 1 {
		l.Add("shield.surge.min_share", "must be above 0 and at most 1")
	}
	if g.Rise < 1 || g.Jump < 1 {
		l.Add("shield.surge", "rise and jump must be at least 1")
	}
	if g.Window.D() < 100*time.Millisecond || g.Window.D() > time.Minute {
		l.Add("shield.surge.window", "must be 100ms to 1m")
	}
	if g.Sample < 1 || g.Sample > 1024 || g.Sample&(g.Sample-1) != 0 {
		l.Add("shield.surge.sample", "must be a power of two from 1 to 1024")
	}
	if g.MaxRules < 1 || g.MaxRules > MaxSurgeRules {
		l.Add("shield.surge.max_rules", "must be 1 to %d", MaxSurgeRules)
	}
	if g.Lifetime.D() < time.Second || g.Lifetime.D() > 24*time.Hour {
		l.Add("shield.surge.lifetime", "must be 1s to 24h")
	}
}

func validateOverload(l *schema.List, o *OverloadConfig) {
	if o.MaxHeap < 0 || o.MaxGoroutines < 0 || o.MaxConns < 0 {
		l.Add("shield.overload", "thresholds must not be negative")
	}
	if o.Interval.D() < 10_000_000 {
		l.Add("shield.overload.interval", "must be at least 10ms")
	}
}

func validateRooms(l *schema.List, rooms []WaitingRoomConfig, sites schema.Sites) {
	if len(rooms) > MaxWaitingRooms {
		l.Add("shield.waiting_rooms", "%d rooms, over the limit of %d", len(rooms), MaxWaitingRooms)
		return
	}
	seen := map[string]bool{}
	for i, w := range rooms {
		p := fmt.Sprintf("shield.waiting_rooms[%d]", i)
		id := w.Site + "\x00" + w.Route
		if !sites.Route(w.Site, w.Route) {
			l.Add(p, "no route %q in site %q", w.Route, w.Site)
		}
		if seen[id] {
			l.Add(p, "a second room for the same route")
		}
		seen[id] = true
		if w.Capacity < 1 || w.Capacity > 10_000_000 {
			l.Add(p+".capacity", "must be 1 to 10000000")
		}
		if w.AdmitPerMinute < 1 || w.AdmitPerMinute > 10_000_000 {
			l.Add(p+".admit_per_minute", "must be 1 to 10000000")
		}
		if w.MaxQueue < 1 || w.MaxQueue > 10_000_000 {
			l.Add(p+".max_queue", "must be 1 to 10000000")
		}
		if w.Refresh.D() < 1e9 || w.Session.D() < w.Refresh.D() {
			l.Add(p, "refresh must be at least 1s and session at least refresh")
		}
		if !schema.OneOf(w.Mode, "auto", "queue", "off") {
			l.Add(p+".mode", "must be auto, queue or off, not %q", w.Mode)
		}
		schema.CheckName(l, p+".cookie", w.Cookie)
	}
}

package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"levee/internal/config/schema"
)

// Store keys of config distribution (same hash tag as the rest).
const (
	keyConfigSeq     = "{levee}:config-seq"      // INCR: version numbers, never reused
	keyConfigPrefix  = "{levee}:config:"         // + version: Version JSON
	keyRollout       = "{levee}:rollout"         // the current Plan JSON
	keyRolloutHist   = "{levee}:rollout-history" // list of superseded plans, newest first
	keyRolloutReport = "{levee}:rollout-report"  // hash: node -> Report JSON
	keyRolloutLease  = "{levee}:rollout-lease"   // the driver's name, with a TTL
	keyConfigAudit   = "{levee}:config-audit"    // stream: pushes, pauses, resumes, rollbacks
)

// Bounds of what the store keeps of config distribution.
const (
	KeptVersions    = 20   // config versions kept (the current plan's two are never dropped)
	KeptHistory     = 50   // superseded plans kept for status
	KeptAudit       = 1000 // audit entries kept
	MaxPushBytes    = 4 << 20
	reportRetention = 10 * time.Minute // a silent node's report is dropped after this
)

// ErrRolloutInProgress refuses a push while another version is rolling
// out or paused: two rollouts at once would make the canary comparison
// meaningless.
var ErrRolloutInProgress = errors.New("a rollout is in progress")

// Version is one pushed config as the store keeps it. Base marks "each
// node's own config" (version 0, rolled back to before the first push).
type Version struct {
	Version int64  `json:"version"`
	Source  string `json:"source,omitempty"`
	Base    bool   `json:"base,omitempty"`
	SHA     string `json:"sha"`
	By      string `json:"by"`
	AtMS    int64  `json:"at_ms"`
	// Switches is the kill switch file every node writes when
	// HasSwitches (module names, one a line; "" turns them all on again).
	Switches    string `json:"switches,omitempty"`
	HasSwitches bool   `json:"has_switches,omitempty"`
	// Files are the data files the config names (DataFiles), written by
	// each node to its data directory before it activates the config.
	Files []DataFile `json:"files,omitempty"`
}

// PushOptions are a push's choices.
type PushOptions struct {
	// Fast skips the stages and the bake: every member gets the version
	// at once, each still validating it first. Audited as such.
	Fast bool
	// Canaries names the first stage's nodes instead of the hashed pick.
	Canaries []string
	// By names who pushed, for the audit trail.
	By string
	// Switches, when not nil, is a kill switch file to roll out with the
	// config (nil config: the last good one, unchanged).
	Switches []byte
	// Files are the data files the config names (DataFiles); they ride
	// with it and are checked by each node's gate with it.
	Files []DataFile
}

// casPlanScript replaces the plan only if it is still the one read, so a
// push, an operator's command and the driver never overwrite each other.
var casPlanScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == false then cur = '' end
if cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[3] ~= '' then
  redis.call('LPUSH', KEYS[2], ARGV[3])
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[4]) - 1)
end
return 1
`)

// leaseScript takes or renews the driver lease for ARGV[1].
var leaseScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if cur == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`)

// liveScript returns the members whose heartbeat has not expired, and the
// store's clock in ms.
var liveScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
table.insert(live, 1, tostring(now))
return live
`)

// live returns the live members and the store's clock (ms).
func live(st *store) ([]string, int64, error) {
	var res []string
	err := st.do(func(ctx context.Context, rdb redis.UniversalClient) error {
		v, err := liveScript.Run(ctx, rdb, []string{keyMembers}).StringSlice()
		res = v
		return err
	})
	if err != nil || len(res) == 0 {
		return nil, 0, err
	}
	now, _ := strconv.ParseInt(res[0], 10, 64)
	return res[1:], now, nil
}

// readPlan returns the current plan and its raw text ("" and a zero plan
// before the first push).
func readPlan(st *store) (Plan, string, error) {
	var raw string
	err := st.do(func(ctx context.Context, rdb redis.UniversalClient) error {
		v, err := rdb.Get(ctx, keyRollout).Result()
		raw = v
		return err
	})
	if err != nil || raw == "" {
		return Plan{}, "", err
	}
	var p Plan
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return Plan{}, raw, fmt.Errorf("cluster: unreadable rollout plan in the store: %v", err)
	}
	return p, raw, nil
}

// casPlan writes p if the plan is still old, and puts archive (the
// superseded plan with its outcome; nil: none) in the history.
func casPlan(st *store, old string, p Plan, archive *Plan) (bool, error) {
	b, _ := json.Marshal(p)
	arch := ""
	if archive != nil {
		a, _ := json.Marshal(archive)
		arch = string(a)
	}
	var ok int64
	err := st.do(func(ctx context.Context, rdb redis.UniversalClient) error {
		v, err := casPlanScript.Run(ctx, rdb, []string{keyRollout, keyRolloutHist}, old, string(b), arch, KeptHistory).Int64()
		ok = v
		return err
	})
	return ok == 1, err
}

// newVersion numbers and stores a version: ver's config (Source, or Base
// for the nodes' own) and switches.
func newVersion(st *store, ver Version) (int64, error) {
	var v int64
	err := st.do(func(ctx context.Context, rdb redis.UniversalClient) error {
		n, err := rdb.Incr(ctx, keyConfigSeq).Result()
		v = n
		return err
	})
	if err != nil {
		return 0, err
	}
	ver.Version = v
	b, _ := json.Marshal(ver)
	err = st.do(func(ctx context.Context, rdb redis.UniversalClient) error {
		return rdb.Set(ctx, keyConfigPrefix+strconv.FormatInt(v, 10), b, 0).Err()
	})
	return v, err
}

// getVersion reads a stored version; 0 is the nodes' own config.
func getVersion(st *store, v int64) (Version, error) {
	if v == 0 {
		return Version{Base: true, SHA: shortSHA(nil)}, nil
	}
	var raw string
	err := st.do(func(ctx context.Context, rdb redis.UniversalClient) error {
		s, err := rdb.Get(ctx, keyConfigPrefix+strconv.FormatInt(v, 10)).Result()
		raw = s
		return err
	})
	if err != nil {
		return Version{}, err
	}
	if raw == "" {
		return Version{}, fmt.Errorf("cluster: config version %d is no longer in the store", v)
	}
	var ver Version
	err = json.Unmarshal([]byte(raw), &ver)
	return ver, err
}

// dropOldVersions keeps the last KeptVersions, and always the plan's own.
func dropOldVersions(st *store, p Plan) {
	old := p.Version - KeptVersions
	if old <= 0 || old == p.Previous {
		return
	}
	_ = st.do(func(ctx context.Context, rdb redis.UniversalClient) error {
		return rdb.Del(ctx, keyConfigPrefix+strconv.FormatInt(old, 10)).Err()
	})
}

// audit records an operator's action on the store, bounded.
func audit(st *store, action string, p Plan, by, detail string) {
	_ = st.do(func(ctx context.Context, rdb redis.UniversalClient) error {
		return rdb.XAdd(ctx, &redis.XAddArgs{Stream: keyConfigAudit, MaxLen: KeptAudit, Approx: true,
			Values: map[string]any{"action": action, "version": p.Version, "by": by, "detail": detail}}).Err()
	})
}

// takeLease takes or renews the driver lease for node.
func takeLease(st *store, node string, ttl time.Duration) (bool, error) {
	var ok int64
	err := st.do(func(ctx context.Context, rdb redis.UniversalClient) error {
		v, err := leaseScript.Run(ctx, rdb, []string{keyRolloutLease}, node, ttl.Milliseconds()).Int64()
		ok = v
		return err
	})
	return ok == 1, err
}

func writeReport(st *store, r Report) error {
	b, _ := json.Marshal(r)
	return st.do(func(ctx context.Context, rdb redis.UniversalClient) error {
		return rdb.HSet(ctx, keyRolloutReport, r.Node, b).Err()
	})
}

// readReports returns every node's last report; reports older than
// reportRetention (nodes long gone) are dropped from the store.
func readReports(st *store, nowMS int64) (map[string]Report, error) {
	var raw map[string]string
	err := st.do(func(ctx context.Context, rdb redis.UniversalClient) error {
		m, err := rdb.HGetAll(ctx, keyRolloutReport).Result()
		raw = m
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]Report, len(raw))
	var stale []string
	for n, s := range raw {
		var r Report
		if json.Unmarshal([]byte(s), &r) != nil || (r.AtMS > 0 && nowMS-r.AtMS > reportRetention.Milliseconds()) {
			stale = append(stale, n)
			continue
		}
		r.Node = n
		out[n] = r
	}
	if len(stale) > 0 {
		_ = st.do(func(ctx context.Context, rdb redis.UniversalClient) error {
			return rdb.HDel(ctx, keyRolloutReport, stale...).Err()
		})
	}
	return out, nil
}

// push stores src as a new version and writes its plan. src must have
// been validated by the caller (the CLI and the admin API do); each node
// validates it again before activating it.
func push(st *store, src []byte, o PushOptions, cfg RolloutConfig) (Plan, error) {
	if len(src) > MaxPushBytes {
		return Plan{}, fmt.Errorf("config is %d bytes, over the push limit of %d", len(src), MaxPushBytes)
	}
	members, nowMS, err := live(st)
	if err != nil {
		return Plan{}, storeErr(err)
	}
	cur, raw, err := readPlan(st)
	if err != nil {
		return Plan{}, storeErr(err)
	}
	if (cur.State == StateRolling || cur.State == StatePaused) && !o.Fast {
		return Plan{}, fmt.Errorf("%w: version %d is %s at stage %d; wait for it, `levee cluster rollback`, or push with --fast",
			ErrRolloutInProgress, cur.Version, cur.State, cur.Stage)
	}
	for _, c := range o.Canaries {
		if !contains(members, c) {
			return Plan{}, fmt.Errorf("canary %q is not a live member (members: %v)", c, members)
		}
	}
	ver, err := pushedVersion(st, cur, src, o)
	if err != nil {
		return Plan{}, err
	}
	ver.By, ver.AtMS = o.By, nowMS
	v, err := newVersion(st, ver)
	if err != nil {
		return Plan{}, storeErr(err)
	}
	p := newPlan(v, cur.lastGood(), members, o.Canaries, cfg, o.Fast, o.By, nowMS)
	var archive *Plan
	if raw != "" {
		if cur.State == StateRolling || cur.State == StatePaused {
			// A fast push over a rollout in progress supersedes it.
			cur.State, cur.RolledBackBy, cur.Reason = StateRolledBack, v, "superseded by fast push of version "+strconv.FormatInt(v, 10)
		}
		archive = &cur
	}
	ok, err := casPlan(st, raw, p, archive)
	if err != nil {
		return Plan{}, storeErr(err)
	}
	if !ok {
		return Plan{}, errors.New("the rollout changed while pushing (another push or command at the same time); nothing was rolled out, push again")
	}
	action := "push"
	if o.Fast {
		action = "push --fast"
	}
	detail := "config sha " + ver.SHA
	if ver.HasSwitches {
		detail += ", kill switches sha " + shortSHA([]byte(ver.Switches))
	}
	audit(st, action, p, o.By, detail)
	dropOldVersions(st, p)
	return p, nil
}

// pushedVersion is what a push stores: src, or with only switches pushed
// the last good config again.
func pushedVersion(st *store, cur Plan, src []byte, o PushOptions) (Version, error) {
	if len(o.Switches) > modswitchMaxBytes {
		return Version{}, fmt.Errorf("kill switch file over the limit of %d bytes", modswitchMaxBytes)
	}
	if err := checkSwitches(o.Switches); err != nil {
		return Version{}, err
	}
	if err := checkDataFiles(o.Files); err != nil {
		return Version{}, err
	}
	ver := Version{Source: string(src), Base: src == nil, SHA: shortSHA(src), Switches: string(o.Switches), HasSwitches: o.Switches != nil,
		Files: o.Files}
	if src == nil && o.Switches == nil {
		return Version{}, errors.New("nothing to push: give a config or a kill switch file")
	}
	if src == nil {
		good, err := getVersion(st, cur.lastGood())
		if err != nil {
			return Version{}, storeErr(err)
		}
		ver.Source, ver.Base, ver.SHA, ver.Files = good.Source, good.Base, good.SHA, good.Files
	}
	return ver, nil
}

// rollback replaces the plan read as raw with one that brings the last
// good version back everywhere, under a new number.
func rollback(st *store, bad Plan, raw, reason, by string) (Plan, error) {
	good, err := getVersion(st, bad.Previous)
	if err != nil {
		return Plan{}, err
	}
	_, nowMS, err := live(st)
	if err != nil {
		return Plan{}, err
	}
	if badVer, err := getVersion(st, bad.Version); err == nil && badVer.HasSwitches && !good.HasSwitches {
		// The bad version set kill switches the good one never named:
		// the good state is none set.
		good.Switches, good.HasSwitches = "", true
	}
	good.By, good.AtMS = by, nowMS
	w, err := newVersion(st, good)
	if err != nil {
		return Plan{}, err
	}
	p := rollbackPlan(bad, w, reason, by, nowMS)
	// The superseded plan goes to the history with its outcome.
	bad.State, bad.Reason, bad.RolledBackBy = StateRolledBack, reason, w
	ok, err := casPlan(st, raw, p, &bad)
	if err != nil {
		return Plan{}, err
	}
	if !ok {
		return Plan{}, errChanged
	}
	audit(st, "rollback", p, by, reason)
	dropOldVersions(st, p)
	return p, nil
}

// errChanged is a lost race with the driver or another command: the plan
// changed between reading and writing it.
var errChanged = errors.New("the rollout changed meanwhile; look at `levee cluster status` and try again")

// control is an operator's pause, resume or rollback of the current plan;
// a lost race with the driver (which writes the plan as stages advance)
// is tried again, a bounded number of times.
func control(st *store, action, by string) (Plan, error) {
	for try := 0; ; try++ {
		p, err := controlOnce(st, action, by)
		if !errors.Is(err, errChanged) || try == 4 {
			return p, err
		}
	}
}

func controlOnce(st *store, action, by string) (Plan, error) {
	cur, raw, err := readPlan(st)
	if err != nil {
		return Plan{}, storeErr(err)
	}
	if raw == "" {
		return Plan{}, errors.New("nothing was ever pushed to this cluster")
	}
	next := cur
	switch action {
	case "pause":
		if cur.State != StateRolling {
			return cur, fmt.Errorf("version %d is %s, not rolling: nothing to pause", cur.Version, cur.State)
		}
		next.State, next.Reason = StatePaused, "paused by "+by
	case "resume":
		if cur.State != StatePaused {
			return cur, fmt.Errorf("version %d is %s, not paused: nothing to resume", cur.Version, cur.State)
		}
		// The stage bakes again in full: the pause may have hidden trouble.
		next.State, next.Reason, next.BakeFromMS = StateRolling, "resumed by "+by, 0
	case "rollback":
		if cur.Kind == KindRollback && cur.State == StateDone {
			return cur, fmt.Errorf("version %d is already a rollback (of %d)", cur.Version, cur.Of)
		}
		p, err := rollback(st, cur, raw, "rolled back by "+by, by)
		if err != nil && !errors.Is(err, errChanged) {
			return Plan{}, storeErr(err)
		}
		return p, err
	default:
		return Plan{}, fmt.Errorf("unknown rollout action %q (want pause, resume or rollback)", action)
	}
	ok, err := casPlan(st, raw, next, nil)
	if err != nil {
		return Plan{}, storeErr(err)
	}
	if !ok {
		return Plan{}, errChanged
	}
	audit(st, action, next, by, "")
	return next, nil
}

// storeErr says in the user's words that the store did not answer and
// that nothing changed.
func storeErr(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("cannot reach the cluster store: %v; nothing was changed", err)
}

func shortSHA(src []byte) string {
	if src == nil {
		return "own"
	}
	sum := sha256.Sum256(src)
	return hex.EncodeToString(sum[:6])
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// Operator returns who runs this command, for the audit trail.
func Operator() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	h, _ := os.Hostname()
	return name + "@" + h
}

// withStore opens a store for one command (a CLI push or control) with a
// timeout fit for a person waiting, not for a request path.
func withStore(cfg *Config, f func(st *store) (Plan, error)) (Plan, error) {
	c := *cfg
	c.SetDefaults()
	if c.Timeout.D() < time.Second {
		c.Timeout = schema.Duration(2 * time.Second)
	}
	st, err := newStore(&c)
	if err != nil {
		return Plan{}, err
	}
	defer st.close()
	return f(st)
}

// Push stores src as a new config version of the cluster cfg points at and
// starts its rollout with cfg.Rollout's stages. The caller validates src.
func Push(cfg *Config, src []byte, o PushOptions) (Plan, error) {
	return withStore(cfg, func(st *store) (Plan, error) { return push(st, src, o, withRolloutDefaults(cfg.Rollout)) })
}

// Control pauses, resumes or rolls back the cluster's rollout.
func Control(cfg *Config, action, by string) (Plan, error) {
	return withStore(cfg, func(st *store) (Plan, error) { return control(st, action, by) })
}

func withRolloutDefaults(r RolloutConfig) RolloutConfig {
	r.SetDefaults()
	return r
}
